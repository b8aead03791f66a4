from __future__ import annotations

import pytest

from secagg.errors import AuthenticationError
from secagg.primitives.aead import open_sealed, seal

KEY = bytes(range(32))


def test_round_trip(entropy) -> None:
    assert open_sealed(KEY, seal(KEY, b"share", b"ad", entropy), b"ad") == b"share"


@pytest.mark.parametrize("where", ["nonce", "body", "tag"])
def test_any_flipped_bit_is_rejected(entropy, where: str) -> None:
    sealed = bytearray(seal(KEY, b"share bytes", b"ad", entropy))
    index = {"nonce": 0, "body": 13, "tag": len(sealed) - 1}[where]
    sealed[index] ^= 1
    with pytest.raises(AuthenticationError):
        open_sealed(KEY, bytes(sealed), b"ad")


def test_other_associated_data_is_rejected(entropy) -> None:
    with pytest.raises(AuthenticationError):
        open_sealed(KEY, seal(KEY, b"share", b"from 1 to 2", entropy), b"from 1 to 3")


def test_short_input_and_bad_key_are_rejected() -> None:
    with pytest.raises(AuthenticationError):
        open_sealed(KEY, b"\x00" * 27, b"")
    with pytest.raises(AuthenticationError):
        open_sealed(b"\x00" * 20, b"\x00" * 40, b"")
