"""The masking protocol's messages, in the order they are sent, and their encoding.

Every message carries the common header of :mod:`secagg.codec` (session id, round,
sender, recipient; the server is party 0). ``decode`` takes the round's
:class:`MaskingConfig` so that every count, id and vector length is checked against it
before anything is used; anything irregular raises :class:`DecodeError`.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from secagg import columnpack
from secagg.codec import SERVER_ID, FieldWriter, Header, MessageType, Reader, Writer, check_ids
from secagg.errors import DecodeError, EncodeError
from secagg.masking import keytree
from secagg.masking.config import MaskingConfig
from secagg.primitives.aead import NONCE_BYTES, TAG_BYTES
from secagg.primitives.keyagreement import PUBLIC_KEY_BYTES
from secagg.primitives.shamir import ELEMENT_BYTES, PRIME
from secagg.primitives.signatures import SIGNATURE_BYTES
from secagg.protocol.identity import MODEL_DIGEST_BYTES

# The sealed share plaintext: owner u32 | holder u32 | share of b_u | share of s_u^SK.
SHARE_PLAINTEXT_BYTES = 4 + 4 + 2 * ELEMENT_BYTES
SEALED_SHARE_BYTES = NONCE_BYTES + SHARE_PLAINTEXT_BYTES + TAG_BYTES
COMMITMENT_BYTES = 32
KEY_DIGEST_BYTES = keytree.HASH_BYTES  # the key tree's root
_SIGNED_KEY_ENTRY = struct.Struct(
    f">I{PUBLIC_KEY_BYTES}s{PUBLIC_KEY_BYTES}s{MODEL_DIGEST_BYTES}s{SIGNATURE_BYTES}s"
)
_SIGNATURE_ENTRY = struct.Struct(f">I{SIGNATURE_BYTES}s")  # signer id, signature
_KEY_ENTRY = struct.Struct(f">I{PUBLIC_KEY_BYTES}s{PUBLIC_KEY_BYTES}s")  # id, c^PK, s^PK
_SEALED_ENTRY = struct.Struct(f">I{SEALED_SHARE_BYTES}s")  # peer id, sealed share
_SHARE_ENTRY = struct.Struct(f">I{ELEMENT_BYTES}s")  # owner id, share value (big-endian)


def _check_client(value: int, config: MaskingConfig, what: str, sender: int | None) -> None:
    if not 1 <= value <= config.num_clients:
        raise DecodeError(f"{what} {value} is not a client id of this round", sender=sender)


def _check_id_list(
    ids: tuple[int, ...], config: MaskingConfig, what: str, sender: int | None
) -> None:
    """Every id a client of this round, strictly increasing (so no duplicates)."""
    check_ids(ids, sender)
    # Strictly increasing: the ends bound every id.
    for cid in ids[:1] + ids[-1:]:
        _check_client(cid, config, what, sender)


def _from_client(r: Reader, config: MaskingConfig) -> Header:
    """Header of a client -> server message: a client of this round, to the server."""
    h = r.header
    _check_client(h.sender, config, "sender", h.sender)
    if h.recipient != SERVER_ID:
        raise DecodeError(f"{h.type.name} goes to the server", sender=h.sender)
    return h


def _from_server(r: Reader, config: MaskingConfig) -> Header:
    """Header of a server -> client message: from the server, to a client of this round."""
    h = r.header
    if h.sender != SERVER_ID:
        raise DecodeError(f"{h.type.name} comes from the server", sender=h.sender)
    _check_client(h.recipient, config, "recipient", h.sender)
    return h


def advertise_statement(
    announce: bytes, client: int, encryption_key: bytes, masking_key: bytes, model_digest: bytes
) -> bytes:
    """What a client signs in the malicious mode: its two keys, the model it received,
    bound to the round's announce id (config, round and roster) and its id."""
    return (
        b"secagg/v1/advertise-keys"
        + announce
        + struct.pack(">I", client)
        + encryption_key
        + masking_key
        + model_digest
    )


def survivors_statement(session: bytes, survivors: tuple[int, ...]) -> bytes:
    """What a client signs in the consistency round: the survivor set it was told."""
    return (
        b"secagg/v1/consistency"
        + session
        + struct.pack(f">I{len(survivors)}I", len(survivors), *survivors)
    )


@dataclass(frozen=True)
class AdvertiseKeys:
    """Round 0, client -> server: the client's two X25519 public keys. In the malicious
    mode also the digest of the model it received and its Ed25519 signature over
    :func:`advertise_statement` (both empty in the honest mode)."""

    TYPE: ClassVar[MessageType] = MessageType.ADVERTISE_KEYS
    session_id: bytes  # the announce id: no keys are known yet
    round: int
    sender: int
    encryption_key: bytes  # c_u^PK, for sealing shares
    masking_key: bytes  # s_u^PK, for pairwise masks
    model_digest: bytes = b""
    signature: bytes = b""

    @property
    def statement(self) -> bytes:
        return advertise_statement(
            self.session_id, self.sender, self.encryption_key, self.masking_key, self.model_digest
        )

    def encode(self) -> bytes:
        if (
            len(self.encryption_key) != PUBLIC_KEY_BYTES
            or len(self.masking_key) != PUBLIC_KEY_BYTES
        ):
            raise EncodeError("public key has the wrong length")
        signed = (len(self.model_digest), len(self.signature))
        if signed not in ((0, 0), (MODEL_DIGEST_BYTES, SIGNATURE_BYTES)):
            raise EncodeError("model digest and signature are 32 and 64 bytes, or both absent")
        header = Header(self.TYPE, self.session_id, self.round, self.sender, SERVER_ID)
        w = Writer(header).fixed(self.encryption_key).fixed(self.masking_key)
        return w.fixed(self.model_digest).fixed(self.signature).getvalue()

    @classmethod
    def decode(cls, data: bytes, config: MaskingConfig) -> AdvertiseKeys:
        r = Reader(data, cls.TYPE)
        h = _from_client(r, config)
        c_pk, s_pk = r.fixed(PUBLIC_KEY_BYTES), r.fixed(PUBLIC_KEY_BYTES)
        model, signature = b"", b""
        if config.malicious:
            model, signature = r.fixed(MODEL_DIGEST_BYTES), r.fixed(SIGNATURE_BYTES)
        r.done()
        return cls(h.session_id, h.round, h.sender, c_pk, s_pk, model, signature)


@dataclass(frozen=True)
class KeyBroadcast:
    """Round 0, server -> each client: the key digest (the root of the
    :class:`~secagg.masking.keytree.KeyTree` over every advertised key, which the session
    id hashes), the (id, encryption key, masking key) of the recipient and of its ring
    neighbours that advertised, in the malicious mode each with its (model digest,
    signature) in ``attestations`` (empty in the honest mode), and ``proofs``: for the
    recipient and each ring neighbour in id order, the key tree path of its leaf
    (present or absent), so the client can check the digest against everything it was
    shown. O(k log n) bytes, not O(n). For a complete graph the list holds every key,
    the client rebuilds the tree itself and ``proofs`` is empty."""

    TYPE: ClassVar[MessageType] = MessageType.KEY_BROADCAST
    session_id: bytes  # the announce id
    round: int
    recipient: int
    key_digest: bytes  # the key tree's root
    keys: tuple[tuple[int, bytes, bytes], ...]  # sorted by id
    attestations: tuple[tuple[bytes, bytes], ...] = ()  # (model digest, signature) per key
    proofs: bytes = b""  # key tree paths, depth x 32 bytes each, in id order

    def encode(self) -> bytes:
        if len(self.key_digest) != KEY_DIGEST_BYTES:
            raise EncodeError("the key digest has the wrong length")
        w = Writer(Header(self.TYPE, self.session_id, self.round, SERVER_ID, self.recipient))
        w.fixed(self.key_digest)
        try:
            w.fixed(_key_entries(self.keys, self.attestations))
        except TypeError as exc:  # unhashable: not tuples of ints and bytes
            raise EncodeError("the key list must be tuples of (id, key, key)") from exc
        if not isinstance(self.proofs, bytes):
            raise EncodeError("the key tree paths must be bytes")
        return w.var(self.proofs).getvalue()

    @classmethod
    def decode(cls, data: bytes, config: MaskingConfig) -> KeyBroadcast:
        r = Reader(data, cls.TYPE)
        h = _from_server(r, config)
        digest = r.fixed(KEY_DIGEST_BYTES)
        layout = _SIGNED_KEY_ENTRY if config.malicious else _KEY_ENTRY
        entries = r.records(layout, config.num_clients)
        path = keytree.depth(config.num_clients) * keytree.LEVEL_BYTES
        proofs = r.var((config.neighbours + 1) * path)
        r.done()
        if (path == 0 and proofs) or (path and len(proofs) % path):
            raise DecodeError("the key tree paths are not whole paths", sender=h.sender)
        _check_id_list(tuple(k[0] for k in entries), config, "key owner", h.sender)
        keys = tuple((e[0], e[1], e[2]) for e in entries)
        attestations = tuple((e[3], e[4]) for e in entries) if config.malicious else ()
        return cls(h.session_id, h.round, h.recipient, digest, keys, attestations, proofs)


@functools.lru_cache(maxsize=2)
def _key_entries(
    keys: tuple[tuple[int, bytes, bytes], ...],
    attestations: tuple[tuple[bytes, bytes], ...],
) -> bytes:
    """The counted key entries of a KeyBroadcast. Cached: for a complete graph the
    server sends the same n entries to all n clients, and encoding them n times would
    cost O(n^2)."""
    w = FieldWriter()
    check_ids(tuple(cid for cid, _, _ in keys), encoding=True)
    # struct would silently pad or cut a key of the wrong length
    if {len(key) for entry in keys for key in entry[1:]} - {PUBLIC_KEY_BYTES}:
        raise EncodeError("public key has the wrong length")
    if not attestations:
        return w.records(_KEY_ENTRY, keys).getvalue()
    if len(attestations) != len(keys) or any(
        (len(m), len(sig)) != (MODEL_DIGEST_BYTES, SIGNATURE_BYTES) for m, sig in attestations
    ):
        raise EncodeError("one 32-byte model digest and 64-byte signature per key")
    entries = [(*k, *a) for k, a in zip(keys, attestations, strict=True)]
    return w.records(_SIGNED_KEY_ENTRY, entries).getvalue()


def _write_sealed(w: FieldWriter, items: tuple[tuple[int, bytes], ...]) -> None:
    check_ids(tuple(cid for cid, _ in items), encoding=True)
    if any(len(sealed) != SEALED_SHARE_BYTES for _, sealed in items):
        raise EncodeError("sealed share has the wrong length")
    w.records(_SEALED_ENTRY, items)


def _read_sealed(r: Reader, config: MaskingConfig, what: str) -> tuple[tuple[int, bytes], ...]:
    items = r.records(_SEALED_ENTRY, config.num_clients)
    _check_id_list(tuple(c for c, _ in items), config, what, r.header.sender)
    return tuple(items)


@dataclass(frozen=True)
class ShareKeys:
    """Round 1, client -> server: one sealed share pair per neighbour, and a commitment
    to b_u (SHA-256 of the session, the sender and b_u) that lets the server check the
    b_u it reconstructs, so a corrupt share can never silently corrupt the sum."""

    TYPE: ClassVar[MessageType] = MessageType.SHARE_KEYS
    session_id: bytes
    round: int
    sender: int
    commitment: bytes  # SHA-256 commitment to b_u (masks.self_seed_commitment)
    sealed: tuple[tuple[int, bytes], ...]  # (recipient, nonce || ciphertext || tag)

    def encode(self) -> bytes:
        if len(self.commitment) != COMMITMENT_BYTES:
            raise EncodeError("commitment has the wrong length")
        w = Writer(Header(self.TYPE, self.session_id, self.round, self.sender, SERVER_ID))
        w.fixed(self.commitment)
        _write_sealed(w, self.sealed)
        return w.getvalue()

    @classmethod
    def decode(cls, data: bytes, config: MaskingConfig) -> ShareKeys:
        r = Reader(data, cls.TYPE)
        h = _from_client(r, config)
        commitment = r.fixed(COMMITMENT_BYTES)
        sealed = _read_sealed(r, config, "share recipient")
        r.done()
        return cls(h.session_id, h.round, h.sender, commitment, sealed)


@dataclass(frozen=True)
class ForwardedShares:
    """Round 1, server -> each client: the sealed shares its neighbours addressed to it."""

    TYPE: ClassVar[MessageType] = MessageType.FORWARDED_SHARES
    session_id: bytes
    round: int
    recipient: int
    sealed: tuple[tuple[int, bytes], ...]  # (original sender, sealed share)

    def encode(self) -> bytes:
        w = Writer(Header(self.TYPE, self.session_id, self.round, SERVER_ID, self.recipient))
        _write_sealed(w, self.sealed)
        return w.getvalue()

    @classmethod
    def decode(cls, data: bytes, config: MaskingConfig) -> ForwardedShares:
        r = Reader(data, cls.TYPE)
        h = _from_server(r, config)
        sealed = _read_sealed(r, config, "share sender")
        r.done()
        return cls(h.session_id, h.round, h.recipient, sealed)


@dataclass(frozen=True, eq=False)
class MaskedInput:
    """Round 2, client -> server: y_u in Z_{2^k}^length, packed at k bits per element.

    ``payload`` is the :mod:`secagg.columnpack` form of y_u; the server adds payloads
    into its sum without unpacking them one by one. Use :meth:`pack` to build one from a
    vector and :meth:`vector` to read it back.
    """

    TYPE: ClassVar[MessageType] = MessageType.MASKED_INPUT
    session_id: bytes
    round: int
    sender: int
    bits: int  # k
    length: int  # elements of the protected vector (config.length)
    payload: bytes | memoryview

    @classmethod
    def pack(
        cls,
        session_id: bytes,
        round: int,
        sender: int,
        bits: int,
        vector: npt.NDArray[np.unsignedinteger],
    ) -> MaskedInput:
        """Raises InputError for a vector that is not in Z_{2^bits} of the right dtype."""
        return cls(session_id, round, sender, bits, int(vector.size), columnpack.pack(vector, bits))

    def vector(self) -> npt.NDArray[np.unsignedinteger]:
        """The unpacked y_u. Raises DecodeError for a malformed payload."""
        return columnpack.unpack(self.payload, self.length, self.bits)

    def encode(self) -> bytes:
        if len(self.payload) != columnpack.packed_size(self.length, self.bits):
            raise EncodeError("payload does not match the vector's length and bits")
        w = Writer(Header(self.TYPE, self.session_id, self.round, self.sender, SERVER_ID))
        w.u8(self.bits).u32(self.length).fixed(self.payload)
        return w.getvalue()

    @classmethod
    def decode(cls, data: bytes, config: MaskingConfig) -> MaskedInput:
        r = Reader(data, cls.TYPE)
        h = _from_client(r, config)
        bits, length = r.u8(), r.u32()
        if bits != config.modulus_bits or length != config.length:
            raise DecodeError(
                f"masked vector of {length} x {bits} bits, expected "
                f"{config.length} x {config.modulus_bits}",
                sender=h.sender,
            )
        # A view into ``data``, not a copy: the payload is the bulk of the round's bytes.
        payload = r.view(columnpack.packed_size(length, bits))
        r.done()
        try:
            columnpack.check(payload, length, bits)
        except DecodeError as exc:
            raise DecodeError(str(exc), sender=h.sender) from exc
        return cls(h.session_id, h.round, h.sender, bits, length, payload)


@dataclass(frozen=True)
class ConsistencyRequest:
    """Malicious mode, server -> each client whose masked input arrived: the survivor
    set U3 (every client whose masked input is in the sum), for the client to sign."""

    TYPE: ClassVar[MessageType] = MessageType.CONSISTENCY_REQUEST
    session_id: bytes
    round: int
    recipient: int
    survivors: tuple[int, ...]

    def encode(self) -> bytes:
        w = Writer(Header(self.TYPE, self.session_id, self.round, SERVER_ID, self.recipient))
        return w.ids(self.survivors).getvalue()

    @classmethod
    def decode(cls, data: bytes, config: MaskingConfig) -> ConsistencyRequest:
        r = Reader(data, cls.TYPE)
        h = _from_server(r, config)
        survivors = r.ids(config.num_clients)
        r.done()
        _check_id_list(survivors, config, "survivor", h.sender)
        return cls(h.session_id, h.round, h.recipient, survivors)


@dataclass(frozen=True)
class ConsistencySignature:
    """Malicious mode, client -> server: its signature over :func:`survivors_statement`
    of the set it was told."""

    TYPE: ClassVar[MessageType] = MessageType.CONSISTENCY_SIGNATURE
    session_id: bytes
    round: int
    sender: int
    signature: bytes

    def encode(self) -> bytes:
        if len(self.signature) != SIGNATURE_BYTES:
            raise EncodeError("a signature is 64 bytes")
        w = Writer(Header(self.TYPE, self.session_id, self.round, self.sender, SERVER_ID))
        return w.fixed(self.signature).getvalue()

    @classmethod
    def decode(cls, data: bytes, config: MaskingConfig) -> ConsistencySignature:
        r = Reader(data, cls.TYPE)
        h = _from_client(r, config)
        signature = r.fixed(SIGNATURE_BYTES)
        r.done()
        return cls(h.session_id, h.round, h.sender, signature)


@dataclass(frozen=True)
class UnmaskingRequest:
    """Round 3, server -> each surviving client: whose self-mask share and whose key
    share it should reveal; in the malicious mode also the signatures of the survivor
    set collected in the consistency round. Not validated on construction: the client
    checks it."""

    TYPE: ClassVar[MessageType] = MessageType.UNMASKING_REQUEST
    session_id: bytes
    round: int
    recipient: int
    survivors: tuple[int, ...]  # reveal shares of b_u for these
    dropped: tuple[int, ...]  # reveal shares of s_u^SK for these
    signatures: tuple[tuple[int, bytes], ...] = ()  # (signer, signature) on the U3 set

    def encode(self) -> bytes:
        w = Writer(Header(self.TYPE, self.session_id, self.round, SERVER_ID, self.recipient))
        w.ids(self.survivors).ids(self.dropped)
        if self.signatures:
            check_ids(tuple(c for c, _ in self.signatures), encoding=True)
            if any(len(sig) != SIGNATURE_BYTES for _, sig in self.signatures):
                raise EncodeError("a signature is 64 bytes")
            w.records(_SIGNATURE_ENTRY, self.signatures)
        return w.getvalue()

    @classmethod
    def decode(cls, data: bytes, config: MaskingConfig) -> UnmaskingRequest:
        r = Reader(data, cls.TYPE)
        h = _from_server(r, config)
        survivors, dropped = r.ids(config.num_clients), r.ids(config.num_clients)
        signatures: tuple[tuple[int, bytes], ...] = ()
        if config.malicious:
            signatures = tuple(r.records(_SIGNATURE_ENTRY, config.num_clients))
            _check_id_list(tuple(c for c, _ in signatures), config, "signer", h.sender)
        r.done()
        for cid in survivors + dropped:
            _check_client(cid, config, "listed client", h.sender)
        return cls(h.session_id, h.round, h.recipient, survivors, dropped, signatures)


def _write_shares(w: FieldWriter, items: tuple[tuple[int, int], ...]) -> None:
    check_ids(tuple(cid for cid, _ in items), encoding=True)
    if any(not 0 <= value < PRIME for _, value in items):
        raise EncodeError("share value outside the field")
    w.records(_SHARE_ENTRY, [(cid, value.to_bytes(ELEMENT_BYTES, "big")) for cid, value in items])


def _read_shares(r: Reader, config: MaskingConfig) -> tuple[tuple[int, int], ...]:
    entries = r.records(_SHARE_ENTRY, config.num_clients)
    items = tuple((cid, int.from_bytes(raw, "big")) for cid, raw in entries)
    if any(value >= PRIME for _, value in items):
        raise DecodeError("share value outside the field", sender=r.header.sender)
    _check_id_list(tuple(c for c, _ in items), config, "share owner", r.header.sender)
    return items


@dataclass(frozen=True)
class UnmaskingResponse:
    """Round 3, client -> server: the requested shares, by owner."""

    TYPE: ClassVar[MessageType] = MessageType.UNMASKING_RESPONSE
    session_id: bytes
    round: int
    sender: int
    self_mask_shares: tuple[tuple[int, int], ...]  # (survivor, share of b_u)
    key_shares: tuple[tuple[int, int], ...]  # (dropped client, share of s_u^SK)

    def encode(self) -> bytes:
        w = Writer(Header(self.TYPE, self.session_id, self.round, self.sender, SERVER_ID))
        _write_shares(w, self.self_mask_shares)
        _write_shares(w, self.key_shares)
        return w.getvalue()

    @classmethod
    def decode(cls, data: bytes, config: MaskingConfig) -> UnmaskingResponse:
        r = Reader(data, cls.TYPE)
        h = _from_client(r, config)
        b_shares, sk_shares = _read_shares(r, config), _read_shares(r, config)
        r.done()
        return cls(h.session_id, h.round, h.sender, b_shares, sk_shares)


ClientMessage = AdvertiseKeys | ShareKeys | MaskedInput | ConsistencySignature | UnmaskingResponse
ServerMessage = KeyBroadcast | ForwardedShares | ConsistencyRequest | UnmaskingRequest
