"""secagg: secure aggregation for federated learning.

The recipe layer is :func:`run_round`: give it the clients' float updates and integer
weights, get back the dequantized weighted mean of the survivors, computed without the
server seeing any one update; :class:`SecureAggregator` wraps it for FL loops. The
protocols themselves (:mod:`secagg.masking`, :mod:`secagg.paillier`, and the
unprotected reference :mod:`secagg.plain`) are I/O-free parties with one transport
interface, bytes in and bytes out (:mod:`secagg.protocol`, docs/transport.md); the raw
primitives live in :mod:`secagg.primitives` (you probably want the protocols).
"""

from secagg.aggregator import (
    AggregationMetrics,
    AggregationResult,
    Aggregator,
    PlainAggregator,
    SecureAggregator,
)
from secagg.errors import (
    AbortError,
    BitBudgetError,
    ConfigurationError,
    InputError,
    NonFiniteInputError,
    SecAggError,
    StateError,
    WeightError,
)
from secagg.protocol import ClientParty, Outcome, RestoreGuard, ServerParty, Waiting
from secagg.quantize import QuantizationConfig, dequantize, quantize
from secagg.result import Backend, DropStage, RoundMetrics, RoundResult
from secagg.simulation import drive, run_round
from secagg.weighting import decode_weighted, encode_weighted

__version__ = "0.2.0"

__all__ = [
    "AbortError",
    "AggregationMetrics",
    "AggregationResult",
    "Aggregator",
    "Backend",
    "BitBudgetError",
    "ClientParty",
    "ConfigurationError",
    "DropStage",
    "InputError",
    "NonFiniteInputError",
    "Outcome",
    "PlainAggregator",
    "QuantizationConfig",
    "RestoreGuard",
    "RoundMetrics",
    "RoundResult",
    "SecAggError",
    "SecureAggregator",
    "ServerParty",
    "StateError",
    "Waiting",
    "WeightError",
    "__version__",
    "decode_weighted",
    "dequantize",
    "drive",
    "encode_weighted",
    "quantize",
    "run_round",
]
