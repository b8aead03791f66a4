"""The randomized Hadamard rotation: spread a vector's mass evenly over its coordinates.

Before discretization each client multiplies its (zero-padded) update by random signs D
and by the orthonormal Walsh-Hadamard matrix H (size a power of two): y = H D x. The L2
norm is unchanged, so clipping and the privacy analysis are unaffected, while every
coordinate of y is about ||x||_2 / sqrt(d): that bounds the modular sum's range and makes
modular wrap-around unlikely (Kairouz, Liu, Steinke 2021, Sec. 4). The server inverts
it: x = D H y (H is its own inverse).

The signs come from a public per-round seed through the AES-CTR PRG: the rotation
protects against wrap-around, not against anyone, so everyone may know it. Security
property: none is claimed; correctness only (an exact orthonormal transform, in float64).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from secagg.errors import ConfigurationError, InputError
from secagg.primitives.prg import expand

Floats = npt.NDArray[np.float64]

_CONTEXT = b"secagg/v1/dp-rotation"


def padded_dim(dim: int) -> int:
    """The smallest power of two at or above ``dim`` (at least 1)."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ConfigurationError(f"dimension must be a positive integer, got {dim!r}")
    return 1 << (dim - 1).bit_length()


def hadamard(x: npt.ArrayLike) -> Floats:
    """The orthonormal fast Walsh-Hadamard transform of a vector whose length is a power
    of two: log2(n) vectorized butterfly passes. Raises InputError otherwise."""
    y = np.array(x, dtype=np.float64)  # a copy: the passes work in place
    n = y.size
    if y.ndim != 1 or n == 0 or n & (n - 1):
        raise InputError(f"the Hadamard transform needs a power-of-two length, got {n}")
    h = 1
    while h * 4 <= n:  # radix-4 butterflies: half the passes over memory
        quad = y.reshape(-1, 4, h)
        a, b, c, d = quad[:, 0, :], quad[:, 1, :], quad[:, 2, :], quad[:, 3, :]
        s0, s1, s2, s3 = a + b, a - b, c + d, c - d
        np.add(s0, s2, out=a)
        np.add(s1, s3, out=b)
        np.subtract(s0, s2, out=c)
        np.subtract(s1, s3, out=d)
        h *= 4
    if h < n:
        pair = y.reshape(-1, 2, h)
        a, b = pair[:, 0, :], pair[:, 1, :]
        diff = a - b
        a += b
        b[...] = diff
    y *= 1.0 / np.sqrt(n)
    return y


def signs(seed: bytes, n: int) -> Floats:
    """n random signs in {-1, +1} from the 32-byte public ``seed``."""
    bits = expand(seed, n, 8, _CONTEXT) & 1
    return 1.0 - 2.0 * bits.astype(np.float64)


def rotate(x: npt.ArrayLike, seed: bytes, padded: int) -> Floats:
    """H D [x, 0...]: ``x`` zero-padded to ``padded`` (a power of two) and rotated."""
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.size > padded:
        raise InputError(f"a vector of {v.size} does not fit the rotation of {padded}")
    full = np.zeros(padded)
    full[: v.size] = v
    return hadamard(full * signs(seed, padded))


def unrotate(y: npt.ArrayLike, seed: bytes, dim: int) -> Floats:
    """D H y, cut back to the first ``dim`` coordinates (the inverse of :func:`rotate`)."""
    v = np.asarray(y, dtype=np.float64)
    return (hadamard(v) * signs(seed, v.size))[:dim]
