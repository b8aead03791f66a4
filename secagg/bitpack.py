"""Packing vectors over Z_{2^k} into exactly ceil(n * k / 8) bytes, little-endian bit order.

Element i occupies bits [i*k, (i+1)*k) of the byte string (bit 0 = least significant
bit of byte 0). Unused high bits of the last byte must be zero; :func:`unpack` rejects
anything else, so every vector has exactly one encoding.

Vectorised by groups: 8 consecutive elements fill exactly k bytes, so the inner loop
runs over the 8 positions of a group, never over elements; the vector is walked in
cache-sized chunks so that no temporary leaves the cache.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from secagg.errors import DecodeError, InputError
from secagg.primitives.prg import mask_dtype

_U64 = np.uint64
_GROUP = 8  # elements per group: 8 elements of k bits are exactly k bytes
_CHUNK = 1 << 15  # elements per chunk (a multiple of _GROUP)


def packed_size(n: int, bits: int) -> int:
    """Bytes taken by ``n`` elements of ``bits`` bits."""
    return (n * bits + 7) // 8


def _positions(bits: int) -> list[tuple[int, int, bool]]:
    """For each element of a group: (64-bit word, bit offset, spills into the next word)."""
    return [(*divmod(j * bits, 64), (j * bits) % 64 + bits > 64) for j in range(_GROUP)]


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
    words = (bits + 7) // 8
    layout = _positions(bits)
    out = bytearray(packed_size(n, bits))
    for start in range(0, n, _CHUNK):
        part = values[start : start + _CHUNK]
        rows = -(-part.size // _GROUP)
        cols = np.zeros((_GROUP, rows), dtype=_U64)
        full = part.size // _GROUP
        cols[:, :full] = part[: full * _GROUP].reshape(full, _GROUP).T
        if part.size % _GROUP:
            cols[: part.size % _GROUP, full] = part[full * _GROUP :]
        acc = np.zeros((words, rows), dtype=_U64)
        for j, (word, offset, spills) in enumerate(layout):
            acc[word] |= cols[j] << _U64(offset)
            if spills:
                acc[word + 1] |= cols[j] >> _U64(64 - offset)
        raw = np.ascontiguousarray(acc.T).astype("<u8", copy=False).view(np.uint8)
        chunk = raw.reshape(rows, words * 8)[:, :bits].tobytes()
        first = start * bits // 8
        size = packed_size(part.size, bits)
        out[first : first + size] = chunk[:size]
    return bytes(out)


def unpack(data: bytes, n: int, bits: int) -> npt.NDArray[np.unsignedinteger]:
    """Inverse of :func:`pack`. Raises DecodeError on a wrong length or nonzero padding."""
    dtype = mask_dtype(bits)
    if len(data) != packed_size(n, bits):
        raise DecodeError(f"packed vector is {len(data)} bytes, expected {packed_size(n, bits)}")
    if (n * bits) % 8 and data[-1] >> ((n * bits) % 8):
        raise DecodeError("nonzero padding bits in packed vector")
    words = (bits + 7) // 8
    layout = _positions(bits)
    keep = _U64((1 << bits) - 1) if bits < 64 else _U64(2**64 - 1)
    flat = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(n, dtype=dtype)
    for start in range(0, n, _CHUNK):
        count = min(_CHUNK, n - start)
        rows = -(-count // _GROUP)
        first = start * bits // 8
        chunk = flat[first : first + packed_size(count, bits)]
        raw = np.zeros((rows, words * 8), dtype=np.uint8)
        full = chunk.size // bits
        raw[:full, :bits] = chunk[: full * bits].reshape(full, bits)
        if chunk.size % bits:
            raw[full, : chunk.size % bits] = chunk[full * bits :]
        grid = np.ascontiguousarray(raw.view("<u8").T).astype(_U64, copy=False)
        cols = np.empty((_GROUP, rows), dtype=_U64)
        for j, (word, offset, spills) in enumerate(layout):
            np.right_shift(grid[word], _U64(offset), out=cols[j])
            if spills:
                cols[j] |= grid[word + 1] << _U64(64 - offset)
            cols[j] &= keep
        out[start : start + count] = cols.T.reshape(-1)[:count]
    return out
