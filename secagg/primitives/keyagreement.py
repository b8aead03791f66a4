"""X25519 key agreement and HKDF-SHA256 key derivation.

Security property: two parties holding X25519 key pairs derive the same 256-bit key,
indistinguishable from random to anyone without one of the private keys. Every
derived key binds a :class:`Label` (one per use, so a share-encryption key is never
also a mask seed) and the session id (so keys never repeat across rounds).

That holds only for a peer key of large order. :func:`check_public_key` refuses every
small-order key (whatever its encoding), whose shared secret takes one of a few values
known to everyone; :func:`same_key` compares keys as X25519 reads them, so a copy of
another client's key cannot hide behind a different encoding; :func:`check_public_keys`
does both for a whole key list at once.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secagg.errors import KeyAgreementError, WeakKeyError
from secagg.primitives.entropy import Entropy, system_entropy

PUBLIC_KEY_BYTES = 32
PRIVATE_KEY_BYTES = 32

CURVE25519_P = (1 << 255) - 19
# u-coordinates (mod p) of the points of order 1, 2, 4 and 8 on Curve25519 and its
# twist: 0 (the identity and the point of order 2), 1 (order 4), p - 1 (order 4 on the
# twist) and the two of order 8. A peer key at one of them makes the X25519 output one
# of a few public values (all zero for the scalars RFC 7748 clamps).
#: The u-coordinates of X25519's low-order points, refused as public keys.
LOW_ORDER_U = frozenset(
    {
        0,
        1,
        CURVE25519_P - 1,
        325606250916557431795983626356110631294008115727848805560023387167927233504,
        39382357235489614581723060781553021112529911719440698176882885853963445705823,
    }
)


class Label(bytes, enum.Enum):
    """HKDF ``info`` prefixes: one per use of a derived key."""

    SHARE_ENCRYPTION = b"secagg/v1/share-encryption"
    PAIRWISE_MASK = b"secagg/v1/pairwise-mask"
    SELF_MASK = b"secagg/v1/self-mask"
    ROUNDING = b"secagg/v1/stochastic-rounding"


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair; ``private`` is 32 raw bytes (it is what gets Shamir-shared).

    Build one with :meth:`generate` or :meth:`from_private`; the parsed private key is
    kept so that agreeing with many peers parses it once.
    """

    private: bytes
    public: bytes
    _key: X25519PrivateKey = field(repr=False, compare=False)

    @classmethod
    def generate(cls, entropy: Entropy = system_entropy) -> KeyPair:
        """Make a key pair from 32 bytes of ``entropy``."""
        private = entropy(PRIVATE_KEY_BYTES)
        return cls.from_private(private)

    @classmethod
    def from_private(cls, private: bytes) -> KeyPair:
        """Rebuild a key pair from its 32-byte private key. Raises KeyAgreementError."""
        if not isinstance(private, bytes) or len(private) != PRIVATE_KEY_BYTES:
            raise KeyAgreementError("an X25519 private key is 32 bytes")
        key = X25519PrivateKey.from_private_bytes(private)
        return cls(private, key.public_key().public_bytes_raw(), key)

    def agree(self, peer_public: bytes) -> bytes:
        """The raw 32-byte X25519 shared secret with ``peer_public``; see :func:`agree`."""
        return _exchange(self._key, peer_public)

    def __repr__(self) -> str:  # never print the private key
        return f"KeyPair(public={self.public.hex()})"


def agree(private: bytes, peer_public: bytes) -> bytes:
    """Return the raw 32-byte X25519 shared secret.

    Raises KeyAgreementError if either key has the wrong length or the shared secret is
    all zeros (a low-order peer key, which would make the "secret" public).
    """
    if not isinstance(private, bytes) or len(private) != PRIVATE_KEY_BYTES:
        raise KeyAgreementError("X25519 keys must be 32 bytes each")
    return _exchange(X25519PrivateKey.from_private_bytes(private), peer_public)


def _exchange(key: X25519PrivateKey, peer_public: bytes) -> bytes:
    if not isinstance(peer_public, bytes) or len(peer_public) != PUBLIC_KEY_BYTES:
        raise KeyAgreementError("X25519 keys must be 32 bytes each")
    try:
        shared = key.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError as exc:  # cryptography refuses the all-zero output
        raise KeyAgreementError("X25519 peer key gives an all-zero shared secret") from exc
    if shared == bytes(len(shared)):
        raise KeyAgreementError("X25519 peer key gives an all-zero shared secret")
    return shared


def _canonical_u(public: bytes) -> int:
    if not isinstance(public, bytes) or len(public) != PUBLIC_KEY_BYTES:
        raise WeakKeyError("an X25519 public key is 32 bytes")
    # RFC 7748 decodeUCoordinate: little-endian, bit 255 masked; then reduce mod p
    # (the ladder does, so u and u + p are the same key).
    return (int.from_bytes(public, "little") & ((1 << 255) - 1)) % CURVE25519_P


def check_public_key(public: bytes) -> int:
    """Check a peer's X25519 public key; return its canonical u-coordinate.

    The u-coordinate is read as X25519 reads it: little-endian with bit 255 ignored,
    then reduced mod p = 2^255 - 19.

    Raises WeakKeyError if the key is not 32 bytes or is a small-order point in any
    encoding (u mod p in :data:`LOW_ORDER_U`, including p, p + 1 and keys with bit 255
    set). Security property: a key that passes is not of small order: its order, on the
    curve or on its twist, is divisible by a prime above 2^252, so the shared secret
    with it is not one of the few values anyone can compute without a private key. It
    does not tell whether the key is on the curve or the twist (X25519 accepts both).
    """
    u = _canonical_u(public)
    if u in LOW_ORDER_U:
        raise WeakKeyError("X25519 public key is a small-order point: the shared secret is public")
    return u


def same_key(a: bytes, b: bytes) -> bool:
    """Whether ``a`` and ``b`` are the same X25519 public key (equal canonical u).

    Byte comparison misses copies: the encodings differing in bit 255, or u and u + p,
    agree to the same secrets with everyone. Raises WeakKeyError if either is not 32
    bytes. Public keys are public: the comparison need not be constant-time.
    """
    return _canonical_u(a) == _canonical_u(b)


def _check_key_bytes(keys: Sequence[bytes]) -> None:
    if set(map(type, keys)) - {bytes} or set(map(len, keys)) - {PUBLIC_KEY_BYTES}:
        raise WeakKeyError("an X25519 public key is 32 bytes")


def _canonical_rows(keys: Sequence[bytes]) -> np.ndarray:
    """The keys' canonical u-coordinates as little-endian rows of 32 bytes."""
    _check_key_bytes(keys)
    rows = np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(len(keys), PUBLIC_KEY_BYTES)
    rows = rows.copy()
    rows[:, -1] &= 0x7F  # bit 255 is ignored
    # u >= p happens only for 2^255 - 19 <= u < 2^255: top bytes 0x7f ff .. ff, low >= 0xed.
    wrapped = (rows[:, -1] == 0x7F) & (rows[:, 1:-1] == 0xFF).all(axis=1) & (rows[:, 0] >= 0xED)
    for i in np.flatnonzero(wrapped):
        u = int.from_bytes(rows[i].tobytes(), "little") - CURVE25519_P
        rows[i] = np.frombuffer(u.to_bytes(PUBLIC_KEY_BYTES, "little"), dtype=np.uint8)
    return rows


_LOW_ORDER_ROWS = np.array(
    [list(u.to_bytes(PUBLIC_KEY_BYTES, "little")) for u in sorted(LOW_ORDER_U)], dtype=np.uint8
)


_WEAK = "is a small-order point: the shared secret is public"
_REPEAT = "repeats an earlier key"
# Up to this many keys (a SecAgg+ neighbour list), Python ints beat numpy's per-call cost.
_SMALL_LIST = 256


def refused_public_key(keys: Sequence[bytes]) -> tuple[int, str] | None:
    """The position of the first key of a list :func:`check_public_keys` refuses, and
    why; None if it refuses none. Raises WeakKeyError for a key that is not 32 bytes."""
    if len(keys) <= _SMALL_LIST:
        return _refused_few(keys)
    return _refused_many(keys)


def _refused_few(keys: Sequence[bytes]) -> tuple[int, str] | None:
    """:func:`refused_public_key` one key at a time."""
    _check_key_bytes(keys)
    us = [_canonical_u(key) for key in keys]
    for position, u in enumerate(us):
        if u in LOW_ORDER_U:
            return position, _WEAK
    seen: set[int] = set()
    for position, u in enumerate(us):
        if u in seen:
            return position, _REPEAT
        seen.add(u)
    return None


def _refused_many(keys: Sequence[bytes]) -> tuple[int, str] | None:
    """:func:`refused_public_key` vectorized (a complete graph's list of the cohort)."""
    if not keys:
        return None
    rows = _canonical_rows(keys)
    weak = (rows[:, None, :] == _LOW_ORDER_ROWS[None, :, :]).all(axis=2).any(axis=1)
    if weak.any():
        return int(np.argmax(weak)), _WEAK
    values = rows.view(np.dtype((np.void, PUBLIC_KEY_BYTES))).ravel()
    order = np.argsort(values, kind="stable")
    repeats = np.flatnonzero(values[order][1:] == values[order][:-1])
    if repeats.size:
        return min(int(order[j + 1]) for j in repeats), _REPEAT
    return None


def check_public_keys(keys: Sequence[bytes]) -> None:
    """:func:`check_public_key` for every key of a list, and no two the same X25519 key.

    Vectorized (a client checks a key list of the whole cohort every round). Raises
    WeakKeyError naming the position of the first low-order key, or of the later of
    two equal keys (compared by canonical u-coordinate, as :func:`same_key` does).
    """
    refused = refused_public_key(keys)
    if refused is not None:
        position, reason = refused
        raise WeakKeyError(f"key {position} of the list {reason}")


def hkdf_sha256(ikm: bytes, *, salt: bytes | None, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF with SHA-256: ``length`` bytes (at most 255 * 32) from ``ikm``."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def derive_key(shared: bytes, *, label: Label, session_id: bytes, length: int = 32) -> bytes:
    """Derive a ``length``-byte key for one use (``label``) in one session.

    ``info`` is the label followed by the session id, so keys for different uses or
    sessions are independent even from the same shared secret.
    """
    return hkdf_sha256(shared, salt=None, info=label.value + session_id, length=length)
