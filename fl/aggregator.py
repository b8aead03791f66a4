"""The aggregators ``fl`` trains with: those of :mod:`secagg.aggregator`, which is what
``pip install secagg`` gives other FL loops. This module only adds the checks of the
command line's backend names."""

from __future__ import annotations

from fl.errors import ConfigError
from secagg.aggregator import (
    BACKENDS,
    AggregationMetrics,
    AggregationResult,
    Aggregator,
    PlainAggregator,
    SecureAggregator,
    make_aggregator,
)

__all__ = [
    "BACKENDS",
    "AggregationMetrics",
    "AggregationResult",
    "Aggregator",
    "PlainAggregator",
    "SecureAggregator",
    "check_backend",
    "make_aggregator",
]


def check_backend(backend: str) -> None:
    """Raise ConfigError unless ``backend`` is one of :data:`BACKENDS`."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
