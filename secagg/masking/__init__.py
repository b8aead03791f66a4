"""The masking protocol: SecAgg (complete graph) and SecAgg+ (Harary graph).

Rounds, in order: AdvertiseKeys, ShareKeys, MaskedInputCollection, Unmasking
(Bonawitz et al., CCS 2017; Bell et al., CCS 2020). :class:`MaskingClient` and
:class:`MaskingServer` are I/O-free parties with the transport interface of
:mod:`secagg.protocol.party`, exchanging the typed messages of
:mod:`secagg.masking.messages`; :func:`secagg.simulation.simulate_masking` drives them
in process.
"""

from typing import Any

from secagg.masking.client import ClientStage, MaskingClient
from secagg.masking.config import (
    Graph,
    MaskingConfig,
    corrupt_neighbours,
    default_max_corrupt,
    default_neighbours,
    default_threshold,
    malicious_threshold,
    minimum_sum_size,
    neighbours_for_dropout,
)
from secagg.masking.messages import (
    AdvertiseKeys,
    ForwardedShares,
    KeyBroadcast,
    MaskedInput,
    ShareKeys,
    UnmaskingRequest,
    UnmaskingResponse,
)
from secagg.masking.server import MaskingServer, ServerStage


def __getattr__(name: str) -> Any:
    # The in-process drivers live in secagg.simulation, which imports this package.
    if name in ("run_masking_round", "simulate_masking"):
        from secagg import simulation

        return getattr(simulation, name)
    raise AttributeError(name)


__all__ = [
    "AdvertiseKeys",
    "ClientStage",
    "ForwardedShares",
    "Graph",
    "KeyBroadcast",
    "MaskedInput",
    "MaskingClient",
    "MaskingConfig",
    "MaskingServer",
    "ServerStage",
    "ShareKeys",
    "UnmaskingRequest",
    "UnmaskingResponse",
    "corrupt_neighbours",
    "default_max_corrupt",
    "default_neighbours",
    "default_threshold",
    "malicious_threshold",
    "minimum_sum_size",
    "neighbours_for_dropout",
    "run_masking_round",
    "simulate_masking",
]
