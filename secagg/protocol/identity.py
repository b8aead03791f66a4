"""Who may take part, and how a party checks who signed what: the security mode, the
roster of identity keys and the verifier interface.

The malicious-server mode (``Security.MALICIOUS``) makes the PKI assumption of
Bonawitz et al. (CCS 2017) explicit: every party is given, at setup, the cohort's
public identity keys (a :class:`Roster`), or a :class:`CallbackVerifier` wrapping the
deployment's own PKI. The configuration carries the verifier's digest, so parties
holding different rosters never complete a round together.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, runtime_checkable

from secagg.errors import ConfigurationError, SignatureError
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.signatures import IDENTITY_KEY_BYTES, IdentityKey, verify_signature

DIGEST_BYTES = 32
MODEL_DIGEST_BYTES = 32
NO_MODEL = bytes(MODEL_DIGEST_BYTES)  # honest mode: no model is bound


class Security(str, enum.Enum):
    """What the server is trusted to do.

    HONEST: it follows the protocol and is only curious (the default).
    MALICIOUS: it may deviate (send clients different key lists, survivor lists, models
    or keys); identity keys, signatures, a consistency round and model binding make
    every such deviation abort the round instead of revealing an input.
    """

    HONEST = "honest"
    MALICIOUS = "malicious"


@runtime_checkable
class Verifier(Protocol):
    """Checks that ``client`` signed ``message``; raises SignatureError otherwise."""

    @property
    def digest(self) -> bytes:
        """32 bytes that identify this verifier (bound into each round's configuration)."""
        ...

    def verify(self, client: int, message: bytes, signature: bytes) -> None: ...


class Roster:
    """The cohort's Ed25519 identity public keys, by client id, and the ring seed.

    ``ring_seed`` (32 bytes) orders the SecAgg+ ring of the malicious mode. Whoever
    issues the roster draws it at random *after* every identity key is enrolled (so no
    client can grind its key to move the ring) and publishes it with the keys; the
    digest commits to both. Raises ConfigurationError for a malformed entry, a key
    listed twice or a seed that is not 32 bytes.
    """

    def __init__(self, keys: Mapping[int, bytes], ring_seed: bytes) -> None:
        if not isinstance(ring_seed, bytes) or len(ring_seed) != DIGEST_BYTES:
            raise ConfigurationError("the roster's ring seed is 32 bytes")
        entries: dict[int, bytes] = {}
        for cid, key in keys.items():
            if isinstance(cid, bool) or not isinstance(cid, int) or not 1 <= cid < 2**32:
                raise ConfigurationError(f"roster id {cid!r} is not a client id")
            if not isinstance(key, bytes) or len(key) != IDENTITY_KEY_BYTES:
                raise ConfigurationError(f"roster key of client {cid} is not 32 bytes")
            entries[cid] = key
        if len(set(entries.values())) != len(entries):
            raise ConfigurationError("two clients share an identity key in the roster")
        self._keys = entries
        self.ring_seed = ring_seed
        h = hashlib.sha256(b"secagg/v2/roster" + ring_seed)
        for cid in sorted(entries):
            h.update(struct.pack(">I", cid) + entries[cid])
        self._digest = h.digest()

    @property
    def digest(self) -> bytes:
        return self._digest

    def __contains__(self, client: object) -> bool:
        return client in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def public_key(self, client: int) -> bytes:
        if client not in self._keys:
            raise SignatureError(f"client {client} is not in the roster")
        return self._keys[client]

    def verify(self, client: int, message: bytes, signature: bytes) -> None:
        verify_signature(self.public_key(client), signature, message)


class CallbackVerifier:
    """A deployment's own PKI: ``check(client, message, signature)`` must raise (any
    exception, turned into SignatureError) unless ``client`` signed ``message``.
    ``identifier`` (32 bytes) names that PKI in the round's configuration, and also
    orders the SecAgg+ ring of the malicious mode: it must commit to a random value
    the PKI drew after every client enrolled (see :class:`Roster`'s ring seed)."""

    def __init__(self, check: Callable[[int, bytes, bytes], None], identifier: bytes) -> None:
        if not isinstance(identifier, bytes) or len(identifier) != DIGEST_BYTES:
            raise ConfigurationError("a verifier identifier is 32 bytes")
        self._check = check
        self._digest = hashlib.sha256(b"secagg/v1/callback-verifier" + identifier).digest()

    @property
    def digest(self) -> bytes:
        return self._digest

    def verify(self, client: int, message: bytes, signature: bytes) -> None:
        try:
            self._check(client, message, signature)
        except SignatureError:
            raise
        except Exception as exc:
            raise SignatureError(f"the PKI refused client {client}'s signature: {exc}") from exc


def check_verifier(verifier: object, digest: bytes, cohort: int | None = None) -> Verifier:
    """The party's verifier, which must match the configuration's roster digest and,
    when it is a :class:`Roster` and ``cohort`` is given, list exactly that many
    clients (the malicious SecAgg+ ring spans the whole roster)."""
    if not isinstance(verifier, Verifier):
        raise ConfigurationError("the malicious mode needs a roster (a Verifier)")
    if verifier.digest != digest:
        raise ConfigurationError("the roster does not match the round's configuration")
    if cohort is not None and isinstance(verifier, Roster) and len(verifier) != cohort:
        raise ConfigurationError(
            f"the roster lists {len(verifier)} clients, the round {cohort}: a malicious "
            "masking round runs the whole roster"
        )
    return verifier


def check_model_digest(value: object) -> bytes:
    """A 32-byte model digest (e.g. SHA-256 of the serialized model the client got)."""
    if not isinstance(value, bytes) or len(value) != MODEL_DIGEST_BYTES:
        raise ConfigurationError("a model digest is 32 bytes")
    return value


def generate_cohort(
    clients: Iterable[int], entropy: Entropy = system_entropy
) -> tuple[Roster, dict[int, IdentityKey]]:
    """A fresh identity key per client and the roster of their public keys (for
    simulations and tests; a deployment's clients make their own and enrol them)."""
    identities = {cid: IdentityKey.generate(entropy) for cid in clients}
    # The ring seed is drawn after every key exists, as an issuer would.
    roster = Roster({cid: key.public for cid, key in identities.items()}, entropy(DIGEST_BYTES))
    return roster, identities
