"""The masking protocol: SecAgg (complete graph) and SecAgg+ (Harary graph).

Rounds, in order: AdvertiseKeys, ShareKeys, MaskedInputCollection, Unmasking
(Bonawitz et al., CCS 2017; Bell et al., CCS 2020). :class:`MaskingClient` and
:class:`MaskingServer` are I/O-free state machines exchanging the typed messages of
:mod:`secagg.masking.messages`; :func:`simulate_masking` drives them in process.
"""

from secagg.masking.client import ClientStage, MaskingClient
from secagg.masking.config import (
    Graph,
    MaskingConfig,
    default_neighbours,
    default_threshold,
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
from secagg.masking.server import MaskingOutcome, MaskingServer, ServerStage
from secagg.masking.simulation import MaskingRun, run_masking_round, simulate_masking

__all__ = [
    "AdvertiseKeys",
    "ClientStage",
    "ForwardedShares",
    "Graph",
    "KeyBroadcast",
    "MaskedInput",
    "MaskingClient",
    "MaskingConfig",
    "MaskingOutcome",
    "MaskingRun",
    "MaskingServer",
    "ServerStage",
    "ShareKeys",
    "UnmaskingRequest",
    "UnmaskingResponse",
    "default_neighbours",
    "default_threshold",
    "neighbours_for_dropout",
    "run_masking_round",
    "simulate_masking",
]
