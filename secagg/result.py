"""What one aggregation round returns, whatever protocol ran it.

Shared by the masking protocols, the Paillier protocol, the simulator, the CLI and the
FedAvg loop, so that every backend reports the same fields.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from secagg.errors import ConfigurationError


class Backend(str, enum.Enum):
    """Aggregation backends; the value is the name the CLI and ``run_round`` take."""

    PLAIN = "plain"  # no protection: the server sees every input (the reference)
    SECAGG = "secagg"  # Bonawitz et al. 2017, complete graph
    SECAGG_PLUS = "secagg+"  # Bell et al. 2020, k-regular graph with k = O(log n)
    PAILLIER = "paillier"  # packed, DJN-accelerated Paillier

    @classmethod
    def parse(cls, value: object) -> Backend:
        """``value`` as a Backend; raises ConfigurationError for anything else."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(b.value for b in cls)
            raise ConfigurationError(f"unknown backend {value!r}; choose one of {names}") from None

    @property
    def masking(self) -> bool:
        return self in (Backend.SECAGG, Backend.SECAGG_PLUS)


class DropStage(str, enum.Enum):
    """The first message a dropped client fails to send (masking-protocol terms).

    For Paillier and plain, every stage before UNMASKING means "vanished before
    uploading"; UNMASKING means "vanished after uploading", which they survive trivially
    because clients take no part in decryption (except Paillier's key holder, whose
    vanishing before it decrypts aborts the round).
    """

    ADVERTISE_KEYS = "advertise"
    SHARE_KEYS = "share"
    MASKED_INPUT = "upload"
    UNMASKING = "unmask"


@dataclass(frozen=True)
class RoundMetrics:
    """Costs of one round. CPU times in seconds (thread CPU time), sizes in bytes."""

    backend: Backend
    clients: int
    neighbours: int
    threshold: int
    dim: int  # coordinates of one update
    bits: int
    modulus_bits: int  # k
    survivors: int
    client_cpu_s: float  # median over the clients that took part
    client_cpu_s_max: float
    server_cpu_s: float
    keyholder_cpu_s: float  # 0.0 for the masking protocols
    stage_cpu_s: dict[str, float] = field(default_factory=dict)  # all parties, per stage
    bytes_up_per_client: float = 0.0  # mean over clients that uploaded their input
    bytes_down_per_client: float = 0.0

    @property
    def expansion_vs_float32(self) -> float:
        """Upload bytes per client over the 4 * dim bytes of the float32 update."""
        return self.bytes_up_per_client / (4 * self.dim) if self.dim else 0.0


@dataclass(frozen=True)
class RoundResult:
    """The aggregate of the survivors and the round's costs.

    ``aggregate`` is the protected vector summed over ``survivors`` in Z_{2^k} (layout of
    :mod:`secagg.weighting`); ``mean`` is its dequantized weighted mean.
    """

    aggregate: npt.NDArray[np.unsignedinteger]
    mean: npt.NDArray[np.float64]
    total_weight: int
    survivors: tuple[int, ...]
    metrics: RoundMetrics
    clipped: int = 0  # coordinates of the survivors' updates beyond +-clip (changed by it)
