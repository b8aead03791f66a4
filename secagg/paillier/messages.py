"""Wire messages of the Paillier protocol: frozen dataclasses with one binary encoding.

Every message is a :class:`secagg.codec.Header` plus a body; decoding is strict (exact
lengths and counts checked against what the receiver expects *before* anything is
read or allocated, fixed-width ciphertexts, no trailing bytes) and raises
:class:`~secagg.errors.DecodeError`. Range and membership checks that need the key or
the round (c < n^2, the session id, the sender) are the receiving party's job.

Bodies::

    PAILLIER_PUBLIC_KEY          var n (big-endian, no leading zero byte) [| signature]
    PAILLIER_CIPHERTEXTS         u32 width | u32 count | count*width bytes [| signature]
    PAILLIER_DECRYPTION_REQUEST  ids contributors | u32 width | u32 count | count*width bytes
                                 (malicious mode: then, per contributor in order,
                                 its signature | its count*width bytes)
    PAILLIER_AGGREGATE           u32 length | u8 slot bits | packed plaintext vector

The bracketed Ed25519 signatures are present exactly in the malicious mode (the
decoder is told which); see :func:`key_statement` and :func:`upload_statement`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import gmpy2
import numpy as np
import numpy.typing as npt

from secagg.bitpack import pack, packed_size, unpack
from secagg.codec import Fields, FieldWriter, Header, MessageType, Reader, Writer
from secagg.errors import DecodeError, EncodeError
from secagg.primitives.signatures import SIGNATURE_BYTES

MAX_KEY_BYTES = 3072 // 8


def _check_type(header: Header, expected: MessageType) -> None:
    if header.type is not expected:
        raise EncodeError(f"header type is not {expected.name}")


def key_statement(session: bytes, key_holder: int, n: int) -> bytes:
    """What the key holder signs in the malicious mode: its modulus, for this session."""
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"secagg/v1/paillier-key" + session + struct.pack(">I", key_holder) + raw


def upload_statement(session: bytes, client: int, blob: bytes) -> bytes:
    """What a client signs in the malicious mode: the digest of its ciphertexts, for
    this session: the key holder's proof that this client's upload is in the sum."""
    digest = hashlib.sha256(blob).digest()
    return b"secagg/v1/paillier-upload" + session + struct.pack(">I", client) + digest


def _read_signature(r: Fields, signed: bool) -> bytes:
    return r.fixed(SIGNATURE_BYTES) if signed else b""


def _check_signature(signature: bytes) -> None:
    if len(signature) not in (0, SIGNATURE_BYTES):
        raise EncodeError("a signature is 64 bytes (or absent in the honest mode)")


@dataclass(frozen=True)
class PublicKeyMessage:
    """The key holder's modulus n, published through the server to every client, with
    its signature over :func:`key_statement` in the malicious mode."""

    header: Header
    n: int
    signature: bytes = b""

    def encode(self) -> bytes:
        _check_type(self.header, MessageType.PAILLIER_PUBLIC_KEY)
        if self.n <= 0 or self.n.bit_length() > 8 * MAX_KEY_BYTES:
            raise EncodeError("modulus must be positive and at most 3072 bits")
        _check_signature(self.signature)
        raw = self.n.to_bytes((self.n.bit_length() + 7) // 8, "big")
        return Writer(self.header).var(raw).fixed(self.signature).getvalue()

    @classmethod
    def decode(cls, data: bytes, *, signed: bool = False) -> PublicKeyMessage:
        reader = Reader(data, MessageType.PAILLIER_PUBLIC_KEY)
        raw = reader.var(MAX_KEY_BYTES)
        signature = _read_signature(reader, signed)
        reader.done()
        if not raw or raw[0] == 0:
            raise DecodeError(
                "modulus empty or with a leading zero byte", sender=reader.header.sender
            )
        return cls(reader.header, int.from_bytes(raw, "big"), signature)


def _write_ciphertexts(w: FieldWriter, width: int, blob: bytes) -> None:
    if width < 1 or len(blob) % width:
        raise EncodeError("ciphertext blob is not a whole number of fixed-width values")
    w.u32(width).u32(len(blob) // width).fixed(blob)


def _read_ciphertexts(r: Fields, count: int, width: int, sender: int) -> bytes:
    """Check the declared width and count against the expected ones, then read."""
    got_width, got_count = r.u32(), r.u32()
    if (got_width, got_count) != (width, count):
        raise DecodeError(
            f"{got_count} ciphertexts of {got_width} bytes, expected {count} of {width}",
            sender=sender,
        )
    return r.fixed(count * width)


def ciphertext_blob(values: Sequence[int], width: int) -> bytes:
    """Ciphertexts (each below 2^(8 width)) at a fixed big-endian width."""
    try:
        return b"".join(int(c).to_bytes(width, "big") for c in values)
    except OverflowError as exc:
        raise EncodeError("ciphertext wider than the fixed width") from exc


def ciphertext_values(blob: bytes, width: int) -> list[gmpy2.mpz]:
    """The ciphertexts of a blob as integers (range checks are the receiver's)."""
    return [
        gmpy2.mpz(int.from_bytes(blob[i : i + width], "big")) for i in range(0, len(blob), width)
    ]


@dataclass(frozen=True)
class CiphertextsMessage:
    """One client's packed, encrypted protected vector, sent to the server, with its
    signature over :func:`upload_statement` in the malicious mode."""

    header: Header
    width: int
    blob: bytes
    signature: bytes = b""

    @classmethod
    def from_values(cls, header: Header, values: Sequence[int], width: int) -> CiphertextsMessage:
        return cls(header, width, ciphertext_blob(values, width))

    def values(self) -> list[gmpy2.mpz]:
        return ciphertext_values(self.blob, self.width)

    def encode(self) -> bytes:
        _check_type(self.header, MessageType.PAILLIER_CIPHERTEXTS)
        _check_signature(self.signature)
        w = Writer(self.header)
        _write_ciphertexts(w, self.width, self.blob)
        return w.fixed(self.signature).getvalue()

    @classmethod
    def decode(
        cls, data: bytes, *, count: int, width: int, signed: bool = False
    ) -> CiphertextsMessage:
        r = Reader(data, MessageType.PAILLIER_CIPHERTEXTS)
        blob = _read_ciphertexts(r, count, width, r.header.sender)
        signature = _read_signature(r, signed)
        r.done()
        return cls(r.header, width, blob, signature)


@dataclass(frozen=True)
class DecryptionRequest:
    """The server's aggregate ciphertexts (and nothing else), sent to the key holder,
    with the ids of the clients whose uploads are multiplied into it.

    In the malicious mode ``uploads`` also holds each contributor's (signature,
    ciphertexts): the key holder checks every signature, multiplies the uploads itself
    and refuses unless its product is the server's ``blob``, so what it decrypts
    provably holds those signed uploads and nothing else.
    """

    header: Header
    contributors: tuple[int, ...]
    width: int
    blob: bytes
    uploads: tuple[tuple[bytes, bytes], ...] = ()  # malicious mode: (signature, ciphertexts)

    @classmethod
    def from_values(
        cls, header: Header, contributors: tuple[int, ...], values: Sequence[int], width: int
    ) -> DecryptionRequest:
        return cls(header, contributors, width, ciphertext_blob(values, width))

    def values(self) -> list[gmpy2.mpz]:
        return ciphertext_values(self.blob, self.width)

    def encode(self) -> bytes:
        _check_type(self.header, MessageType.PAILLIER_DECRYPTION_REQUEST)
        w = Writer(self.header)
        w.ids(self.contributors)
        _write_ciphertexts(w, self.width, self.blob)
        if self.uploads:
            if len(self.uploads) != len(self.contributors):
                raise EncodeError("one signed upload per contributor")
            for signature, blob in self.uploads:
                if len(signature) != SIGNATURE_BYTES or len(blob) != len(self.blob):
                    raise EncodeError("each upload is a 64-byte signature and count ciphertexts")
                w.fixed(signature).fixed(blob)
        return w.getvalue()

    @classmethod
    def decode(
        cls,
        data: bytes,
        *,
        count: int,
        width: int,
        max_contributors: int,
        signed: bool = False,
    ) -> DecryptionRequest:
        r = Reader(data, MessageType.PAILLIER_DECRYPTION_REQUEST)
        contributors = r.ids(max_contributors)
        blob = _read_ciphertexts(r, count, width, r.header.sender)
        uploads: tuple[tuple[bytes, bytes], ...] = ()
        if signed:
            uploads = tuple(
                (r.fixed(SIGNATURE_BYTES), r.fixed(count * width)) for _ in contributors
            )
        r.done()
        return cls(r.header, contributors, width, blob, uploads)


@dataclass(frozen=True)
class AggregateMessage:
    """The decrypted, unpacked aggregate vector (k-bit elements), sent to the server."""

    header: Header
    slot_bits: int
    packed: bytes
    length: int

    @classmethod
    def from_vector(
        cls, header: Header, values: npt.NDArray[np.unsignedinteger], slot_bits: int
    ) -> AggregateMessage:
        return cls(header, slot_bits, pack(values, slot_bits), int(values.size))

    def vector(self) -> npt.NDArray[np.unsignedinteger]:
        return unpack(self.packed, self.length, self.slot_bits)

    def encode(self) -> bytes:
        _check_type(self.header, MessageType.PAILLIER_AGGREGATE)
        if len(self.packed) != packed_size(self.length, self.slot_bits):
            raise EncodeError("packed aggregate does not match its length and slot bits")
        w = Writer(self.header).u32(self.length).u8(self.slot_bits).fixed(self.packed)
        return w.getvalue()

    @classmethod
    def decode(cls, data: bytes, *, length: int, slot_bits: int) -> AggregateMessage:
        """Checks the declared length and slot width against the expected ones before
        reading the vector (no allocation driven by the sender)."""
        reader = Reader(data, MessageType.PAILLIER_AGGREGATE)
        got_length, got_bits = reader.u32(), reader.u8()
        if (got_length, got_bits) != (length, slot_bits):
            raise DecodeError(
                f"aggregate of {got_length} x {got_bits} bits, expected {length} x {slot_bits}",
                sender=reader.header.sender,
            )
        packed = reader.fixed(packed_size(length, slot_bits))
        reader.done()
        message = cls(reader.header, slot_bits, packed, length)
        message.vector()  # padding checked now, not when first used
        return message
