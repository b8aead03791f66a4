"""Packing vectors over Z_{2^k} into exactly ceil(n * k / 8) bytes, little-endian bit order.

Element i occupies bits [i*k, (i+1)*k) of the byte string (bit 0 = least significant
bit of byte 0). Unused high bits of the last byte must be zero; :func:`unpack` rejects
anything else, so every vector has exactly one encoding.

Vectorised by groups: 8 consecutive elements fill exactly k bytes, so the loop runs over
the 8 positions inside a group, never over elements.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from secagg.errors import DecodeError, InputError
from secagg.primitives.prg import mask_dtype

_U64 = np.uint64


def packed_size(n: int, bits: int) -> int:
    """Bytes taken by ``n`` elements of ``bits`` bits."""
    return (n * bits + 7) // 8


def _layout(bits: int) -> tuple[int, int, int]:
    group = 8  # 8 elements of k bits are exactly k bytes
    group_bytes = bits
    words = (group_bytes + 7) // 8  # 64-bit words covering one group
    return group, group_bytes, words


def pack(values: npt.NDArray[np.unsignedinteger], bits: int) -> bytes:
    """Pack a 1-D unsigned vector whose elements are all below 2^bits.

    Raises InputError for a non-vector, a signed dtype, or an element >= 2^bits.
    """
    mask_dtype(bits)  # validates bits
    if values.ndim != 1 or values.dtype.kind != "u":
        raise InputError("pack expects a 1-D unsigned integer vector")
    if bits < 64 and values.size and int(values.max()) >> bits:
        raise InputError(f"element does not fit in {bits} bits")
    n = values.size
    group, group_bytes, words = _layout(bits)
    padded = np.zeros(-(-n // group) * group, dtype=_U64)
    padded[:n] = values
    grid = padded.reshape(-1, group)
    out = np.zeros((grid.shape[0], words), dtype=_U64)
    for j in range(group):
        start = j * bits
        word, offset = divmod(start, 64)
        out[:, word] |= grid[:, j] << _U64(offset)
        if offset + bits > 64:
            out[:, word + 1] |= grid[:, j] >> _U64(64 - offset)
    raw = out.astype("<u8", copy=False).view(np.uint8).reshape(-1, words * 8)
    return raw[:, :group_bytes].tobytes()[: packed_size(n, bits)]


def unpack(data: bytes, n: int, bits: int) -> npt.NDArray[np.unsignedinteger]:
    """Inverse of :func:`pack`. Raises DecodeError on a wrong length or nonzero padding."""
    dtype = mask_dtype(bits)
    if len(data) != packed_size(n, bits):
        raise DecodeError(f"packed vector is {len(data)} bytes, expected {packed_size(n, bits)}")
    if (n * bits) % 8 and data[-1] >> ((n * bits) % 8):
        raise DecodeError("nonzero padding bits in packed vector")
    group, group_bytes, words = _layout(bits)
    groups = -(-n // group)
    raw = np.zeros((groups, words * 8), dtype=np.uint8)
    flat = np.frombuffer(data, dtype=np.uint8)
    full = len(data) // group_bytes
    raw[:full, :group_bytes] = flat[: full * group_bytes].reshape(full, group_bytes)
    tail = flat[full * group_bytes :]
    if tail.size:
        raw[full, : tail.size] = tail
    grid = raw.view("<u8").astype(_U64, copy=False)
    out = np.empty((groups, group), dtype=_U64)
    keep = _U64((1 << bits) - 1) if bits < 64 else _U64(2**64 - 1)
    for j in range(group):
        word, offset = divmod(j * bits, 64)
        col = grid[:, word] >> _U64(offset)
        if offset + bits > 64:
            col |= grid[:, word + 1] << _U64(64 - offset)
        out[:, j] = col & keep
    return out.reshape(-1)[:n].astype(dtype)
