"""CRT decryption of many Paillier ciphertexts, optionally spread over a process pool.

Raw Paillier arithmetic for the key holder: you probably want
:class:`secagg.paillier.protocol.KeyHolder` instead.

With g = n + 1, m = CRT(m_p, m_q) where m_p = L_p(c^(p-1) mod p^2) * h_p mod p and
h_p = L_p(g^(p-1) mod p^2)^-1 mod p (likewise for q); each half works mod p^2 with a
bits(p)-bit exponent, about 4x cheaper than one exponentiation mod n^2.

Pool workers receive the factors as plain integers over a local pipe (the process
boundary of one machine, never the wire). There is no timing here: a harness that wants
the workers' CPU time reads it from the operating system (``RUSAGE_CHILDREN``).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence

import gmpy2

from secagg.errors import ConfigurationError
from secagg.paillier.keys import PrivateKey

POOL_MIN_CIPHERTEXTS = 256  # below this, starting processes costs more than it saves


def _half(prime: gmpy2.mpz, n: gmpy2.mpz) -> tuple[gmpy2.mpz, gmpy2.mpz, gmpy2.mpz]:
    square = prime * prime
    g_pow = (1 + (prime - 1) * n) % square  # (1 + n)^(p-1) mod p^2 by the binomial theorem
    h = gmpy2.invert((g_pow - 1) // prime, prime)
    return square, prime - 1, h


def _decrypt_chunk(p: int, q: int, ciphertexts: Sequence[int]) -> list[int]:
    """Decrypt ``ciphertexts``."""
    pm, qm = gmpy2.mpz(p), gmpy2.mpz(q)
    n = pm * qm
    p2, pe, hp = _half(pm, n)
    q2, qe, hq = _half(qm, n)
    p_inv = gmpy2.invert(pm, qm)
    out = []
    for c in ciphertexts:
        cm = gmpy2.mpz(c)
        mp = (gmpy2.powmod(cm % p2, pe, p2) - 1) // pm * hp % pm
        mq = (gmpy2.powmod(cm % q2, qe, q2) - 1) // qm * hq % qm
        out.append(int(mp + pm * ((mq - mp) * p_inv % qm)))
    return out


def decrypt_many(key: PrivateKey, ciphertexts: Sequence[int], *, workers: int = 1) -> list[int]:
    """Decrypt every ciphertext (already validated) with CRT, on ``workers`` processes.

    Returns the plaintexts in order. Raises ConfigurationError for workers < 1.
    """
    if workers < 1:
        raise ConfigurationError("workers must be at least 1")
    values = [int(c) for c in ciphertexts]
    if workers == 1 or len(values) < POOL_MIN_CIPHERTEXTS:
        return _decrypt_chunk(key.p, key.q, values)
    parts = 4 * workers  # several chunks per worker even out uneven progress
    size = -(-len(values) // parts)
    chunks = [values[i : i + size] for i in range(0, len(values), size)]
    plaintexts: list[int] = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_decrypt_chunk, key.p, key.q, chunk) for chunk in chunks]
        for future in futures:  # in submission order, so plaintexts stay in order
            plaintexts.extend(future.result())
    return plaintexts
