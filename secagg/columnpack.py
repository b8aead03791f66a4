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

import sys

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


def workspace(n: int, bits: int) -> Vector:
    """A fresh W * m element vector of dtype ``mask_dtype(bits)`` with zero padding.

    Write the ``n`` elements into ``workspace[:n]``, then :func:`pack_in_place` packs
    them within the same memory: no second vector-sized buffer is allocated per message
    (on a fresh allocation, first-touch page faults cost more than the packing).
    """
    dtype, width, m = _shape(n, bits)
    buffer: Vector = np.empty(width * m, dtype=dtype)
    buffer[n:] = 0
    return buffer


def pack_in_place(buffer: Vector, bits: int) -> memoryview:
    """Pack a :func:`workspace` whose elements are all below 2^bits, overwriting it.

    Returns a read-only view of the packed bytes, which are the start of ``buffer``;
    ``buffer`` must not be used afterwards. The caller guarantees the range (the masking
    client reduces mod 2^bits as it masks; :func:`pack` checks it). Raises InputError
    for a buffer of another dtype or a size that is not a multiple of W.
    """
    dtype, width, _ = _shape(0, bits)
    if buffer.ndim != 1 or buffer.dtype != np.dtype(dtype) or buffer.size % width:
        raise InputError(f"pack_in_place expects a workspace of {np.dtype(dtype)}")
    rows = buffer.reshape(width, -1)
    # Words overwrite rows that are already consumed: row j writes only words w and
    # w + 1 with w = floor(j k / W) <= j, and w + 1 <= j when it spills (a spill needs
    # k < W and j >= 1, so j k / W < j); a write to word j itself happens only after row
    # j has been read. Every word receives at least one row: the first assigns, the rest
    # OR in.
    spill = np.empty(rows.shape[1], dtype=dtype)
    started = [False] * bits
    for j, w, offset, spills in _layout(bits, width):
        if w == j and offset == 0:  # row 0, or every row when k = W: already in place
            started[w] = True
        elif started[w]:
            np.left_shift(rows[j], dtype(offset), out=spill)
            rows[w] |= spill
        else:
            np.left_shift(rows[j], dtype(offset), out=rows[w])
            started[w] = True
        if spills:
            np.right_shift(rows[j], dtype(width - offset), out=rows[w + 1])
            started[w + 1] = True
    words = rows[:bits]
    if sys.byteorder == "big":  # the wire is little-endian; the workspace is native
        words.byteswap(inplace=True)
    return memoryview(words.reshape(-1).view(np.uint8).data).toreadonly()


def pack(values: Vector, bits: int) -> memoryview:
    """Pack a 1-D vector of dtype ``mask_dtype(bits)`` whose elements are below 2^bits.

    Returns a read-only view of freshly packed bytes; ``values`` is left as it was.
    Raises InputError for a non-vector, another dtype, or an element >= 2^bits.
    """
    dtype, width, _ = _shape(values.size, bits)
    if values.ndim != 1 or values.dtype != np.dtype(dtype):
        raise InputError(f"pack expects a 1-D {np.dtype(dtype)} vector")
    if bits < width and values.size and int(values.max()) >> bits:
        raise InputError(f"element does not fit in {bits} bits")
    buffer = workspace(values.size, bits)
    buffer[: values.size] = values
    return pack_in_place(buffer, bits)


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


class PackedSum:
    """A running sum mod 2^bits of packed vectors of ``n`` elements, each added without
    being unpacked first. Memory is one W * m work vector, however many are added."""

    def __init__(self, n: int, bits: int) -> None:
        dtype, width, m = _shape(n, bits)
        self.n, self.bits = n, bits
        self._layout = _layout(bits, width)
        # Row j of V summed over the payloads. Bits at and above ``bits`` are left
        # undefined, which lets each packed word be added shifted without clearing the
        # neighbouring element's bits first: those only ever land at or above ``bits``.
        self._rows = np.zeros((width, m), dtype=dtype)
        self._part = np.empty(m, dtype=dtype)
        self._shift = [(dtype(offset), dtype(width - offset)) for _, _, offset, _ in self._layout]

    def add(self, payload: bytes | memoryview) -> None:
        """Add one packed vector. Raises DecodeError on a wrong length; the padding must
        already have passed :func:`check` (else the padding elements' sum is polluted,
        never the n elements')."""
        words, _, _ = _words(payload, self.n, self.bits)
        rows, part = self._rows, self._part
        for (j, w, _, spills), (right, left) in zip(self._layout, self._shift, strict=True):
            np.right_shift(words[w], right, out=part)
            rows[j] += part
            if spills:
                # Bits [0, W - offset) of the row came from word w; the rest from w + 1.
                np.left_shift(words[w + 1], left, out=part)
                rows[j] += part

    def vector(self) -> Vector:
        """The sum so far, reduced mod 2^bits in place (which leaves the sum mod 2^bits
        as it was): a view of this object's memory, so later :meth:`add` calls change it."""
        out: Vector = self._rows.reshape(-1)[: self.n]
        if self.bits < 8 * out.dtype.itemsize:
            out &= out.dtype.type((1 << self.bits) - 1)
        return out
