"""Strict encoding of the four Paillier messages."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.codec import HEADER_BYTES, Header, MessageType
from secagg.errors import DecodeError
from secagg.paillier.messages import (
    AggregateMessage,
    CiphertextsMessage,
    DecryptionRequest,
    PublicKeyMessage,
)

SESSION = bytes(range(32))


def _header(kind: MessageType, sender: int = 1, recipient: int = 0) -> Header:
    return Header(kind, SESSION, 7, sender, recipient)


def test_public_key_round_trip() -> None:
    message = PublicKeyMessage(_header(MessageType.PAILLIER_PUBLIC_KEY), 2**2047 + 12345)
    assert PublicKeyMessage.decode(message.encode()) == message


def test_public_key_leading_zero_rejected() -> None:
    data = bytearray(PublicKeyMessage(_header(MessageType.PAILLIER_PUBLIC_KEY), 0xABCD).encode())
    data[HEADER_BYTES : HEADER_BYTES + 4] = (3).to_bytes(4, "big")
    data[HEADER_BYTES + 4 : HEADER_BYTES + 4] = b"\x00"
    with pytest.raises(DecodeError):
        PublicKeyMessage.decode(bytes(data))


def test_ciphertexts_round_trip_and_values() -> None:
    values = [1, 2**100, 2**511 + 5]
    message = CiphertextsMessage.from_values(
        _header(MessageType.PAILLIER_CIPHERTEXTS), values, 64
    )
    data = message.encode()
    decoded = CiphertextsMessage.decode(data)
    assert decoded == message and decoded.count == 3
    assert [int(v) for v in decoded.values()] == values
    assert len(data) == HEADER_BYTES + 4 + 4 + 4 + 3 * 64


def test_ciphertexts_strictness() -> None:
    message = CiphertextsMessage.from_values(_header(MessageType.PAILLIER_CIPHERTEXTS), [1, 2], 8)
    data = message.encode()
    with pytest.raises(DecodeError):
        CiphertextsMessage.decode(data + b"\x00")  # trailing byte
    with pytest.raises(DecodeError):
        CiphertextsMessage.decode(data[:-1])  # truncated
    with pytest.raises(DecodeError):
        CiphertextsMessage.decode(data, max_count=1)  # more than the round expects
    with pytest.raises(DecodeError):
        DecryptionRequest.decode(data)  # wrong type code
    wrong_count = bytearray(data)
    wrong_count[HEADER_BYTES + 4 : HEADER_BYTES + 8] = (1).to_bytes(4, "big")
    with pytest.raises(DecodeError):
        CiphertextsMessage.decode(bytes(wrong_count))
    with pytest.raises(DecodeError):  # a value wider than the fixed width
        CiphertextsMessage.from_values(_header(MessageType.PAILLIER_CIPHERTEXTS), [2**64], 8)


def test_aggregate_round_trip_and_padding() -> None:
    vector = np.array([0, 5, 2**23 - 1], dtype=np.uint32)
    message = AggregateMessage.from_vector(_header(MessageType.PAILLIER_AGGREGATE), vector, 23)
    decoded = AggregateMessage.decode(message.encode())
    np.testing.assert_array_equal(decoded.vector(), vector)
    data = bytearray(message.encode())
    data[-1] |= 0x80  # a padding bit set: not the unique encoding
    with pytest.raises(DecodeError):
        AggregateMessage.decode(bytes(data))
