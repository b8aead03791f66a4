"""Saved client state: a versioned, checked (or sealed) encoding, never pickle.

A client's state can be saved between any two messages and restored in another
process. **A saved state holds the client's secrets** (private keys, its self-mask
seed, the shares it holds for its neighbours, its input): whoever reads it can unmask
that client. Store it where only the client can read it, or pass ``key`` (32 bytes) to
seal it with AES-256-GCM.

Layout::

    magic "SS" | version u8 | party kind u8 | sealed u8 | config digest (32) | client u32
    | lineage (16) | step u32 | body ...

``body`` is the party's stage record; unsealed it is followed by SHA-256 over
everything before (a check against truncation and accidents, not against an attacker);
sealed it is ``nonce || AES-GCM(body) || tag`` with the header as associated data.
``lineage`` is random per client and ``step`` is how far it has got (its stage's place
in the stage order). A :class:`RestoreGuard` bound to a client records every step the
client takes as it takes it (before its reply leaves): restoring a copy behind that
step is refused, and of two copies restored from one saved state only the first to
take the next step may take it. So one saved state can never be driven two ways (for
instance to answer two different unmasking requests, which could reveal both secrets
of a neighbour). Persist the guard (:meth:`RestoreGuard.to_bytes`)
before a reply is sent when the client runs in fresh processes.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass

from secagg.codec import Fields, FieldWriter
from secagg.errors import (
    AuthenticationError,
    ConfigurationError,
    DecodeError,
    StateIntegrityError,
    StateMismatchError,
    StateRollbackError,
    StateVersionError,
)
from secagg.primitives.aead import open_sealed, seal
from secagg.primitives.entropy import Entropy, system_entropy

STATE_MAGIC = b"SS"
STATE_VERSION = 2  # 2: a client may be saved before it has its input
LINEAGE_BYTES = 16
STORAGE_KEY_BYTES = 32
_HEADER = struct.Struct(">2sBBB32sI16sI")
_DIGEST_BYTES = 32


class PartyKind(enum.IntEnum):
    """Which party a saved state belongs to (the wire code is the value)."""

    MASKING_CLIENT = 1
    PAILLIER_CLIENT = 2
    PLAIN_CLIENT = 3
    PAILLIER_KEY_HOLDER = 4


@dataclass(frozen=True)
class StateHeader:
    """Who a saved state belongs to and how far it got."""

    kind: PartyKind
    config_digest: bytes
    client: int
    lineage: bytes
    step: int


def new_lineage(entropy: Entropy) -> bytes:
    """A fresh random lineage id for a new client."""
    return entropy(LINEAGE_BYTES)


def _check_key(key: object) -> None:
    if key is not None and (not isinstance(key, bytes) or len(key) != STORAGE_KEY_BYTES):
        raise ConfigurationError(f"a state storage key is {STORAGE_KEY_BYTES} bytes, or None")


def encode_state(header: StateHeader, body: bytes, *, key: bytes | None = None) -> bytes:
    """Frame ``body`` under ``header``: sealed with ``key`` when given, else checksummed.

    The seal's nonce comes from ``os.urandom``, never from the party's entropy source,
    so saving a party does not change what it draws next (a run with seeded entropy
    stays the same whether or not it is saved and restored along the way).
    """
    _check_key(key)
    head = _HEADER.pack(
        STATE_MAGIC,
        STATE_VERSION,
        header.kind,
        key is not None,
        header.config_digest,
        header.client,
        header.lineage,
        header.step,
    )
    if key is not None:
        return head + seal(key, body, head, system_entropy)
    return head + body + hashlib.sha256(head + body).digest()


def decode_state(
    data: bytes,
    *,
    kind: PartyKind,
    config_digest: bytes,
    client: int | None = None,
    key: bytes | None = None,
) -> tuple[StateHeader, Fields]:
    """Check a saved state and return its header and a reader over its body.

    Raises StateVersionError (another format version), StateIntegrityError (truncated,
    altered, sealed under another key, or sealed/unsealed unlike ``key`` says),
    StateMismatchError (another party kind, configuration or, when ``client`` is given,
    another client). The caller parses the body, then binds the restored party to its
    guard (which raises StateRollbackError for a step the guard has seen).
    """
    _check_key(key)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise StateIntegrityError("a saved state is bytes")
    data = bytes(data)
    if len(data) < _HEADER.size or data[:2] != STATE_MAGIC:
        raise StateIntegrityError("not a saved secagg state")
    _, version, code, sealed, digest, saved_client, lineage, step = _HEADER.unpack_from(data)
    if version != STATE_VERSION:
        raise StateVersionError(f"saved state version {version}, this secagg reads {STATE_VERSION}")
    head, rest = data[: _HEADER.size], data[_HEADER.size :]
    if sealed not in (0, 1) or bool(sealed) != (key is not None):
        raise StateIntegrityError(
            "the state is sealed: a storage key is needed"
            if sealed
            else "a storage key was given but the state is not sealed"
        )
    if key is not None:
        try:
            body = open_sealed(key, rest, head)
        except AuthenticationError as exc:
            raise StateIntegrityError("saved state altered or sealed under another key") from exc
    else:
        body, check = rest[:-_DIGEST_BYTES], rest[-_DIGEST_BYTES:]
        if len(rest) < _DIGEST_BYTES or hashlib.sha256(head + body).digest() != check:
            raise StateIntegrityError("saved state truncated or altered (checksum mismatch)")
    if code != kind:
        raise StateMismatchError(f"saved state of party kind {code}, expected {kind.name}")
    if digest != config_digest:
        raise StateMismatchError("saved state belongs to another configuration or round")
    if client is not None and client != saved_client:
        raise StateMismatchError(f"saved state of client {saved_client}, not {client}")
    return StateHeader(kind, digest, saved_client, lineage, step), Fields(body)


def body_error(exc: DecodeError) -> StateIntegrityError:
    """A body that passed its check but does not parse: a writer bug or a forged checksum."""
    return StateIntegrityError(f"saved state body malformed: {exc}")


class RestoreGuard:
    """Remembers, per client lineage, the furthest step taken: refuses to restore a copy
    behind it, and refuses a second copy taking a step already taken.

    Give the same guard to a client when it is made and whenever it is restored; keep
    one per client device for as long as a round lasts, and persist it with
    :meth:`to_bytes` (before each reply is sent) when the client runs in fresh
    processes.
    """

    def __init__(self) -> None:
        self._last: dict[bytes, int] = {}

    def claim(self, lineage: bytes, step: int, *, taking: bool = True) -> None:
        """Record that the client of ``lineage`` is at ``step``.

        ``taking``: the client takes that step now (about to send its reply), which must
        be further than any step recorded: a second copy of the client taking the same
        step is a fork. Otherwise a copy is being restored at ``step``, which must not be
        behind a step recorded (a hand-off at the same step is fine: only one copy can
        take the next). Raises StateRollbackError.
        """
        last = self._last.get(lineage)
        if last is not None and (step <= last if taking else step < last):
            raise StateRollbackError(
                f"client state at step {step}, after step {last} of the same client was "
                "taken: a saved copy cannot go back, nor take a step twice"
            )
        self._last[lineage] = max(step, last if last is not None else step)

    def to_bytes(self) -> bytes:
        w = FieldWriter().u32(len(self._last))
        for lineage in sorted(self._last):
            w.fixed(lineage).u32(self._last[lineage])
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> RestoreGuard:
        """Raises StateIntegrityError for malformed bytes."""
        if not isinstance(data, bytes):
            raise StateIntegrityError("a restore guard is bytes")
        guard = cls()
        try:
            r = Fields(data)
            for _ in range(r.count(len(data) // (LINEAGE_BYTES + 4))):
                lineage = r.fixed(LINEAGE_BYTES)
                guard._last[lineage] = r.u32()
            r.done()
        except DecodeError as exc:
            raise StateIntegrityError(f"restore guard malformed: {exc}") from exc
        return guard


def require_guard(malicious: bool, guard: RestoreGuard | None) -> None:
    """The malicious mode restores a client only with its guard: without one, a saved
    copy could sign a second survivor set or decrypt a second aggregate, and two
    answers of one stage can together reveal an input. Raises ConfigurationError."""
    if malicious and not isinstance(guard, RestoreGuard):
        raise ConfigurationError(
            "the malicious mode restores a client only with its RestoreGuard (guard=...)"
        )
