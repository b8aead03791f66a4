"""FedAvg in PyTorch whose aggregation goes through secagg's public API.

For people with their own training loop::

    from fl import SecureAggregator, flatten, restore

    agg = SecureAggregator("secagg+", clip=0.5)
    result = agg.aggregate(deltas, sample_counts, dropouts={3: DropStage.MASKED_INPUT})
    result.mean, result.metrics

The whole loop with a table, results files and a plot: ``python -m fl`` (docs/fl.md).
"""

from fl.aggregator import (
    BACKENDS,
    AggregationMetrics,
    AggregationResult,
    Aggregator,
    PlainAggregator,
    SecureAggregator,
    check_backend,
    make_aggregator,
)
from fl.config import FLConfig, parse_config
from fl.data import Dataset, dirichlet_partition, load_dataset
from fl.errors import ConfigError, FlattenError, FLError, UpdateError
from fl.flatten import FlatLayout, flatten, layout_of, restore
from fl.model import build_model
from fl.rounds import RoundRecord, RunResult, run_fedavg
from fl.train import Evaluation, LocalUpdate, evaluate, local_update
from secagg.result import DropStage

__all__ = [
    "BACKENDS",
    "AggregationMetrics",
    "AggregationResult",
    "Aggregator",
    "ConfigError",
    "Dataset",
    "DropStage",
    "Evaluation",
    "FLConfig",
    "FLError",
    "FlatLayout",
    "FlattenError",
    "LocalUpdate",
    "PlainAggregator",
    "RoundRecord",
    "RunResult",
    "SecureAggregator",
    "UpdateError",
    "build_model",
    "check_backend",
    "dirichlet_partition",
    "evaluate",
    "flatten",
    "layout_of",
    "load_dataset",
    "local_update",
    "make_aggregator",
    "parse_config",
    "restore",
    "run_fedavg",
]
