"""Column bit packing of masked vectors: k bits per element, no per-element work in Python.

The wire format of a masked vector y in Z_{2^k}^n (k <= 64). Let W be the word size of
the vector's dtype (32 for k <= 32, else 64), m = ceil(n / W), and pad y with zeros to
W * m elements. Read the padded vector as a W x m matrix V (row j is the contiguous
block y[j*m : (j+1)*m]). Column r of V, its W elements of k bits, packs into k words::

    O[0, r] + O[1, r] 2^W + ... + O[k-1, r] 2^{(k-1)W}  =  sum_j V[j, r] 2^{j k}

The packed bytes are the k x m word matrix O in row-major order, each word
little-endian: exactly 4 k m bytes (W = 32) or 8 k m bytes (W = 64), which is
ceil(n k / 8) plus less than W elements of padding. Padding elements must be zero,
so every vector has exactly one encoding.

Why not the sequential layout of :mod:`secagg.bitpack`: here every operation is a
shift, OR or add of two contiguous rows of m words, which numpy vectorises fully, and
the server can add packed vectors into its sum without unpacking each one first.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from secagg.errors import DecodeError, InputError
from secagg.primitives.prg import mask_dtype

Vector = npt.NDArray[np.unsignedinteger]


def _shape(n: int, bits: int) -> tuple[type[np.unsignedinteger], int, int]:
    """(dtype, W, m) for ``n`` elements of ``bits`` bits."""
    dtype = mask_dtype(bits)  # validates bits
    width = 8 * np.dtype(dtype).itemsize
    return dtype, width, -(-n // width)


def packed_size(n: int, bits: int) -> int:
    """Bytes of the packed form of ``n`` elements of ``bits`` bits."""
    dtype, _, m = _shape(n, bits)
    return bits * m * np.dtype(dtype).itemsize


def _layout(bits: int, width: int) -> list[tuple[int, int, int, bool]]:
    """For each row j of V: (j, first word, bit offset, spills into the next word)."""
    return [(j, *divmod(j * bits, width), (j * bits) % width + bits > width) for j in range(width)]


def pack(values: Vector, bits: int) -> memoryview:
    """Pack a 1-D vector of dtype ``mask_dtype(bits)`` whose elements are below 2^bits.

    Returns a read-only view of freshly packed bytes (no copy to ``bytes`` is made:
    the caller's message encoding copies them once).
    Raises InputError for a non-vector, another dtype, or an element >= 2^bits.
    """
    dtype, width, m = _shape(values.size, bits)
    if values.ndim != 1 or values.dtype != np.dtype(dtype):
        raise InputError(f"pack expects a 1-D {np.dtype(dtype)} vector")
    if bits < width and values.size and int(values.max()) >> bits:
        raise InputError(f"element does not fit in {bits} bits")
    if values.size == width * m:
        rows = np.ascontiguousarray(values).reshape(width, m)
    else:
        rows = np.zeros((width, m), dtype=dtype)
        rows.reshape(-1)[: values.size] = values
    words = np.empty((bits, m), dtype=dtype)
    spill = np.empty(m, dtype=dtype)
    started = [False] * bits
    for j, w, offset, spills in _layout(bits, width):
        # Every word receives at least one row; the first one assigns, the rest OR in.
        if started[w]:
            np.left_shift(rows[j], dtype(offset), out=spill)
            words[w] |= spill
        else:
            np.left_shift(rows[j], dtype(offset), out=words[w])
            started[w] = True
        if spills:
            np.right_shift(rows[j], dtype(width - offset), out=words[w + 1])
            started[w + 1] = True
    packed = words.astype(words.dtype.newbyteorder("<"), copy=False)
    return memoryview(packed.reshape(-1).view(np.uint8).data).toreadonly()


def _words(data: bytes | memoryview, n: int, bits: int) -> tuple[Vector, int, int]:
    """The k x m word matrix of ``data``; raises DecodeError on a wrong length."""
    dtype, width, m = _shape(n, bits)
    if len(data) != packed_size(n, bits):
        raise DecodeError(f"packed vector is {len(data)} bytes, expected {packed_size(n, bits)}")
    le = np.dtype(dtype).newbyteorder("<")
    words = np.frombuffer(data, dtype=le).reshape(bits, m)
    return (words if le == np.dtype(dtype) else words.astype(dtype)), width, m


def _row(words: Vector, j: int, bits: int, width: int) -> Vector:
    """Row j of V, exactly (high bits cleared)."""
    w, offset = divmod(j * bits, width)
    dtype = words.dtype.type
    row: Vector = words[w] >> dtype(offset)
    if offset + bits > width:
        row |= words[w + 1] << dtype(width - offset)
    if bits < width:
        row &= dtype((1 << bits) - 1)
    return row


def check(data: bytes | memoryview, n: int, bits: int) -> None:
    """Validate a packed vector without unpacking it: its length, and zero padding.

    Costs O(W) word operations on at most the rows that hold padding.
    Raises DecodeError.
    """
    words, width, m = _words(data, n, bits)
    for j in range(n // m if m else width, width):
        if np.any(_row(words, j, bits, width)[max(0, n - j * m) :]):
            raise DecodeError("nonzero padding in packed vector")


def unpack(data: bytes | memoryview, n: int, bits: int) -> Vector:
    """Inverse of :func:`pack`. Raises DecodeError on a wrong length or nonzero padding."""
    check(data, n, bits)
    words, width, m = _words(data, n, bits)
    out = np.empty((width, m), dtype=words.dtype)
    for j in range(width):
        out[j] = _row(words, j, bits, width)
    return out.reshape(-1)[:n]


def add_packed(acc: Vector, payloads: Iterable[bytes | memoryview], bits: int) -> Vector:
    """acc += sum of the unpacked ``payloads``, correct mod 2^bits; returns ``acc``.

    ``acc`` is a 1-D vector of dtype ``mask_dtype(bits)`` and length n. Each payload must
    already have passed :func:`check`. The bits of ``acc`` at and above ``bits`` are left
    undefined (the caller reduces mod 2^bits), which lets each packed word be added
    shifted, without clearing the neighbouring element's bits first: they only ever
    land at or above bit ``bits``.
    """
    dtype, width, m = _shape(acc.size, bits)
    if acc.ndim != 1 or acc.dtype != np.dtype(dtype):
        raise InputError(f"accumulator must be a 1-D {np.dtype(dtype)} vector")
    total = np.zeros((width, m), dtype=dtype)
    part = np.empty(m, dtype=dtype)
    layout = _layout(bits, width)
    for data in payloads:
        words, _, _ = _words(data, acc.size, bits)
        for j, w, offset, spills in layout:
            np.right_shift(words[w], dtype(offset), out=part)
            total[j] += part
            if spills:
                # Bits [0, width - offset) of the row came from word w; the rest from w + 1.
                np.left_shift(words[w + 1], dtype(width - offset), out=part)
                total[j] += part
    acc += total.reshape(-1)[: acc.size]
    return acc
