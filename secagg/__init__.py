"""secagg: secure aggregation for federated learning.

The recipe layer is :func:`run_round`: give it the clients' float updates and integer
weights, get back the dequantized weighted mean of the survivors, computed without the
server seeing any one update. The protocols themselves (:mod:`secagg.masking`, and
:mod:`secagg.paillier`) are I/O-free state machines for use over any transport; the raw
primitives live in :mod:`secagg.primitives` (you probably want the protocols).
"""

from secagg.errors import (
    AbortError,
    BitBudgetError,
    ConfigurationError,
    InputError,
    NonFiniteInputError,
    SecAggError,
)
from secagg.quantize import QuantizationConfig, dequantize, quantize
from secagg.result import DropStage, Protocol, RoundMetrics, RoundResult
from secagg.simulation import run_round
from secagg.weighting import decode_weighted, encode_weighted

__version__ = "0.1.0"

__all__ = [
    "AbortError",
    "BitBudgetError",
    "ConfigurationError",
    "DropStage",
    "InputError",
    "NonFiniteInputError",
    "Protocol",
    "QuantizationConfig",
    "RoundMetrics",
    "RoundResult",
    "SecAggError",
    "__version__",
    "decode_weighted",
    "dequantize",
    "encode_weighted",
    "quantize",
    "run_round",
]
