"""The mask PRG: a seed expanded into an exactly uniform vector over Z_{2^k}.

Security property: for a uniformly random 128- or 256-bit seed, the output is
computationally indistinguishable from a uniform vector in Z_{2^k}^n. It is AES-CTR
keystream (OpenSSL through ``cryptography``) read as little-endian words of 32 bits
(k <= 32) or 64 bits (k <= 64) and reduced mod 2^k by masking the high bits, which
keeps the distribution exactly uniform because 2^k divides the word range.

The counter block is derived from ``context`` (the session id and the use), so one seed
never yields the same keystream in two sessions or for two uses.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from secagg.errors import ConfigurationError, CryptoError

SEED_SIZES = (16, 32)
MAX_BITS = 64


def mask_dtype(bits: int) -> type[np.unsignedinteger]:
    """The unsigned dtype that holds Z_{2^bits}: uint32 up to 32 bits, else uint64."""
    if not 1 <= bits <= MAX_BITS:
        raise ConfigurationError(f"modulus bits must be in 1..64, got {bits}")
    return np.uint32 if bits <= 32 else np.uint64


def keystream_bytes(n: int, bits: int) -> int:
    """Keystream bytes consumed by :func:`expand` for ``n`` elements (for benchmarks)."""
    return n * np.dtype(mask_dtype(bits)).itemsize


def _counter_block(context: bytes) -> bytes:
    return hashlib.sha256(b"secagg/v1/prg-counter" + context).digest()[:16]


def expand(seed: bytes, n: int, bits: int, context: bytes) -> npt.NDArray[np.unsignedinteger]:
    """Expand ``seed`` (16 or 32 bytes) into ``n`` uniform elements of Z_{2^bits}.

    Returns a fresh writable array of dtype :func:`mask_dtype` ``(bits)``.
    Raises CryptoError for a seed of the wrong size, ConfigurationError for bad bits.
    """
    dtype = mask_dtype(bits)
    if len(seed) not in SEED_SIZES:
        raise CryptoError(f"PRG seed must be 16 or 32 bytes, got {len(seed)}")
    if n < 0:
        raise ConfigurationError("vector length must be non-negative")
    itemsize = np.dtype(dtype).itemsize
    encryptor = Cipher(algorithms.AES(seed), modes.CTR(_counter_block(context))).encryptor()
    out = np.empty(n * itemsize + 15, dtype=np.uint8)  # update_into wants block slack
    written = encryptor.update_into(bytes(n * itemsize), out)
    if written != n * itemsize:
        raise CryptoError("short keystream")  # CTR mode never buffers; defensive
    # Little-endian on every platform, so the same seed gives the same mask everywhere.
    words = out[: n * itemsize].view(np.dtype(dtype).newbyteorder("<"))
    if words.dtype != np.dtype(dtype):
        words = words.astype(dtype)
    if bits not in (32, 64):
        words &= dtype((1 << bits) - 1)
    return words
