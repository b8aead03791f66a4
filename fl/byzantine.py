"""Byzantine clients for the FedAvg job: who they are and what they send.

A fixed set of :func:`byzantine_count` clients, drawn from the run's seed, is
malicious for the whole run; whenever one is sampled it replaces its update:

- ``sign-flip``: the negation of its honest update;
- ``scale``: its honest update times ``scale`` (a boosted update);
- ``gaussian``: Gaussian noise whose per-coordinate standard deviation is ``scale``
  times that of the round's honest updates;
- ``label-flip``: it trains honestly on labels c -> C - 1 - c;
- ``alie``: "a little is enough" (Baruch et al., NeurIPS 2019): every malicious client
  sends mu - z sigma, mu and sigma the coordinate-wise mean and standard deviation of
  the round's honest updates (an omniscient attacker), z the largest deviation that
  keeps it inside the majority: s = floor(n/2 + 1) - f, z = Phi^-1((n - s) / n);
- ``ring`` (secure backends only): it follows the protocol but protects a forged
  vector of Z_{2^k} (:func:`ring_forgery`): the sum wraps, and the mean of the group or
  round it lands in is garbage, or fails the server's range check and is dropped.
  This is what a client can do that a clear-text attack cannot.

The attacker's noise comes from numpy, seeded: it is the simulated adversary, it
protects nothing.
"""

from __future__ import annotations

import enum
import math
import statistics
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from secagg.quantize import QuantizationConfig
from secagg.simulation import Forgery

_BYZANTINE_STREAM = 4  # the run's rng streams: 1 sampling, 2 dropouts, 3 batches


class Attack(enum.Enum):
    NONE = "none"
    SIGN_FLIP = "sign-flip"
    SCALE = "scale"
    GAUSSIAN = "gaussian"
    LABEL_FLIP = "label-flip"
    ALIE = "alie"
    RING = "ring"


ATTACKS = tuple(a.value for a in Attack)


def byzantine_count(clients: int, fraction: float) -> int:
    """How many of ``clients`` are Byzantine: fraction * clients rounded half up."""
    return math.floor(fraction * clients + 0.5)


def malicious_clients(clients: int, fraction: float, seed: int) -> frozenset[int]:
    """The run's Byzantine clients: :func:`byzantine_count` of 0..clients-1."""
    count = byzantine_count(clients, fraction)
    rng = np.random.default_rng([seed, 0, _BYZANTINE_STREAM])
    return frozenset(rng.choice(clients, count, replace=False).tolist())


def flip_labels(y: npt.NDArray[np.int64], n_classes: int) -> npt.NDArray[np.int64]:
    """Labels c -> C - 1 - c (every label wrong when C is even)."""
    return (n_classes - 1 - y).astype(np.int64)


def alie_z(n: int, f: int) -> float:
    """Baruch et al.'s z for f malicious of n: Phi^-1((n - s) / n), s = floor(n/2+1) - f."""
    s = n // 2 + 1 - f
    p = (n - s) / n
    if not 0.0 < p < 1.0:
        return 0.0
    return statistics.NormalDist().inv_cdf(p)


def poison(
    attack: Attack,
    deltas: Sequence[npt.NDArray[np.float32]],
    malicious: Sequence[int],
    *,
    scale: float,
    seed: int,
) -> list[npt.NDArray[np.float32]]:
    """The round's updates with the malicious positions' replaced (``label-flip`` and
    ``ring`` act elsewhere: in training and in the protocol)."""
    out = list(deltas)
    bad = set(malicious)
    if not bad or attack in (Attack.NONE, Attack.LABEL_FLIP, Attack.RING):
        return out
    honest = [d for i, d in enumerate(deltas) if i not in bad]
    stack = np.stack(honest).astype(np.float64) if honest else np.zeros((1, deltas[0].size))
    mu, sigma = stack.mean(axis=0), stack.std(axis=0)
    rng = np.random.default_rng([seed, _BYZANTINE_STREAM])
    z = alie_z(len(deltas), len(bad))
    for i in sorted(bad):
        if attack is Attack.SIGN_FLIP:
            new = -deltas[i].astype(np.float64)
        elif attack is Attack.SCALE:
            new = scale * deltas[i].astype(np.float64)
        elif attack is Attack.GAUSSIAN:
            new = rng.normal(0.0, scale * float(sigma.mean()) + 1e-12, deltas[i].size)
        else:  # ALIE
            new = mu - z * sigma
        out[i] = new.astype(np.float32)
    return out


_GOLDEN = (5**0.5 - 1) / 2


def ring_forgery(honest: npt.NDArray[np.unsignedinteger],
                 quantization: QuantizationConfig) -> npt.NDArray[np.unsignedinteger]:
    """The ``ring`` forgery: v = floor(0.618... * 2^k) in every value slot, the true
    weight kept. m forgers add m*v mod 2^k, which stays far from 0 for every small m
    (forgers that each added half the ring would cancel in pairs)."""
    out = honest.copy()
    out[:-1] = out.dtype.type(int(_GOLDEN * (1 << quantization.k)))
    return out


def forgeries(attack: Attack, malicious: Sequence[int]) -> Mapping[int, Forgery]:
    """Position -> forgery for the ``ring`` attack; empty for every other attack."""
    if attack is not Attack.RING:
        return {}
    return {i: ring_forgery for i in malicious}
