"""Slot packing: round trips, boundaries with n_max clients, impossible budgets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.errors import BitBudgetError, ConfigurationError, DecodeError, InputError
from secagg.paillier import (
    Encryptor,
    PackingConfig,
    PaillierConfig,
    PrivateKey,
    pack_slots,
    unpack_slots,
)
from secagg.paillier.decrypt import decrypt_many
from secagg.quantize import QuantizationConfig


@settings(max_examples=50, deadline=None)
@given(
    slot_bits=st.integers(1, 64),
    length=st.integers(1, 300),
    key_bits=st.sampled_from([128, 2048, 3072]),
    data=st.data(),
)
def test_round_trip(slot_bits: int, length: int, key_bits: int, data: st.DataObject) -> None:
    config = PackingConfig(slot_bits=slot_bits, key_bits=key_bits)
    values = np.array(
        data.draw(st.lists(st.integers(0, 2**slot_bits - 1), min_size=length, max_size=length)),
        dtype=np.uint64,
    )
    plaintexts = pack_slots(values, config)
    assert len(plaintexts) == config.plaintexts(length)
    assert all(0 <= m < 2 ** (key_bits - 1) for m in plaintexts)
    # slot i of plaintext j is bits [i k, (i + 1) k)
    assert plaintexts[0] & (2**slot_bits - 1) == int(values[0])
    np.testing.assert_array_equal(unpack_slots(plaintexts, length, config), values)


def test_slots_per_plaintext() -> None:
    assert PackingConfig(slot_bits=23, key_bits=2048).slots == 89  # 89 * 23 = 2047
    assert PackingConfig(slot_bits=20, key_bits=2048).slots == 102


def test_max_value_in_every_slot_with_n_max_clients(key: PrivateKey) -> None:
    """Every slot at w_max (2^b - 1) from each of n_max clients: the sum fills its slot
    without carrying into the next one."""
    quant = QuantizationConfig(bits=16, max_clients=6, max_weight=3)
    config = PaillierConfig(round_number=0, dim=200, quantization=quant, clients=(1, 2, 3))
    packing = config.packing
    top = quant.max_weight * quant.levels
    values = np.full(config.length, top, dtype=np.uint64)
    encryptor = Encryptor(key.public, expected_count=2 * 6)
    n2 = key.public.n_square
    product = None
    for _ in range(quant.max_clients):
        cts = encryptor.encrypt(pack_slots(values, packing))
        if product is None:
            product = cts
        else:
            product = [a * c % n2 for a, c in zip(product, cts, strict=True)]
    assert product is not None
    plaintexts = decrypt_many(key, product)
    total = unpack_slots(plaintexts, config.length, packing)
    assert (total == quant.max_clients * top).all()
    assert quant.max_clients * top < 2**packing.slot_bits  # the budget is tight but holds
    assert packing.slots * packing.slot_bits <= key.public.bits - 1


def test_overflowing_sum_is_detected() -> None:
    config = PackingConfig(slot_bits=8, key_bits=2048)
    plaintexts = [1 << (config.slots * 8)]  # a carry out of the last slot
    with pytest.raises(DecodeError):
        unpack_slots(plaintexts, config.slots, config)
    with pytest.raises(DecodeError):  # data in a padding slot beyond the length
        unpack_slots([1 << 8], 1, config)


def test_value_too_wide_for_its_slot() -> None:
    with pytest.raises(InputError):
        pack_slots(np.array([256], dtype=np.uint64), PackingConfig(8, 2048))


@pytest.mark.parametrize(
    ("slot_bits", "key_bits"), [(2048, 2048), (64, 64), (0, 2048), (65, 2048)]
)
def test_impossible_packing_budget(slot_bits: int, key_bits: int) -> None:
    with pytest.raises(BitBudgetError):
        PackingConfig(slot_bits=slot_bits, key_bits=key_bits)


def test_impossible_quantization_budgets() -> None:
    with pytest.raises(BitBudgetError):
        QuantizationConfig(bits=32, max_clients=2**33)  # the sum needs more than 64 bits
    quant = QuantizationConfig(bits=16, max_clients=2)
    with pytest.raises(ConfigurationError):  # more clients than the budget's n_max
        PaillierConfig(round_number=0, dim=4, quantization=quant, clients=(1, 2, 3))
    with pytest.raises(ConfigurationError):
        PaillierConfig(round_number=0, dim=4, quantization=quant, clients=(1, 2), key_bits=1024)
    with pytest.raises(ConfigurationError):
        PaillierConfig(round_number=0, dim=4, quantization=quant, clients=(1, 2), key_holder=3)

