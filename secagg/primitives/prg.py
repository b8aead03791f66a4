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
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from secagg.errors import ConfigurationError, CryptoError

SEED_SIZES = (16, 32)  # AES-128 or AES-256
MAX_BITS = 64
CHUNK_ELEMENTS = 1 << 15  # 128-256 KiB of keystream per step: stays in L2 cache


def mask_dtype(bits: int) -> type[np.unsignedinteger]:
    """The unsigned dtype that holds Z_{2^bits}: uint32 up to 32 bits, else uint64."""
    if not 1 <= bits <= MAX_BITS:
        raise ConfigurationError(f"modulus bits must be in 1..64, got {bits}")
    return np.uint32 if bits <= 32 else np.uint64


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
    written = encryptor.update_into(bytes(n * itemsize), out.data)
    if written != n * itemsize:
        raise CryptoError("short keystream")  # CTR mode never buffers; defensive
    # Little-endian on every platform, so the same seed gives the same mask everywhere.
    words = out[: n * itemsize].view(np.dtype(dtype).newbyteorder("<"))
    if words.dtype != np.dtype(dtype):
        words = words.astype(dtype)
    if bits not in (32, 64):
        words &= dtype((1 << bits) - 1)
    return words


class Keystream:
    """The words of ``expand(seed, n, 32 or 64, context)`` in successive pieces, for
    callers that walk a vector in cache-sized chunks: concatenating every
    :meth:`next_words` result gives exactly ``expand``'s output.

    Raises CryptoError for a seed of the wrong size.
    """

    def __init__(self, seed: bytes, context: bytes, dtype: type[np.unsignedinteger]) -> None:
        self._encryptor = _stream(seed, context)
        self._le = np.dtype(dtype).newbyteorder("<")
        self._itemsize = np.dtype(dtype).itemsize
        self._zeros = bytes(CHUNK_ELEMENTS * self._itemsize)
        self._scratch = np.empty(CHUNK_ELEMENTS * self._itemsize + 15, dtype=np.uint8)

    def next_words(self, count: int) -> npt.NDArray[np.unsignedinteger]:
        """The next ``count`` (at most CHUNK_ELEMENTS) words, little-endian, as a view
        valid until the next call."""
        if not 0 <= count <= CHUNK_ELEMENTS:
            raise ConfigurationError(f"at most {CHUNK_ELEMENTS} words per call")
        nbytes = count * self._itemsize
        self._encryptor.update_into(self._zeros[:nbytes], self._scratch.data)
        words: npt.NDArray[np.unsignedinteger] = self._scratch[:nbytes].view(self._le)
        return words


def _stream(seed: bytes, context: bytes) -> CipherContext:
    if len(seed) not in SEED_SIZES:
        raise CryptoError(f"PRG seed must be 16 or 32 bytes, got {len(seed)}")
    return Cipher(algorithms.AES(seed), modes.CTR(_counter_block(context))).encryptor()


def accumulate(
    acc: npt.NDArray[np.unsignedinteger],
    terms: Sequence[tuple[bytes, bytes, int]],
    *,
    source: npt.NDArray[np.unsignedinteger] | None = None,
    bits: int | None = None,
) -> None:
    """acc += sum(sign * expand(seed, len(acc), bits, context)) in the dtype's wrap-around.

    ``terms`` holds (seed, context, sign) with sign +1 or -1. Equivalent to expanding
    each term and adding it, but walks the vector in cache-sized chunks so that each
    chunk of keystream is added while still in cache. With ``source``, each chunk of
    ``acc`` is first set to ``source`` (acc = source + masks, without a separate copy);
    with ``bits``, each chunk is reduced mod 2^bits at the end, else the caller reduces.
    """
    if acc.ndim != 1 or acc.dtype not in (np.dtype(np.uint32), np.dtype(np.uint64)):
        raise ConfigurationError("accumulator must be a 1-D uint32 or uint64 vector")
    if source is not None and (source.shape != acc.shape or source.dtype != acc.dtype):
        raise ConfigurationError("source must have the accumulator's shape and dtype")
    if any(sign not in (1, -1) for _, _, sign in terms):
        raise ConfigurationError("mask signs must be +1 or -1")
    keep = None if bits is None or bits == 8 * acc.dtype.itemsize else (1 << bits) - 1
    streams = [(_stream(seed, context), sign) for seed, context, sign in terms]
    itemsize = acc.dtype.itemsize
    le = acc.dtype.newbyteorder("<")
    zeros = bytes(CHUNK_ELEMENTS * itemsize)
    scratch = np.empty(CHUNK_ELEMENTS * itemsize + 15, dtype=np.uint8)
    for start in range(0, acc.size, CHUNK_ELEMENTS):
        part = acc[start : start + CHUNK_ELEMENTS]
        # The first term reads ``source`` directly, which saves a copy pass.
        base = part if source is None else source[start : start + CHUNK_ELEMENTS]
        if not streams:
            part[...] = base
        nbytes = part.size * itemsize
        words = scratch[:nbytes].view(le)
        for encryptor, sign in streams:
            encryptor.update_into(zeros[:nbytes], scratch.data)
            combine = np.add if sign > 0 else np.subtract
            combine(base, words, out=part, casting="unsafe")
            base = part
        if keep is not None:
            part &= acc.dtype.type(keep)
