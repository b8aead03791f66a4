"""Building blocks of the versioned binary message encoding.

Every message starts with a fixed header::

    magic "SA" | version u8 | type u8 | session id (32 bytes) | round u32 | sender u32
    | recipient u32

followed by a type-specific body. Integers are big-endian; variable-length fields carry
a u32 length. :class:`Reader` refuses anything irregular (a short field, a length
beyond the limit, a trailing byte) with :class:`DecodeError`, so each message has
exactly one encoding and decoding never trusts a length it has not checked.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from secagg.errors import DecodeError

MAGIC = b"SA"
VERSION = 2  # 2: masked vectors column-packed (secagg.columnpack)
SESSION_ID_BYTES = 32
SERVER_ID = 0  # the server's party id; clients are 1..n
MAX_ID = 2**32 - 1
_HEADER = struct.Struct(">2sBB32sIII")
HEADER_BYTES = _HEADER.size


class MessageType(enum.IntEnum):
    """Wire type codes. Never reuse a retired code."""

    ADVERTISE_KEYS = 1
    KEY_BROADCAST = 2
    SHARE_KEYS = 3
    FORWARDED_SHARES = 4
    MASKED_INPUT = 5
    UNMASKING_REQUEST = 6
    UNMASKING_RESPONSE = 7
    PAILLIER_PUBLIC_KEY = 16
    PAILLIER_CIPHERTEXTS = 17
    PAILLIER_DECRYPTION_REQUEST = 18
    PAILLIER_AGGREGATE = 19


@dataclass(frozen=True)
class Header:
    """Routing and binding fields common to every message."""

    type: MessageType
    session_id: bytes
    round: int
    sender: int
    recipient: int

    def __post_init__(self) -> None:
        if len(self.session_id) != SESSION_ID_BYTES:
            raise DecodeError("session id must be 32 bytes")
        for name in ("round", "sender", "recipient"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_ID:
                raise DecodeError(f"{name} {value} outside u32")

    def encode(self) -> bytes:
        return _HEADER.pack(
            MAGIC, VERSION, self.type, self.session_id, self.round, self.sender, self.recipient
        )


class Writer:
    """Appends big-endian fields to a growing byte string."""

    def __init__(self, header: Header) -> None:
        self._parts: list[bytes | memoryview] = [header.encode()]

    def u8(self, value: int) -> Writer:
        self._parts.append(struct.pack(">B", value))
        return self

    def u32(self, value: int) -> Writer:
        self._parts.append(struct.pack(">I", value))
        return self

    def fixed(self, data: bytes | memoryview) -> Writer:
        self._parts.append(data)
        return self

    def var(self, data: bytes) -> Writer:
        self._parts.append(struct.pack(">I", len(data)))
        self._parts.append(data)
        return self

    def records(self, layout: struct.Struct, items: Sequence[tuple[Any, ...]]) -> Writer:
        """A u32 count, then each item packed with the fixed-size ``layout``. The caller
        checks the lengths of bytes fields first: struct pads or cuts them silently."""
        self.u32(len(items))
        try:
            self._parts.extend(layout.pack(*item) for item in items)
        except struct.error as exc:  # a field of the wrong type or count
            raise DecodeError(f"record does not fit its layout: {exc}") from exc
        return self

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Reads fields in order; every read checks length and range before use."""

    def __init__(self, data: bytes, expected: MessageType) -> None:
        # Copy a mutable buffer once, so that views handed out stay what was decoded.
        self._data = memoryview(data if isinstance(data, bytes) else bytes(data))
        self._pos = 0
        if len(data) < HEADER_BYTES:
            raise DecodeError(f"message of {len(data)} bytes is shorter than the header")
        magic, version, mtype, session_id, rnd, sender, recipient = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError("bad magic: not a secagg message")
        if version != VERSION:
            raise DecodeError(f"unsupported message version {version}")
        if mtype != expected:
            raise DecodeError(f"expected message type {expected.name}, got code {mtype}")
        self._pos = HEADER_BYTES
        self.header = Header(expected, bytes(session_id), rnd, sender, recipient)

    def _take(self, n: int) -> memoryview:
        if n < 0 or self._pos + n > len(self._data):
            raise DecodeError("truncated message", sender=self.header.sender)
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def u8(self) -> int:
        return int(self._take(1)[0])

    def u32(self) -> int:
        return int(struct.unpack(">I", self._take(4))[0])

    def fixed(self, n: int) -> bytes:
        return bytes(self._take(n))

    def view(self, n: int) -> memoryview:
        """The next ``n`` bytes without copying (read-only when the message is bytes)."""
        return self._take(n)

    def var(self, max_len: int) -> bytes:
        n = self.u32()
        if n > max_len:
            raise DecodeError(
                f"field of {n} bytes exceeds limit {max_len}", sender=self.header.sender
            )
        return bytes(self._take(n))

    def count(self, max_count: int) -> int:
        """A u32 element count, checked against ``max_count``."""
        n = self.u32()
        if n > max_count:
            raise DecodeError(f"count {n} exceeds limit {max_count}", sender=self.header.sender)
        return n

    def ids(self, max_count: int) -> tuple[int, ...]:
        """A counted list of client ids, strictly increasing and nonzero."""
        n = self.count(max_count)
        values = tuple(self.u32() for _ in range(n))
        check_ids(values, self.header.sender)
        return values

    def records(self, layout: struct.Struct, max_count: int) -> list[tuple[Any, ...]]:
        """A u32 count (checked against ``max_count``) of fixed-size ``layout`` records."""
        n = self.count(max_count)
        return list(layout.iter_unpack(self._take(n * layout.size)))

    def done(self) -> None:
        if self._pos != len(self._data):
            raise DecodeError(
                f"{len(self._data) - self._pos} trailing bytes", sender=self.header.sender
            )


def check_ids(values: tuple[int, ...], sender: int | None = None) -> None:
    """Client ids on the wire are nonzero and strictly increasing (so no duplicates)."""
    if SERVER_ID in values:
        raise DecodeError("client id 0 is reserved for the server", sender=sender)
    if list(values) != sorted(set(values)):
        raise DecodeError("client ids must be strictly increasing", sender=sender)


def write_ids(writer: Writer, values: tuple[int, ...]) -> Writer:
    check_ids(values)
    writer.u32(len(values))
    for v in values:
        writer.u32(v)
    return writer
