"""Strict encoding of the four Paillier messages: sizes checked before anything is read."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.codec import HEADER_BYTES, Header, MessageType
from secagg.errors import DecodeError, EncodeError, UnexpectedMessageError
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
    message = CiphertextsMessage.from_values(_header(MessageType.PAILLIER_CIPHERTEXTS), values, 64)
    data = message.encode()
    decoded = CiphertextsMessage.decode(data, count=3, width=64)
    assert decoded == message
    assert [int(v) for v in decoded.values()] == values
    assert len(data) == HEADER_BYTES + 4 + 4 + 3 * 64


def test_ciphertexts_strictness() -> None:
    message = CiphertextsMessage.from_values(_header(MessageType.PAILLIER_CIPHERTEXTS), [1, 2], 8)
    data = message.encode()
    with pytest.raises(DecodeError):
        CiphertextsMessage.decode(data + b"\x00", count=2, width=8)  # trailing byte
    with pytest.raises(DecodeError):
        CiphertextsMessage.decode(data[:-1], count=2, width=8)  # truncated
    with pytest.raises(DecodeError):
        CiphertextsMessage.decode(data, count=1, width=8)  # not what the round expects
    with pytest.raises(DecodeError):
        CiphertextsMessage.decode(data, count=2, width=9)
    with pytest.raises(UnexpectedMessageError):
        DecryptionRequest.decode(data, count=2, width=8, max_contributors=4)  # wrong type
    with pytest.raises(EncodeError):  # a value wider than the fixed width
        CiphertextsMessage.from_values(_header(MessageType.PAILLIER_CIPHERTEXTS), [2**64], 8)


def test_decryption_request_names_its_contributors() -> None:
    header = _header(MessageType.PAILLIER_DECRYPTION_REQUEST, sender=0, recipient=1)
    message = DecryptionRequest.from_values(header, (1, 3, 4), [5, 6], 8)
    decoded = DecryptionRequest.decode(message.encode(), count=2, width=8, max_contributors=4)
    assert decoded == message and decoded.contributors == (1, 3, 4)
    with pytest.raises(DecodeError):
        DecryptionRequest.decode(message.encode(), count=2, width=8, max_contributors=2)
    with pytest.raises(EncodeError):
        DecryptionRequest.from_values(header, (3, 1), [5, 6], 8).encode()


def test_aggregate_round_trip_and_padding() -> None:
    vector = np.array([0, 5, 2**23 - 1], dtype=np.uint32)
    message = AggregateMessage.from_vector(_header(MessageType.PAILLIER_AGGREGATE), vector, 23)
    decoded = AggregateMessage.decode(message.encode(), length=3, slot_bits=23)
    np.testing.assert_array_equal(decoded.vector(), vector)
    data = bytearray(message.encode())
    data[-1] |= 0x80  # a padding bit set: not the unique encoding
    with pytest.raises(DecodeError):
        AggregateMessage.decode(bytes(data), length=3, slot_bits=23)


def test_aggregate_declared_length_is_checked_before_reading() -> None:
    # The defect: the aggregate was unpacked before its length was compared, so a short
    # message could make the receiver allocate ~33x its size.
    header = _header(MessageType.PAILLIER_AGGREGATE)
    huge = Header.encode(header) + (2**32 - 1).to_bytes(4, "big") + bytes([64]) + b"\x00" * 8
    with pytest.raises(DecodeError, match="expected 3 x 23"):
        AggregateMessage.decode(huge, length=3, slot_bits=23)
