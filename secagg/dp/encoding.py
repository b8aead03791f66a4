"""The DP encoding stage: a client's float update to a noised vector over Z_{2^b}, and
the server's modular sum back to the (noisy) sum of the updates.

Client (:func:`encode`), in the order of Kairouz, Liu, Steinke 2021 and TFF:
flatten -> randomized Hadamard rotation (public per-round seed, padded to a power of
two) -> L2 clip to c -> scale by s -> stochastic rounding (conditional on the norm bound
when beta > 0) -> add this client's share of the noise (discrete Gaussian or Skellam of
variance (sigma s)^2) -> reduce mod 2^b -> append the weight slot (1).

Server (:func:`decode`): reduce the backends' sum mod 2^b, centre it into
[-2^(b-1), 2^(b-1)), divide by s, undo the rotation.

The output of :func:`encode` is a protected vector for :attr:`DPConfig.quantization`:
every backend (SecAgg, SecAgg+, Paillier, plain) sums it like any other. Security
property: the rounding and the noise use only the entropy source (through an AES-CTR
expansion of 32 fresh bytes); nobody but the client sees its vector before the
backend protects it, and the sum carries the full noise of every contributing client.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.dp.config import DPConfig, Mechanism
from secagg.dp.rotation import rotate, unrotate
from secagg.dp.samplers import discrete_gaussian, skellam, uniform_words
from secagg.errors import InputError, NonFiniteInputError
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.prg import mask_dtype
from secagg.weighting import WEIGHT_SLOTS

Floats = npt.NDArray[np.float64]
MAX_ROUNDING_TRIES = 1000  # as TFF: conditional rounding redraws at most this often


def rotation_seed(round_number: int, context: bytes = b"") -> bytes:
    """The public per-round rotation seed: SHA-256 of the round and an optional
    ``context`` (e.g. the job's id). Public by design: everyone may know it."""
    return hashlib.sha256(
        b"secagg/v1/dp-rotation-seed" + struct.pack(">Q", round_number) + context
    ).digest()


@dataclass(frozen=True)
class Encoded:
    """A client's DP-encoded update: ``protected`` for the backends, and whether its
    L2 norm was above the clip (it was scaled down to it)."""

    protected: npt.NDArray[np.unsignedinteger]
    clipped: bool
    norm: float


def encode(
    update: npt.ArrayLike, config: DPConfig, seed: bytes, entropy: Entropy = system_entropy
) -> Encoded:
    """One client's update (``config.dim`` floats) as noised b-bit integers plus the
    weight slot. Raises InputError for the wrong shape, NonFiniteInputError for NaN/Inf,
    InputError if conditional rounding fails MAX_ROUNDING_TRIES times."""
    x = np.asarray(update, dtype=np.float64)
    if x.ndim != 1 or x.size != config.dim:
        raise InputError(f"the update must be a vector of {config.dim}, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise NonFiniteInputError("the update holds NaN or Inf")
    norm = float(np.linalg.norm(x))
    rotated = rotate(x, seed, config.padded_dim)
    clipped = norm > config.l2_clip
    if clipped:
        rotated *= config.l2_clip / norm
    scaled = rotated * config.scale
    rounded = _round(scaled, config, entropy)
    noise = _noise(config, entropy)
    modulus = 1 << config.bits
    values = np.mod(rounded + noise, modulus)
    dtype = mask_dtype(config.quantization.k)
    protected = np.empty(config.padded_dim + WEIGHT_SLOTS, dtype=dtype)
    protected[:-WEIGHT_SLOTS] = values.astype(dtype)
    protected[-WEIGHT_SLOTS:] = 1
    return Encoded(protected, clipped, norm)


def _round(scaled: Floats, config: DPConfig, entropy: Entropy) -> npt.NDArray[np.int64]:
    """Stochastic rounding, unbiased: floor(v) + [U < frac(v)] with U uniform in [0, 1).
    With beta > 0, redrawn until the norm is within the inflated bound."""
    floor = np.floor(scaled)
    fraction = scaled - floor
    limit = config.scale * config.inflated_l2_bound()
    for _ in range(MAX_ROUNDING_TRIES):
        # 53-bit uniforms in [0, 1): the top bits of 64-bit words.
        u = (uniform_words(scaled.size, entropy) >> np.uint64(11)).astype(np.float64)
        up = u * (1.0 / (1 << 53)) < fraction
        rounded = floor.astype(np.int64) + up
        if config.beta == 0 or float(np.linalg.norm(rounded)) <= limit:
            return rounded
    raise InputError(f"conditional rounding failed {MAX_ROUNDING_TRIES} times")


def _noise(config: DPConfig, entropy: Entropy) -> npt.NDArray[np.int64]:
    size = config.padded_dim
    if config.noise_multiplier == 0:
        return np.zeros(size, dtype=np.int64)
    if config.mechanism is Mechanism.DDG:
        return discrete_gaussian(config.noise_variance, size, entropy)
    return skellam(config.noise_variance, size, entropy)


@dataclass(frozen=True)
class Decoded:
    """The server's view: ``total`` (the noisy sum of the contributing clients' clipped
    updates, ``config.dim`` floats) and ``clients`` (how many contributed)."""

    total: Floats
    clients: int

    @property
    def mean(self) -> Floats:
        return self.total / max(self.clients, 1)


def decode(aggregate: npt.ArrayLike, config: DPConfig, seed: bytes) -> Decoded:
    """The backends' sum of encoded vectors back to update units. Raises InputError
    for an aggregate of the wrong length."""
    a = np.asarray(aggregate)
    if a.ndim != 1 or a.size != config.padded_dim + WEIGHT_SLOTS:
        raise InputError(
            f"a DP aggregate has {config.padded_dim + WEIGHT_SLOTS} elements, got {a.size}"
        )
    modulus = 1 << config.bits
    values = np.mod(a[:-WEIGHT_SLOTS].astype(np.uint64), np.uint64(modulus)).astype(np.int64)
    centred = np.where(values >= modulus // 2, values - modulus, values).astype(np.float64)
    total = unrotate(centred / config.scale, seed, config.dim)
    return Decoded(total, int(a[-1]))
