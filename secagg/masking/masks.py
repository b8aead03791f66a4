"""Double masking: y_u = x_u + PRG(b_u) + sum_{v in N(u)} sign(u, v) * PRG(s_uv)  mod 2^k.

sign(u, v) is +1 when u < v and -1 otherwise, so the pairwise masks of two live
neighbours cancel in the sum; the server removes the self masks of survivors (from
reconstructed b_u) and the dangling pairwise masks of dropped clients (from their
reconstructed s_u^SK). All arithmetic wraps in uint32/uint64 and is reduced mod 2^k once.
"""

from __future__ import annotations

import struct

import numpy as np
import numpy.typing as npt

from secagg.primitives.keyagreement import Label, agree, derive_key
from secagg.primitives.prg import expand, mask_dtype

Vector = npt.NDArray[np.unsignedinteger]


def zeros(dim: int, bits: int) -> Vector:
    """An accumulator in the dtype of Z_{2^bits}."""
    return np.zeros(dim, dtype=mask_dtype(bits))


def reduce(acc: Vector, bits: int) -> Vector:
    """Reduce an accumulator mod 2^bits in place (a no-op for 32 and 64 bits)."""
    if bits not in (32, 64):
        acc &= acc.dtype.type((1 << bits) - 1)
    return acc


def pairwise_seed(private: bytes, peer_public: bytes, session: bytes) -> bytes:
    """s_uv: the 256-bit seed two neighbours share, bound to the session."""
    return derive_key(agree(private, peer_public), label=Label.PAIRWISE_MASK, session_id=session)


def add_self_mask(acc: Vector, seed: bytes, session: bytes, owner: int, bits: int, sign: int) -> None:
    """acc += sign * PRG(b_owner)."""
    context = Label.SELF_MASK.value + session + struct.pack(">I", owner)
    _accumulate(acc, expand(seed, acc.size, bits, context), sign)


def add_pairwise_mask(
    acc: Vector, seed: bytes, session: bytes, me: int, peer: int, bits: int, sign: int
) -> None:
    """acc += sign * sign(me, peer) * PRG(s_{me,peer}): ``sign`` = +1 masks, -1 unmasks."""
    context = Label.PAIRWISE_MASK.value + session + struct.pack(">II", min(me, peer), max(me, peer))
    direction = sign if me < peer else -sign
    _accumulate(acc, expand(seed, acc.size, bits, context), direction)


def _accumulate(acc: Vector, mask: Vector, sign: int) -> None:
    if sign > 0:
        np.add(acc, mask, out=acc)
    else:
        np.subtract(acc, mask, out=acc)
