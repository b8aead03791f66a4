"""BatchCrypt-style packing of quantized slots into Paillier plaintexts.

Layout: the protected vector v (length L, elements below 2^k, k = the slot width) is cut
into consecutive groups of s = floor((bits(n) - 1) / k) elements; group j becomes the
plaintext m_j = sum_i v[j s + i] * 2^(i k) (slot 0 in the least significant bits).
Because the budget of :class:`~secagg.quantize.QuantizationConfig` guarantees that the
sum of n_max clients' slot values stays below 2^k, adding n_max plaintexts never
carries into the next slot, and every packed sum stays below
2^(s k) <= 2^(bits(n) - 1) < n,
so Paillier's addition mod n never wraps either.

Vectorised: each group is padded to a multiple of 8 slots so that it starts on a byte
boundary of :func:`secagg.bitpack.pack`'s output; one big-endian-free integer
conversion per plaintext remains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.bitpack import pack, unpack
from secagg.errors import BitBudgetError, DecodeError, InputError
from secagg.quantize import QuantizationConfig

_GROUP = 8  # bitpack's byte-aligned group of elements


@dataclass(frozen=True)
class PackingConfig:
    """Slots of ``slot_bits`` bits packed below an n of ``key_bits`` bits.

    Raises BitBudgetError when not even one slot fits below n (an impossible budget).
    """

    slot_bits: int
    key_bits: int

    def __post_init__(self) -> None:
        if not 1 <= self.slot_bits <= 64:
            raise BitBudgetError(f"slot width {self.slot_bits} outside 1..64 bits")
        if self.slots < 1:
            raise BitBudgetError(
                f"a {self.slot_bits}-bit slot does not fit below a {self.key_bits}-bit n"
            )

    @classmethod
    def for_budget(cls, quantization: QuantizationConfig, key_bits: int) -> PackingConfig:
        """Slots as wide as the budget's k = b + log2(n_max w_max) (same rule as masking)."""
        return cls(slot_bits=quantization.k, key_bits=key_bits)

    @property
    def slots(self) -> int:
        """The slots per plaintext, s with s * k <= bits(n) - 1 (every packed sum is below n)."""
        return (self.key_bits - 1) // self.slot_bits

    def plaintexts(self, length: int) -> int:
        """Plaintexts (= ciphertexts) needed for a protected vector of ``length``."""
        return -(-length // self.slots)

    @property
    def _row_slots(self) -> int:
        return -(-self.slots // _GROUP) * _GROUP

    @property
    def _row_bytes(self) -> int:
        return self._row_slots * self.slot_bits // 8


def pack_slots(values: npt.NDArray[np.unsignedinteger], config: PackingConfig) -> list[int]:
    """Pack a 1-D unsigned vector (elements below 2^k) into plaintexts below 2^(s k).

    Raises InputError for a non-vector or an element that does not fit its slot.
    """
    if values.ndim != 1 or values.dtype.kind != "u":
        raise InputError("pack_slots expects a 1-D unsigned integer vector")
    count = config.plaintexts(values.size)
    grid = np.zeros((count, config._row_slots), dtype=np.uint64)
    flat = np.zeros(count * config.slots, dtype=np.uint64)
    flat[: values.size] = values
    grid[:, : config.slots] = flat.reshape(count, config.slots)
    data = pack(grid.reshape(-1), config.slot_bits)  # raises InputError on overflow
    width = config._row_bytes
    return [int.from_bytes(data[j * width : (j + 1) * width], "little") for j in range(count)]


def unpack_slots(
    plaintexts: list[int], length: int, config: PackingConfig
) -> npt.NDArray[np.uint64]:
    """Inverse of :func:`pack_slots` for ``length`` elements.

    Raises DecodeError if the count is wrong or a plaintext has bits beyond its s slots
    or beyond ``length`` (a sum that overflowed its budget, or a corrupted aggregate).
    """
    if len(plaintexts) != config.plaintexts(length):
        raise DecodeError(f"{len(plaintexts)} plaintexts for {length} elements")
    limit = 1 << (config.slots * config.slot_bits)
    width = config._row_bytes
    chunks = []
    for m in plaintexts:
        if not 0 <= m < limit:
            raise DecodeError("plaintext exceeds its slots: the sum overflowed its budget")
        chunks.append(int(m).to_bytes(width, "little"))
    grid = unpack(b"".join(chunks), len(plaintexts) * config._row_slots, config.slot_bits)
    flat = grid.astype(np.uint64).reshape(len(plaintexts), -1)[:, : config.slots].reshape(-1)
    if flat[length:].any():
        raise DecodeError("nonzero value in a padding slot")
    return flat[:length].copy()
