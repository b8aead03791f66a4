"""Cost floors: the work a round cannot avoid, measured in the same process as the round.

A round's CPU time divided by its floor stays meaningful on a shared, noisy machine,
because both are measured side by side under the same load.

- Masking: generating the same keystream bytes and adding them into one accumulator;
  and, where asked, the same number of X25519 agreements (two per neighbour pair).
- Paillier: the same number of modular exponentiations at the same sizes, each done the
  way the protocol does it: the packed protocol's DJN encryptions are fixed-base
  exponentiations with a window table (one table per client, then one multiplication
  mod n^2 per window per ciphertext); phe's are full exponentiations; decryptions are two
  half-size CRT exponentiations per ciphertext; the server's homomorphic additions are
  one multiplication mod n^2 per ciphertext received.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import gmpy2
import numpy as np

from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.keyagreement import KeyPair
from secagg.primitives.prg import accumulate, mask_dtype


def keystream_floor(vectors: int, dim: int, bits: int, entropy: Entropy = system_entropy) -> float:
    """CPU seconds to generate ``vectors`` keystreams of ``dim`` elements of Z_{2^bits}.

    Uses the protocol's own chunked AES-CTR path (with the additions into one
    accumulator, which the protocol cannot avoid either).
    """
    acc = np.zeros(dim, dtype=mask_dtype(bits))
    terms = [(entropy(16), b"floor", 1) for _ in range(vectors)]
    start = time.thread_time()
    accumulate(acc, terms)
    return time.thread_time() - start


def agreement_floor(count: int, sample: int = 512) -> float:
    """CPU seconds for ``count`` X25519 agreements (peer key parsed, then exchanged, as
    the protocol does), timed on ``sample`` fresh peer keys and scaled to the count."""
    if count <= 0:
        return 0.0
    mine = KeyPair.generate()
    peers = [KeyPair.generate().public for _ in range(min(sample, count))]
    start = time.thread_time()
    for peer in peers:
        mine.agree(peer)
    return (time.thread_time() - start) * count / len(peers)


@dataclass(frozen=True)
class Exponentiations:
    """``count`` exponentiations modulo a ``modulus_size``-bit odd number with
    ``exponent_size``-bit exponents."""

    count: int
    modulus_size: int
    exponent_size: int


def exponentiation_floor(
    work: list[Exponentiations], sample: int = 64, entropy: Entropy = system_entropy
) -> float:
    """CPU seconds for every exponentiation in ``work`` with gmpy2.powmod.

    Times ``min(sample, count)`` random exponentiations of each size and scales by
    count / measured, so that a floor of millions of exponentiations costs seconds.
    """
    total = 0.0
    for item in work:
        if item.count <= 0:
            continue
        measured = min(sample, item.count)
        modulus = gmpy2.mpz(int.from_bytes(entropy(item.modulus_size // 8 + 1), "big"))
        modulus = gmpy2.bit_set(modulus % (gmpy2.mpz(1) << item.modulus_size), 0)
        modulus = gmpy2.bit_set(modulus, item.modulus_size - 1)
        pairs = [
            (
                gmpy2.mpz(int.from_bytes(entropy(item.modulus_size // 8), "big")) % modulus,
                gmpy2.mpz(int.from_bytes(entropy(item.exponent_size // 8 + 1), "big"))
                >> (8 - item.exponent_size % 8 if item.exponent_size % 8 else 8),
            )
            for _ in range(measured)
        ]
        start = time.thread_time()
        for base, exponent in pairs:
            gmpy2.powmod(base, exponent, modulus)
        total += (time.thread_time() - start) * item.count / measured
    return total


def multiplication_floor(
    count: int, modulus_size: int, sample: int = 2048, entropy: Entropy = system_entropy
) -> float:
    """CPU seconds for ``count`` multiplications modulo a ``modulus_size``-bit number.

    Times ``min(sample, count)`` of them (a * b % m with gmpy2) and scales by count.
    """
    if count <= 0:
        return 0.0
    measured = min(sample, count)
    modulus = gmpy2.bit_set(
        gmpy2.mpz(int.from_bytes(entropy(modulus_size // 8), "big")), modulus_size - 1
    )
    values = [
        gmpy2.mpz(int.from_bytes(entropy(modulus_size // 8), "big")) % modulus
        for _ in range(measured + 1)
    ]
    start = time.thread_time()
    for a, b in itertools.pairwise(values):
        a * b % modulus  # the work being timed
    return (time.thread_time() - start) * count / measured
