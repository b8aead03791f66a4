"""Building blocks of the versioned binary encodings: messages and saved party states.

Every message starts with a fixed header::

    magic "SA" | version u8 | type u8 | session id (32 bytes) | round u32 | sender u32
    | recipient u32

followed by a type-specific body. Integers are big-endian; variable-length fields carry
a u32 length. :class:`Fields` refuses anything irregular (a short field, a length
beyond the limit, a trailing byte) with :class:`DecodeError`, so each message has
exactly one encoding and decoding never trusts a length it has not checked.
:class:`Reader` is :class:`Fields` after a checked header; :class:`FieldWriter` and
:class:`Writer` are the encoding side. Encoding a field that does not fit raises
:class:`EncodeError` (a caller mistake), never :class:`DecodeError`.
"""

from __future__ import annotations

import enum
import operator
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from secagg.errors import DecodeError, EncodeError, UnexpectedMessageError

MAGIC = b"SA"
# 2: masked vectors column-packed (secagg.columnpack)
# 3: masked input length = protected length; decryption requests name their contributors;
#    ShareKeys carries a commitment to b_u; plain input messages
# 4: KeyBroadcast carries the key tree root, the recipient's and its neighbours' keys and
#    their key tree paths (secagg.masking.keytree)
VERSION = 4
SESSION_ID_BYTES = 32
SERVER_ID = 0  # the server's party id; clients are 1..n
MAX_ID = 2**32 - 1
MAX_U32 = 2**32 - 1
_HEADER = struct.Struct(">2sBB32sIII")
HEADER_BYTES = _HEADER.size
_U32 = struct.Struct(">I")


class MessageType(enum.IntEnum):
    """Wire type codes. Never reuse a retired code."""

    ADVERTISE_KEYS = 1
    KEY_BROADCAST = 2
    SHARE_KEYS = 3
    FORWARDED_SHARES = 4
    MASKED_INPUT = 5
    UNMASKING_REQUEST = 6
    UNMASKING_RESPONSE = 7
    CONSISTENCY_REQUEST = 8
    CONSISTENCY_SIGNATURE = 9
    PAILLIER_PUBLIC_KEY = 16
    PAILLIER_CIPHERTEXTS = 17
    PAILLIER_DECRYPTION_REQUEST = 18
    PAILLIER_AGGREGATE = 19
    PLAIN_INPUT = 32


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
            raise EncodeError("session id must be 32 bytes")
        for name in ("round", "sender", "recipient"):
            value = getattr(self, name)
            if not 0 <= value <= MAX_ID:
                raise EncodeError(f"{name} {value} outside u32")

    def encode(self) -> bytes:
        return _HEADER.pack(
            MAGIC, VERSION, self.type, self.session_id, self.round, self.sender, self.recipient
        )


def peek_header(data: object) -> Header:
    """The checked header of ``data`` (magic, version, a known type), body unread.

    Parties use it to dispatch a message by type before decoding it. Raises DecodeError,
    for anything that is not bytes as well.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(f"a message is bytes, not {type(data).__name__}")
    if len(data) < HEADER_BYTES:
        raise DecodeError(f"message of {len(data)} bytes is shorter than the header")
    magic, version, mtype, session_id, rnd, sender, recipient = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise DecodeError("bad magic: not a secagg message")
    if version != VERSION:
        raise DecodeError(f"unsupported message version {version}", sender=sender)
    try:
        kind = MessageType(mtype)
    except ValueError:
        raise DecodeError(f"unknown message type {mtype}", sender=sender) from None
    return Header(kind, bytes(session_id), rnd, sender, recipient)


class FieldWriter:
    """Appends big-endian fields to a growing byte string."""

    def __init__(self) -> None:
        self._parts: list[bytes | memoryview] = []

    def u8(self, value: int) -> FieldWriter:
        if not 0 <= value <= 0xFF:
            raise EncodeError(f"{value} does not fit in u8")
        self._parts.append(bytes((value,)))
        return self

    def u32(self, value: int) -> FieldWriter:
        if not 0 <= value <= MAX_U32:
            raise EncodeError(f"{value} does not fit in u32")
        self._parts.append(_U32.pack(value))
        return self

    def fixed(self, data: bytes | memoryview) -> FieldWriter:
        self._parts.append(data)
        return self

    def var(self, data: bytes | memoryview) -> FieldWriter:
        self.u32(len(data))
        self._parts.append(data)
        return self

    def ids(self, values: Sequence[int]) -> FieldWriter:
        """A counted list of client ids, strictly increasing and nonzero."""
        check_ids(tuple(values), encoding=True)
        self.u32(len(values))
        self._parts.append(b"".join(_U32.pack(v) for v in values))
        return self

    def records(self, layout: struct.Struct, items: Sequence[tuple[Any, ...]]) -> FieldWriter:
        """A u32 count, then each item packed with the fixed-size ``layout``. The caller
        checks the lengths of bytes fields first: struct pads or cuts them silently."""
        self.u32(len(items))
        try:
            self._parts.extend(layout.pack(*item) for item in items)
        except struct.error as exc:  # a field of the wrong type or count
            raise EncodeError(f"record does not fit its layout: {exc}") from exc
        return self

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


class Writer(FieldWriter):
    """A :class:`FieldWriter` that starts with a message header."""

    def __init__(self, header: Header) -> None:
        super().__init__()
        self._parts.append(header.encode())


class Fields:
    """Reads fields in order; every read checks length and range before use.

    ``sender`` is the claimed sender id attached to the errors raised (None for data
    that is not a message).
    """

    def __init__(self, data: bytes | bytearray | memoryview, *, sender: int | None = None) -> None:
        # Copy a mutable buffer once, so that views handed out stay what was decoded.
        self._data = memoryview(data if isinstance(data, bytes) else bytes(data))
        self._pos = 0
        self._sender = sender

    def _take(self, n: int) -> memoryview:
        if n < 0 or self._pos + n > len(self._data):
            raise DecodeError("truncated data", sender=self._sender)
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def u8(self) -> int:
        return int(self._take(1)[0])

    def u32(self) -> int:
        return int(_U32.unpack(self._take(4))[0])

    def fixed(self, n: int) -> bytes:
        return bytes(self._take(n))

    def view(self, n: int) -> memoryview:
        """The next ``n`` bytes without copying (read-only when the data is bytes)."""
        return self._take(n)

    def var(self, max_len: int) -> bytes:
        n = self.u32()
        if n > max_len:
            raise DecodeError(f"field of {n} bytes exceeds limit {max_len}", sender=self._sender)
        return bytes(self._take(n))

    def count(self, max_count: int) -> int:
        """A u32 element count, checked against ``max_count``."""
        n = self.u32()
        if n > max_count:
            raise DecodeError(f"count {n} exceeds limit {max_count}", sender=self._sender)
        return n

    def ids(self, max_count: int) -> tuple[int, ...]:
        """A counted list of client ids, strictly increasing and nonzero."""
        n = self.count(max_count)
        values = tuple(v for (v,) in _U32.iter_unpack(self._take(4 * n)))
        check_ids(values, self._sender)
        return values

    def records(self, layout: struct.Struct, max_count: int) -> list[tuple[Any, ...]]:
        """A u32 count (checked against ``max_count``) of fixed-size ``layout`` records."""
        n = self.count(max_count)
        return list(layout.iter_unpack(self._take(n * layout.size)))

    def remaining(self) -> int:
        return len(self._data) - self._pos

    def done(self) -> None:
        if self._pos != len(self._data):
            raise DecodeError(f"{len(self._data) - self._pos} trailing bytes", sender=self._sender)


class Reader(Fields):
    """Reads a message: the header (checked, of the ``expected`` type), then fields.

    A well-formed message of another type raises :class:`UnexpectedMessageError` (late
    or replayed, not malformed); anything else irregular raises DecodeError.
    """

    def __init__(self, data: bytes | bytearray | memoryview, expected: MessageType) -> None:
        header = peek_header(data)
        if header.type is not expected:
            raise UnexpectedMessageError(
                f"expected a {expected.name} message, got {header.type.name}",
                sender=header.sender,
            )
        super().__init__(data, sender=header.sender)
        self._pos = HEADER_BYTES
        self.header = header


def check_ids(
    values: tuple[int, ...], sender: int | None = None, *, encoding: bool = False
) -> None:
    """Client ids are nonzero and strictly increasing (so no duplicates).

    Raises DecodeError (naming ``sender``), or EncodeError when ``encoding`` a list
    built by the caller.
    """
    problem = None
    if SERVER_ID in values:
        problem = "client id 0 is reserved for the server"
    elif not all(map(operator.lt, values, values[1:])):
        problem = "client ids must be strictly increasing"
    elif values and values[-1] > MAX_ID:
        problem = "client id outside u32"
    if problem is None:
        return
    if encoding:
        raise EncodeError(problem)
    raise DecodeError(problem, sender=sender)
