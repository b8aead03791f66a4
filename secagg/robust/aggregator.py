"""Robust aggregation, on clear updates or composed with secure aggregation.

:class:`RobustAggregator` wraps an aggregator:

- around :class:`~secagg.aggregator.PlainAggregator` without groups it applies the rule
  to the clients' clear updates (the usual Byzantine-robust FedAvg, no privacy);
- around :class:`~secagg.aggregator.SecureAggregator` it is the robust secure mode:
  each round's clients are split into ``groups`` by a public seed
  (:func:`~secagg.robust.groups.assign_groups`), each group runs its own secure
  aggregation (its own session and keys; dropouts inside a group are that group's
  protocol's business), and the rule is applied to the group means (bucketing,
  Karimireddy et al., ICLR 2022). A group that aborts is left out of the rule.

Privacy cost: the server learns g group sums (and total weights) instead of one sum;
each group has at least ``min_group_size`` clients, never one. Robustness: the rule's
breakdown point now counts groups, and one Byzantine client spoils its whole group, so
f Byzantine clients can spoil up to f groups: g must be well above f / breakdown point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from secagg.aggregator import (
    AggregationMetrics,
    AggregationResult,
    Aggregator,
    PlainAggregator,
    SecureAggregator,
    _check_forged,
    _prepare,
    _to_numpy,
    _weighted_mean,
)
from secagg.errors import POSITION_CLIENT, AbortError, ConfigurationError, InputError, renumber
from secagg.result import DropStage
from secagg.robust.groups import MIN_GROUP_SIZE, assign_groups
from secagg.robust.rules import RobustRule, RuleOutcome, apply_rule, assumed_byzantine
from secagg.simulation import Forgery


@dataclass(frozen=True)
class RobustReport:
    """What the robust rule saw and discarded in one round.

    With groups, ``rejected`` and ``clipped`` are group indices and ``aborted`` maps a
    group index to why it was left out; without groups they are client positions.
    """

    rule: str
    groups: int  # 0: the rule ran over individual clear updates
    group_sizes: tuple[int, ...]
    inputs: int  # vectors the rule combined
    assumed_byzantine: int  # f the rule was told to withstand
    rejected: tuple[int, ...] = ()
    trimmed: int = 0  # values dropped per coordinate
    clipped: tuple[int, ...] = ()
    aborted: Mapping[int, str] = field(default_factory=dict)
    secure: bool = True  # the inner aggregator protects the updates

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the privacy cost spelled out."""
        return {
            "rule": self.rule,
            "groups": self.groups,
            "group_sizes": list(self.group_sizes),
            "inputs": self.inputs,
            "assumed_byzantine": self.assumed_byzantine,
            "rejected": list(self.rejected),
            "trimmed_per_coordinate": self.trimmed,
            "clipped": list(self.clipped),
            "aborted": {str(k): v for k, v in self.aborted.items()},
            "server_learns": (
                "every update in the clear (the inner aggregator is plain)" if not self.secure
                else f"{self.groups} group sums instead of one"
            ),
        }


class RobustAggregator:
    """A robust rule over clear updates (``inner`` plain) or over group means of secure
    aggregation (``inner`` secure, ``groups`` >= 1).

    Parameters
    ----------
    inner: the aggregator each group (or the round) runs.
    rule: ``median``, ``trimmed-mean``, ``multi-krum``, ``norm-bound`` or ``none``.
    groups: g, the number of groups; required with a secure ``inner`` (the server
        never sees individual updates), optional with plain.
    fraction: the fraction of the rule's inputs assumed Byzantine (f = floor(fraction*n)
        for the trimmed mean and Multi-Krum).
    norm_bound: the norm-bound rule's L2 bound (None: the median of the inputs' norms).
    seed: public bytes the groups are drawn from, with the round number.
    min_group_size: the fewest clients a group may have (at least 2; every secure
        protocol needs 3), checked when the groups are drawn and again on the clients
        that survive in each group.

    Raises ConfigurationError for settings that cannot work (a secure inner without
    groups, DP, an unknown rule, a fraction outside [0, 1/2)).
    """

    def __init__(
        self,
        inner: Aggregator,
        rule: RobustRule | str = RobustRule.MEDIAN,
        *,
        groups: int | None = None,
        fraction: float = 0.2,
        norm_bound: float | None = None,
        seed: bytes = b"",
        min_group_size: int = MIN_GROUP_SIZE,
    ) -> None:
        self.rule = RobustRule.parse(rule)
        assumed_byzantine(10, fraction)  # validates the fraction
        if isinstance(inner, SecureAggregator):
            if groups is None:
                raise ConfigurationError(
                    "a robust rule over secure aggregation needs groups: the server never "
                    "sees an individual update"
                )
            if inner.dp is not None:
                raise ConfigurationError("the robust secure mode does not compose with DP yet")
        elif not isinstance(inner, PlainAggregator):
            raise ConfigurationError("inner must be a PlainAggregator or a SecureAggregator")
        if groups is not None and (isinstance(groups, bool) or not isinstance(groups, int)
                                   or groups < 1):
            raise ConfigurationError(f"groups must be a positive integer, got {groups!r}")
        if isinstance(min_group_size, bool) or not isinstance(min_group_size, int) or \
                min_group_size < MIN_GROUP_SIZE:
            raise ConfigurationError(
                f"min_group_size must be an integer of at least {MIN_GROUP_SIZE}"
            )
        self.inner = inner
        self.groups = groups
        self.fraction = fraction
        self.norm_bound = norm_bound
        self.seed = seed
        self.min_group_size = min_group_size
        where = f" over {groups} groups" if groups else ""
        self.name = f"{inner.name} {self.rule.value}{where}"

    def aggregate(
        self,
        updates: Sequence[Any],
        weights: Sequence[int],
        *,
        dropouts: Mapping[int, DropStage | str] | None = None,
        round_number: int = 0,
        forged: Mapping[int, Forgery] | None = None,
    ) -> AggregationResult:
        """The aggregation of :class:`~secagg.aggregator.Aggregator`, with the rule
        applied; the result's ``robust`` says what it did. Raises AbortError when no
        group (or too few for the rule) completes, and as the inner aggregator does."""
        if self.groups is None:
            if forged:
                raise ConfigurationError("forged ring values need a secure backend")
            return self._clear(updates, weights, dropouts, round_number)
        return self._grouped(self.groups, updates, weights, dropouts, round_number, forged)

    def _apply(self, vectors: list[npt.NDArray[np.float64]]) -> tuple[RuleOutcome, int]:
        n = len(vectors)
        if self.rule is RobustRule.MULTI_KRUM and n < 3:
            raise AbortError(f"Multi-Krum needs at least 3 inputs, {n} completed")
        outcome = apply_rule(self.rule, vectors, fraction=self.fraction,
                             norm_bound=self.norm_bound)
        return outcome, outcome.assumed_byzantine

    def _clear(
        self,
        updates: Sequence[Any],
        weights: Sequence[int],
        dropouts: Mapping[int, DropStage | str] | None,
        round_number: int,
    ) -> AggregationResult:
        base = self.inner.aggregate(updates, weights, dropouts=dropouts,
                                    round_number=round_number)  # validates, logs, plain mean
        counted = list(base.survivors)
        outcome, f = self._apply([_to_numpy(updates[i]).astype(np.float64) for i in counted])
        report = RobustReport(
            rule=self.rule.value, groups=0, group_sizes=(), inputs=len(counted),
            assumed_byzantine=f,
            rejected=tuple(counted[i] for i in outcome.rejected), trimmed=outcome.trimmed,
            clipped=tuple(counted[i] for i in outcome.clipped), secure=False,
        )
        error = float(np.max(np.abs(outcome.value - base.mean), initial=0.0))
        return AggregationResult(
            mean=outcome.value, total_weight=base.total_weight, survivors=base.survivors,
            metrics=replace(base.metrics, backend=self.name, max_error_vs_plain=error),
            robust=report,
        )

    def _grouped(
        self,
        g: int,
        updates: Sequence[Any],
        weights: Sequence[int],
        dropouts: Mapping[int, DropStage | str] | None,
        round_number: int,
        forged: Mapping[int, Forgery] | None,
    ) -> AggregationResult:
        prep = _prepare(updates, weights, dropouts, round_number)
        forged = _check_forged(forged, len(prep.arrays))
        # Every secure protocol needs 3 clients (with 2, each would learn the other's
        # input from the sum); a group below that could never complete.
        floor = 3 if isinstance(self.inner, SecureAggregator) else MIN_GROUP_SIZE
        min_size = max(self.min_group_size, floor)
        plan = assign_groups(len(prep.arrays), g, seed=self.seed, round_number=round_number,
                             min_size=min_size)
        counted = set(prep.counted())
        means: list[npt.NDArray[np.float64]] = []
        done: list[int] = []
        results: list[AggregationResult] = []
        aborted: dict[int, str] = {}
        for j, members in enumerate(plan):
            alive = [i for i in members if i in counted]
            if len(alive) < min_size:
                # Releasing the group's sum would reveal (nearly) one client's update.
                aborted[j] = (f"{len(alive)} of {len(members)} clients uploaded; a group "
                              f"needs {min_size}")
                continue
            local = {i: p for p, i in enumerate(members)}
            try:
                res = self.inner.aggregate(
                    [prep.arrays[i] for i in members],
                    [prep.weights[i] for i in members],
                    dropouts={local[i]: s for i, s in prep.drops.items() if i in local},
                    round_number=round_number,
                    **_forged_kw(self.inner, {local[i]: f for i, f in forged.items()
                                               if i in local}),
                )
            except AbortError as exc:
                renumber(exc, POSITION_CLIENT,
                         lambda p, m=members: f"client at position {m[p]}")  # type: ignore[misc]
                aborted[j] = str(exc)
                continue
            means.append(np.asarray(res.mean, dtype=np.float64))
            done.append(j)
            results.append(_globalised(res, members))
        if not means:
            raise AbortError(f"all {g} groups aborted: " + "; ".join(
                f"group {j}: {why}" for j, why in sorted(aborted.items())))
        outcome, f = self._apply(means)
        survivors = tuple(sorted(i for r in results for i in r.survivors))
        report = RobustReport(
            rule=self.rule.value, groups=g, group_sizes=tuple(len(m) for m in plan),
            inputs=len(means), assumed_byzantine=f,
            rejected=tuple(done[i] for i in outcome.rejected), trimmed=outcome.trimmed,
            clipped=tuple(done[i] for i in outcome.clipped), aborted=aborted,
            secure=isinstance(self.inner, SecureAggregator),
        )
        excluded = dict(prep.excluded)
        for j, why in aborted.items():
            for i in plan[j]:
                if i in counted:
                    excluded.setdefault(i, f"group {j} aborted: {why}")
        plain = _weighted_mean(prep.arrays, prep.weights, survivors)
        metrics = _combined(
            self.name, [r.metrics for r in results], len(prep.arrays), survivors,
            tuple(sorted(prep.drops)), excluded,
            float(np.max(np.abs(outcome.value - plain), initial=0.0)),
        )
        return AggregationResult(
            mean=outcome.value, total_weight=sum(r.total_weight for r in results),
            survivors=survivors, metrics=metrics, robust=report,
        )


def _forged_kw(inner: Aggregator, forged: Mapping[int, Forgery]) -> dict[str, Any]:
    if not forged:
        return {}
    if not isinstance(inner, SecureAggregator):
        raise ConfigurationError("forged ring values need a secure backend")
    return {"forged": forged}


def _globalised(res: AggregationResult, members: Sequence[int]) -> AggregationResult:
    return AggregationResult(
        mean=res.mean, total_weight=res.total_weight,
        survivors=tuple(members[i] for i in res.survivors), metrics=res.metrics,
    )


def _combined(
    name: str,
    parts: Sequence[AggregationMetrics],
    clients: int,
    survivors: tuple[int, ...],
    dropped: tuple[int, ...],
    excluded: Mapping[int, str],
    error: float,
) -> AggregationMetrics:
    """One round's metrics from its groups': groups run in parallel, so a client's cost
    is its group's; the server runs every group."""
    if not parts:
        raise InputError("no group metrics to combine")
    counts = [p.survivors for p in parts]
    return AggregationMetrics(
        backend=name,
        clients=clients,
        survivors=len(survivors),
        dropped=dropped,
        excluded=excluded,
        client_crypto_ms=float(np.median([p.client_crypto_ms for p in parts])),
        client_crypto_ms_max=max(p.client_crypto_ms_max for p in parts),
        server_crypto_ms=sum(p.server_crypto_ms for p in parts),
        keyholder_crypto_ms=sum(p.keyholder_crypto_ms for p in parts),
        bytes_up_per_client=float(np.average([p.bytes_up_per_client for p in parts],
                                             weights=counts)),
        plain_ms=sum(p.plain_ms for p in parts),
        clipped=sum(p.clipped for p in parts),
        max_abs_update=max(p.max_abs_update for p in parts),
        quantization_bound=max(p.quantization_bound for p in parts),
        max_error_vs_plain=error,
    )
