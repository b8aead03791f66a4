"""Wire messages of the Paillier protocol: frozen dataclasses with one binary encoding.

Every message is a :class:`secagg.codec.Header` plus a body; decoding is strict (exact
lengths, bounded counts, fixed-width ciphertexts, no trailing bytes) and raises
:class:`~secagg.errors.DecodeError`. Range and membership checks that need the key or
the round (c < n^2, the session id, the sender) are the receiving state machine's job.

Bodies::

    PAILLIER_PUBLIC_KEY          var n (big-endian, no leading zero byte)
    PAILLIER_CIPHERTEXTS         u32 width | u32 count | var count*width bytes
    PAILLIER_DECRYPTION_REQUEST  u32 width | u32 count | var count*width bytes
    PAILLIER_AGGREGATE           u32 length | u8 slot bits | var packed plaintext vector
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

import gmpy2
import numpy as np
import numpy.typing as npt

from secagg.bitpack import pack, packed_size, unpack
from secagg.codec import Header, MessageType, Reader, Writer
from secagg.errors import DecodeError

MAX_KEY_BYTES = 3072 // 8
MAX_CIPHERTEXT_BYTES = 2 * MAX_KEY_BYTES
MAX_CIPHERTEXTS = 1 << 24  # 16M ciphertexts: far beyond any model this is used for
MAX_LENGTH = 2**32 - 1

_V = TypeVar("_V", bound="_CiphertextVector")


@dataclass(frozen=True)
class PublicKeyMessage:
    """The key holder's modulus n, published through the server to every client."""

    header: Header
    n: int

    def encode(self) -> bytes:
        if self.header.type is not MessageType.PAILLIER_PUBLIC_KEY:
            raise DecodeError("header type is not PAILLIER_PUBLIC_KEY")
        if self.n <= 0:
            raise DecodeError("modulus must be positive")
        raw = self.n.to_bytes((self.n.bit_length() + 7) // 8, "big")
        return Writer(self.header).var(raw).getvalue()

    @classmethod
    def decode(cls, data: bytes) -> PublicKeyMessage:
        reader = Reader(data, MessageType.PAILLIER_PUBLIC_KEY)
        raw = reader.var(MAX_KEY_BYTES)
        reader.done()
        if not raw or raw[0] == 0:
            raise DecodeError(
                "modulus empty or with a leading zero byte", sender=reader.header.sender
            )
        return cls(reader.header, int.from_bytes(raw, "big"))


@dataclass(frozen=True)
class _CiphertextVector:
    """Fixed-width big-endian ciphertexts; ``blob`` is ``count * width`` bytes."""

    header: Header
    width: int
    blob: bytes

    _TYPE: ClassVar[MessageType] = MessageType.PAILLIER_CIPHERTEXTS

    @property
    def count(self) -> int:
        return len(self.blob) // self.width

    @classmethod
    def from_values(cls: type[_V], header: Header, values: Sequence[int], width: int) -> _V:
        """Encode ciphertexts (each below 2^(8 width)) at a fixed width."""
        try:
            blob = b"".join(int(c).to_bytes(width, "big") for c in values)
        except OverflowError as exc:
            raise DecodeError("ciphertext wider than the fixed width") from exc
        return cls(header, width, blob)

    def values(self) -> list[gmpy2.mpz]:
        """The ciphertexts as integers (range checks are the receiver's)."""
        w, blob = self.width, self.blob
        return [gmpy2.mpz(int.from_bytes(blob[i : i + w], "big")) for i in range(0, len(blob), w)]

    def encode(self) -> bytes:
        if self.header.type is not self._TYPE:
            raise DecodeError(f"header type is not {self._TYPE.name}")
        return Writer(self.header).u32(self.width).u32(self.count).var(self.blob).getvalue()

    @classmethod
    def decode(cls: type[_V], data: bytes, *, max_count: int = MAX_CIPHERTEXTS) -> _V:
        reader = Reader(data, cls._TYPE)
        sender = reader.header.sender
        width = reader.u32()
        if not 1 <= width <= MAX_CIPHERTEXT_BYTES:
            raise DecodeError(f"ciphertext width {width} out of range", sender=sender)
        count = reader.count(max_count)
        blob = reader.var(count * width)
        reader.done()
        if len(blob) != count * width:
            raise DecodeError("ciphertext blob length differs from count x width", sender=sender)
        return cls(reader.header, width, blob)


@dataclass(frozen=True)
class CiphertextsMessage(_CiphertextVector):
    """One client's packed, encrypted protected vector, sent to the server."""

    _TYPE: ClassVar[MessageType] = MessageType.PAILLIER_CIPHERTEXTS


@dataclass(frozen=True)
class DecryptionRequest(_CiphertextVector):
    """The server's aggregate ciphertexts (and nothing else), sent to the key holder."""

    _TYPE: ClassVar[MessageType] = MessageType.PAILLIER_DECRYPTION_REQUEST


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
        if self.header.type is not MessageType.PAILLIER_AGGREGATE:
            raise DecodeError("header type is not PAILLIER_AGGREGATE")
        return Writer(self.header).u32(self.length).u8(self.slot_bits).var(self.packed).getvalue()

    @classmethod
    def decode(cls, data: bytes) -> AggregateMessage:
        reader = Reader(data, MessageType.PAILLIER_AGGREGATE)
        length = reader.u32()
        slot_bits = reader.u8()
        if not 1 <= slot_bits <= 64:
            raise DecodeError(f"slot width {slot_bits} out of range", sender=reader.header.sender)
        packed = reader.var(packed_size(length, slot_bits))
        reader.done()
        message = cls(reader.header, slot_bits, packed, length)
        message.vector()  # length and padding checked now, not when first used
        return message
