"""Byzantine robustness: robust rules over clear vectors, and a robust secure mode.

- :mod:`secagg.robust.rules`: coordinate-wise median, trimmed mean, Multi-Krum and the
  norm-bounded mean (numpy only), each with its breakdown point.
- :mod:`secagg.robust.groups`: the public per-round split of clients into groups.
- :class:`RobustAggregator`: a rule over clear updates, or over the group means of one
  secure aggregation per group (the server learns g sums instead of one).

docs/robustness.md has the measured accuracy under attack and the privacy cost.
"""

from secagg.robust.aggregator import RobustAggregator, RobustReport
from secagg.robust.groups import MIN_GROUP_SIZE, assign_groups
from secagg.robust.rules import (
    RobustRule,
    RuleOutcome,
    apply_rule,
    assumed_byzantine,
    coordinate_median,
    krum_scores,
    multi_krum,
    norm_bounded_mean,
    trimmed_mean,
)

__all__ = [
    "MIN_GROUP_SIZE",
    "RobustAggregator",
    "RobustReport",
    "RobustRule",
    "RuleOutcome",
    "apply_rule",
    "assign_groups",
    "assumed_byzantine",
    "coordinate_median",
    "krum_scores",
    "multi_krum",
    "norm_bounded_mean",
    "trimmed_mean",
]
