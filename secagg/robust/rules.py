"""Robust aggregation rules over clear vectors (numpy only, no encoding).

Each rule takes ``n`` input vectors (a list or an ``n x d`` array: client updates, or
the group means of the robust secure mode) and returns one vector that a minority of
arbitrary ("Byzantine") inputs cannot drag arbitrarily far. Every rule states its
*breakdown point*: the largest fraction of inputs that may be arbitrary while the
output stays bounded by the honest inputs. The rules are unweighted: a Byzantine client
could claim any weight.

All rules raise :class:`~secagg.errors.InputError` for inputs that are not a non-empty
set of finite vectors of one length, and
:class:`~secagg.errors.ConfigurationError` when the parameter does not fit ``n``
(e.g. trimming more inputs than there are).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.errors import ConfigurationError, InputError

Vectors = Sequence[npt.ArrayLike] | npt.NDArray[np.floating]


class RobustRule(enum.Enum):
    """The rules :func:`apply_rule` knows, by their command-line names."""

    NONE = "none"
    MEDIAN = "median"
    TRIMMED_MEAN = "trimmed-mean"
    MULTI_KRUM = "multi-krum"
    NORM_BOUND = "norm-bound"

    @classmethod
    def parse(cls, value: RobustRule | str) -> RobustRule:
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(r.value for r in cls)
            raise ConfigurationError(f"unknown robust rule {value!r}; choose one of {names}") \
                from None


@dataclass(frozen=True)
class RuleOutcome:
    """A rule's output and what it discarded.

    ``rejected``: inputs left out entirely (Multi-Krum); ``trimmed``: values dropped
    per coordinate (trimmed mean: 2f; median: all but the middle one or two);
    ``clipped``: inputs whose L2 norm was scaled down (norm bound);
    ``assumed_byzantine``: the f the trimmed mean or Multi-Krum actually ran with.
    """

    value: npt.NDArray[np.float64]
    rejected: tuple[int, ...] = ()
    trimmed: int = 0
    clipped: tuple[int, ...] = ()
    assumed_byzantine: int = 0  # the f the rule ran with (apply_rule caps it to what n allows)


def as_matrix(vectors: Vectors) -> npt.NDArray[np.float64]:
    """The inputs as an ``n x d`` float64 matrix; raises InputError unless they are
    n >= 1 finite 1-D vectors of one length d >= 1."""
    try:
        rows = [np.asarray(v, dtype=np.float64) for v in vectors]
    except (TypeError, ValueError) as exc:
        raise InputError(f"robust rules need numeric vectors: {exc}") from None
    if not rows:
        raise InputError("a robust rule needs at least one input")
    if any(r.ndim != 1 or r.shape != rows[0].shape or r.size == 0 for r in rows):
        raise InputError("robust rules need non-empty 1-D vectors of one length")
    x = np.stack(rows)
    if not np.isfinite(x).all():
        raise InputError("robust rules need finite inputs (NaN or Inf found)")
    return x


def _count(name: str, value: object, low: int, high: int, why: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigurationError(f"{name} must be an integer, got {value!r}")
    if not low <= int(value) <= high:
        raise ConfigurationError(f"{name} = {value} is outside {low}..{high}: {why}")
    return int(value)


def coordinate_median(vectors: Vectors) -> RuleOutcome:
    """Coordinate-wise median.

    Breakdown point 1/2: while fewer than half of the n inputs are arbitrary, every
    output coordinate lies between the smallest and the largest honest value of that
    coordinate.
    """
    x = as_matrix(vectors)
    n = x.shape[0]
    return RuleOutcome(np.median(x, axis=0), trimmed=n - (2 - n % 2))


def trimmed_mean(vectors: Vectors, f: int) -> RuleOutcome:
    """Coordinate-wise trimmed mean: per coordinate, drop the ``f`` largest and ``f``
    smallest values and average the rest (Yin et al., ICML 2018).

    Breakdown point f/n (needs n > 2f): while at most ``f`` inputs are arbitrary, every
    output coordinate lies between the smallest and the largest honest value of that
    coordinate. Raises ConfigurationError unless 0 <= f < n/2.
    """
    x = as_matrix(vectors)
    n = x.shape[0]
    f = _count("f", f, 0, (n - 1) // 2, f"trimming 2f of {n} inputs must leave one")
    if f == 0:
        return RuleOutcome(x.mean(axis=0))
    kept = np.sort(x, axis=0)[f : n - f]
    return RuleOutcome(kept.mean(axis=0), trimmed=2 * f, assumed_byzantine=f)


def krum_scores(x: npt.NDArray[np.float64], f: int) -> npt.NDArray[np.float64]:
    """Each input's Krum score: the sum of its squared distances to its n - f - 2
    nearest other inputs (Blanchard et al., NeurIPS 2017)."""
    n = x.shape[0]
    # Pairwise squared distances from the Gram matrix: one BLAS call, no n^2 d loop.
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.maximum(d2, 0.0, out=d2)  # rounding can make a tiny distance negative
    np.fill_diagonal(d2, np.inf)  # an input is not its own neighbour
    nearest = n - f - 2
    scores: npt.NDArray[np.float64] = np.sort(d2, axis=1)[:, :nearest].sum(axis=1)
    return scores


def multi_krum(vectors: Vectors, f: int, m: int | None = None) -> RuleOutcome:
    """Multi-Krum: average the ``m`` inputs (default n - f) with the lowest Krum scores.

    Breakdown point (n - 3)/(2n) (needs n >= 2f + 3): while at most ``f`` inputs are
    arbitrary, every selected input lies within sqrt(n - f - 2) * D of some honest
    input, D the honest inputs' diameter, so the output stays within
    (sqrt(n - f - 2) + 1) * D of the honest mean. Raises ConfigurationError unless
    n >= 2f + 3 and 1 <= m <= n - f.
    """
    x = as_matrix(vectors)
    n = x.shape[0]
    f = _count("f", f, 0, max((n - 3) // 2, 0), f"Multi-Krum needs n >= 2f + 3 inputs, has {n}")
    if n < 3:
        raise ConfigurationError(f"Multi-Krum needs at least 3 inputs, got {n}")
    m = n - f if m is None else _count("m", m, 1, n - f, "select at most n - f inputs")
    scores = krum_scores(x, f)
    # A stable sort breaks score ties by position, so the choice is deterministic.
    chosen = np.sort(np.argsort(scores, kind="stable")[:m])
    rejected = tuple(sorted(set(range(n)) - set(chosen.tolist())))
    return RuleOutcome(x[chosen].mean(axis=0), rejected=rejected, assumed_byzantine=f)


def norm_bounded_mean(vectors: Vectors, bound: float | None = None) -> RuleOutcome:
    """The mean after scaling each input down to L2 norm at most ``bound``.

    With a fixed ``bound`` no input moves the output by more than bound/n, whatever it
    is (bounded influence; no input can make the output unbounded). With ``bound=None``
    the bound is the median of the inputs' norms: while fewer than half of the inputs
    are arbitrary it is at most the largest honest norm (breakdown point 1/2 for the
    output's norm). Raises ConfigurationError for a bound that is not positive and finite.
    """
    x = as_matrix(vectors)
    norms = np.linalg.norm(x, axis=1)
    if bound is None:
        bound = float(np.median(norms))
    elif isinstance(bound, bool) or not isinstance(bound, (int, float)) or not (
        math.isfinite(bound) and bound > 0
    ):
        raise ConfigurationError(f"the norm bound must be a positive number, got {bound!r}")
    over = norms > bound
    scale = np.ones_like(norms)
    scale[over] = bound / norms[over]
    return RuleOutcome((x * scale[:, None]).mean(axis=0),
                       clipped=tuple(np.flatnonzero(over).tolist()))


def assumed_byzantine(n: int, fraction: float) -> int:
    """f = floor(fraction * n): how many of ``n`` inputs a rule is told to withstand."""
    if isinstance(fraction, bool) or not (
        isinstance(fraction, (int, float)) and 0.0 <= fraction < 0.5
    ):
        raise ConfigurationError(f"the Byzantine fraction must be in [0, 0.5), got {fraction!r}")
    return math.floor(fraction * n)


def apply_rule(
    rule: RobustRule | str,
    vectors: Vectors,
    *,
    fraction: float = 0.2,
    norm_bound: float | None = None,
) -> RuleOutcome:
    """Apply ``rule`` to ``vectors``; ``fraction`` of the inputs is assumed Byzantine
    (f = floor(fraction * n), used by the trimmed mean and Multi-Krum, each capped at
    the most its n allows); ``norm_bound`` is the norm-bound rule's bound (None: the
    median norm). ``none`` is the plain mean."""
    kind = RobustRule.parse(rule)
    x = as_matrix(vectors)
    n = x.shape[0]
    f = assumed_byzantine(n, fraction)
    if kind is RobustRule.NONE:
        return RuleOutcome(x.mean(axis=0))
    if kind is RobustRule.MEDIAN:
        return coordinate_median(x)
    if kind is RobustRule.TRIMMED_MEAN:
        return trimmed_mean(x, min(f, (n - 1) // 2))
    if kind is RobustRule.MULTI_KRUM:
        return multi_krum(x, min(f, max((n - 3) // 2, 0)))
    return norm_bounded_mean(x, norm_bound)
