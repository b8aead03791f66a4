"""Double masking: y_u = x_u + PRG(b_u) + sum_{v in N(u)} sign(u, v) * PRG(s_uv)  mod 2^k.

sign(u, v) is +1 when u < v and -1 otherwise, so the pairwise masks of two live
neighbours cancel in the sum; the server removes the self masks of survivors (from
reconstructed b_u) and the dangling pairwise masks of dropped clients (from their
reconstructed s_u^SK). All arithmetic wraps in uint32/uint64 and is reduced mod 2^k once.

Seeds are 128 bits (AES-128-CTR): X25519 gives about 128-bit security, so a longer mask
key would add cost without adding security. Every seed is derived through HKDF with the
session id, so masks never repeat across rounds.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from secagg.primitives.keyagreement import KeyPair, Label, derive_key
from secagg.primitives.prg import accumulate

Vector = npt.NDArray[np.unsignedinteger]


SEED_BYTES = 16


def pairwise_seed(keys: KeyPair, peer_public: bytes, session: bytes) -> bytes:
    """s_uv: the 128-bit seed two neighbours share, bound to the session."""
    shared = keys.agree(peer_public)
    return derive_key(shared, label=Label.PAIRWISE_MASK, session_id=session, length=SEED_BYTES)


def self_mask_seed(b_u: bytes, session: bytes) -> bytes:
    """The 128-bit PRG key of b_u (a 32-byte Shamir-shared secret), bound to the session."""
    return derive_key(b_u, label=Label.SELF_MASK, session_id=session, length=SEED_BYTES)


class MaskTerm:
    """One mask to add to an accumulator: sign * PRG(seed) with a per-use context."""

    __slots__ = ("context", "seed", "sign")

    def __init__(self, seed: bytes, context: bytes, sign: int) -> None:
        self.seed, self.context, self.sign = seed, context, sign


def self_mask(b_u: bytes, session: bytes, owner: int, sign: int) -> MaskTerm:
    """+-PRG(b_owner)."""
    context = Label.SELF_MASK.value + session + struct.pack(">I", owner)
    return MaskTerm(self_mask_seed(b_u, session), context, sign)


def pairwise_mask(seed: bytes, session: bytes, me: int, peer: int, sign: int) -> MaskTerm:
    """sign * sign(me, peer) * PRG(s_{me,peer}): ``sign`` = +1 masks, -1 unmasks."""
    context = Label.PAIRWISE_MASK.value + session + struct.pack(">II", min(me, peer), max(me, peer))
    return MaskTerm(seed, context, sign if me < peer else -sign)


def apply(acc: Vector, terms: Iterable[MaskTerm], bits: int) -> Vector:
    """acc += every term, then reduce mod 2^bits; in place, chunked for the cache."""
    accumulate(acc, [(t.seed, t.context, t.sign) for t in terms], bits=bits)
    return acc


def masked(
    vector: Vector, terms: Iterable[MaskTerm], bits: int, out: Vector | None = None
) -> Vector:
    """(vector + every term) mod 2^bits, written to ``out`` (a new vector when None) and
    returned; ``vector`` is left as it was."""
    if out is None:
        out = np.empty_like(vector)
    accumulate(out, [(t.seed, t.context, t.sign) for t in terms], source=vector, bits=bits)
    return out


def self_seed_commitment(b_u: bytes, session: bytes, owner: int) -> bytes:
    """SHA-256 commitment to b_u, sent to the server with the shares.

    It lets the server check the b_u it reconstructs (a corrupt share cannot silently
    corrupt the sum). b_u is 256 uniform bits, so the hash reveals nothing a guess
    could confirm.
    """
    return hashlib.sha256(
        b"secagg/v1/self-seed-commitment" + session + struct.pack(">I", owner) + b_u
    ).digest()
