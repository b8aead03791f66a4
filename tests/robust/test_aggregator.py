"""The robust secure mode: one secure aggregation per public group, a robust rule over
the group means. Its output must equal the rule applied to the plain group means (up
to quantization), and it must refuse groups the server could read one client from."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg import PlainAggregator, SecureAggregator
from secagg.errors import AbortError, ConfigurationError, InputError
from secagg.primitives.entropy import seeded_entropy
from secagg.quantize import QuantizationConfig, quantization_error_bound
from secagg.result import DropStage
from secagg.robust import RobustAggregator, apply_rule, assign_groups

CLIP = 0.5


def _updates(n: int, d: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(-0.2, 0.2, d).astype(np.float32) for _ in range(n)]


def _plain_group_means(updates, weights, groups, alive):
    means = []
    for members in groups:
        idx = [i for i in members if i in alive]
        w = np.array([weights[i] for i in idx], dtype=np.float64)
        x = np.stack([np.clip(updates[i].astype(np.float64), -CLIP, CLIP) for i in idx])
        means.append((w[:, None] * x).sum(axis=0) / w.sum())
    return means


def _secure(protocol: str = "secagg+") -> SecureAggregator:
    return SecureAggregator(protocol, clip=CLIP, entropy=seeded_entropy(7))


RULES = ["median", "trimmed-mean", "multi-krum", "norm-bound"]


@pytest.mark.parametrize(
    ("protocol", "rule"),
    [(p, r) for p in ("secagg", "secagg+") for r in RULES] + [("paillier", "median")],
)
def test_equals_the_rule_on_plain_group_means(protocol: str, rule: str) -> None:
    n, d, g = 15, 40, 5
    updates = _updates(n, d, seed=3)
    weights = [1 + (i % 4) for i in range(n)]
    agg = RobustAggregator(_secure(protocol), rule, groups=g, seed=b"job", norm_bound=0.3)
    result = agg.aggregate(updates, weights, round_number=4)
    plan = assign_groups(n, g, seed=b"job", round_number=4)
    expected = apply_rule(rule, _plain_group_means(updates, weights, plan, set(range(n))),
                          norm_bound=0.3).value
    bound = quantization_error_bound(QuantizationConfig(clip=CLIP, max_clients=3,
                                                        max_weight=4))
    # Each group mean is within one step per coordinate; every rule here is
    # 1-Lipschitz per coordinate except Multi-Krum's selection and the norm scaling,
    # which the small inputs keep stable.
    assert np.max(np.abs(result.mean - expected)) <= 2 * bound
    assert result.robust is not None
    assert result.robust.groups == g and result.robust.inputs == g
    assert result.survivors == tuple(range(n))


@settings(max_examples=10, deadline=None)
@given(st.integers(9, 14), st.integers(2, 3), st.integers(0, 2**16))
def test_median_of_groups_matches_plain_for_any_split(n: int, g: int, seed: int) -> None:
    updates = _updates(n, 8, seed=seed)
    weights = [1] * n
    agg = RobustAggregator(_secure("secagg"), "median", groups=g, seed=seed.to_bytes(4, "big"))
    result = agg.aggregate(updates, weights, round_number=1)
    plan = assign_groups(n, g, seed=seed.to_bytes(4, "big"), round_number=1)
    expected = np.median(np.stack(_plain_group_means(updates, weights, plan, set(range(n)))),
                         axis=0)
    step = quantization_error_bound(QuantizationConfig(clip=CLIP, max_clients=n))
    assert np.max(np.abs(result.mean - expected)) <= step


def test_groups_are_public_balanced_and_seeded() -> None:
    plan = assign_groups(23, 5, seed=b"s", round_number=2)
    assert sorted(i for m in plan for i in m) == list(range(23))
    assert sorted(len(m) for m in plan) == [4, 4, 5, 5, 5]
    assert plan == assign_groups(23, 5, seed=b"s", round_number=2)
    assert plan != assign_groups(23, 5, seed=b"s", round_number=3)
    assert plan != assign_groups(23, 5, seed=b"t", round_number=2)


@pytest.mark.parametrize(("n", "g", "min_size"), [(10, 10, 2), (9, 5, 2), (12, 4, 4)])
def test_groups_too_small_are_refused(n: int, g: int, min_size: int) -> None:
    with pytest.raises(ConfigurationError, match="group"):
        assign_groups(n, g, min_size=min_size)
    agg = RobustAggregator(_secure(), "median", groups=g, min_group_size=min_size)
    with pytest.raises(ConfigurationError):
        agg.aggregate(_updates(n, 4), [1] * n)


def test_masking_groups_need_three_clients() -> None:
    agg = RobustAggregator(_secure("secagg"), "median", groups=4)
    with pytest.raises(ConfigurationError, match="at least 3"):
        agg.aggregate(_updates(8, 3), [1] * 8)


def test_a_group_of_one_cannot_be_configured() -> None:
    with pytest.raises(ConfigurationError):
        RobustAggregator(_secure(), "median", groups=2, min_group_size=1)
    with pytest.raises(ConfigurationError):
        assign_groups(4, 2, min_size=1)


def test_a_secure_inner_needs_groups() -> None:
    with pytest.raises(ConfigurationError, match="groups"):
        RobustAggregator(_secure(), "median")


def test_dropouts_shrinking_a_group_below_its_minimum_leave_it_out() -> None:
    n, g = 12, 4  # groups of 3
    plan = assign_groups(n, g, seed=b"", round_number=0)
    victim = plan[1]
    drops = {victim[0]: DropStage.MASKED_INPUT, victim[1]: DropStage.SHARE_KEYS}
    updates = _updates(n, 6)
    agg = RobustAggregator(_secure("secagg"), "median", groups=g)
    result = agg.aggregate(updates, [1] * n, dropouts=drops)
    assert result.robust is not None
    assert set(result.robust.aborted) == {1}
    assert result.robust.inputs == g - 1
    assert victim[2] not in result.survivors  # its group's sum is never released
    alive = set(range(n)) - set(victim)
    expected = np.median(np.stack(_plain_group_means(
        updates, [1] * n, [plan[j] for j in (0, 2, 3)], alive)), axis=0)
    step = quantization_error_bound(QuantizationConfig(clip=CLIP, max_clients=3))
    assert np.max(np.abs(result.mean - expected)) <= step


def test_a_group_that_aborts_is_left_out_and_the_round_goes_on() -> None:
    n, g = 12, 3  # groups of 4
    plan = assign_groups(n, g, seed=b"", round_number=0)
    bad, gone = plan[2][0], plan[2][1]

    # With one member gone the group's sum of w*q may be at most 3 * levels; the two
    # honest survivors hold 0.6..1.4 levels per coordinate, so 2.5 levels more is out
    # of range whatever they sent: the server's range check catches it.
    def out_of_range(honest, q):
        out = honest.copy()
        out[:-1] = np.uint64(int(2.5 * q.levels))
        return out

    agg = RobustAggregator(_secure("secagg+"), "median", groups=g)
    result = agg.aggregate(_updates(n, 6), [1] * n, forged={bad: out_of_range},
                           dropouts={gone: DropStage.MASKED_INPUT})
    assert result.robust is not None
    assert list(result.robust.aborted) == [2]
    assert "range check" in result.robust.aborted[2]
    assert not set(plan[2]) & set(result.survivors)
    assert result.robust.inputs == 2


def test_every_group_aborting_aborts_the_round() -> None:
    n, g = 8, 2
    drops = {i: DropStage.ADVERTISE_KEYS for i in range(1, n)}
    agg = RobustAggregator(_secure("secagg"), "median", groups=g)
    with pytest.raises(AbortError, match="groups aborted"):
        agg.aggregate(_updates(n, 4), [1] * n, dropouts=drops)


def test_a_forged_group_mean_is_outvoted_by_the_median() -> None:
    n, g = 20, 5
    plan = assign_groups(n, g, seed=b"", round_number=0)
    bad = plan[0][0]

    def top(honest, q):  # stays in range: moves its group mean towards +clip
        out = honest.copy()
        out[:-1] = np.uint64(q.max_input)
        return out

    updates = _updates(n, 6)
    honest_median = np.median(np.stack(_plain_group_means(
        updates, [1] * n, plan, set(range(n)))), axis=0)
    agg = RobustAggregator(_secure("secagg"), "median", groups=g)
    result = agg.aggregate(updates, [1] * n, forged={bad: top})
    plain = SecureAggregator("secagg", clip=CLIP).aggregate(updates, [1] * n,
                                                           forged={bad: top})
    # The forged client moves the plain secure mean but the median stays within the
    # honest group means' range.
    honest_means = np.stack(_plain_group_means(updates, [1] * n, plan[1:], set(range(n))))
    assert np.all(result.mean <= honest_means.max(axis=0) + 1e-3)
    assert np.max(plain.mean - np.mean(updates, axis=0)) > 0.02
    assert np.max(np.abs(result.mean - honest_median)) < 0.1


def test_clear_rule_over_plain_updates_reports_positions() -> None:
    updates = _updates(10, 5)
    updates[3] = np.full(5, 100.0, dtype=np.float32)
    agg = RobustAggregator(PlainAggregator(), "multi-krum", fraction=0.2)
    result = agg.aggregate(updates, [1] * 10, dropouts={0: DropStage.ADVERTISE_KEYS})
    assert result.robust is not None and result.robust.groups == 0
    assert 3 in result.robust.rejected
    assert np.max(np.abs(result.mean)) < 0.2


def test_forged_positions_are_checked() -> None:
    agg = RobustAggregator(_secure(), "median", groups=2)
    with pytest.raises(InputError):
        agg.aggregate(_updates(6, 3), [1] * 6, forged={9: lambda h, q: h})
    with pytest.raises(ConfigurationError):
        RobustAggregator(PlainAggregator(), "median").aggregate(
            _updates(6, 3), [1] * 6, forged={0: lambda h, q: h})


def test_paillier_groups_need_three_clients_too() -> None:
    agg = RobustAggregator(SecureAggregator("paillier", clip=CLIP), "median", groups=2)
    with pytest.raises(ConfigurationError, match="at least 3"):
        agg.aggregate(_updates(5, 3), [1] * 5)


def test_the_report_states_the_f_the_rule_ran_with() -> None:
    # 5 inputs and fraction 0.45: floor(0.45 * 5) = 2, but Multi-Krum over 5 inputs can
    # only withstand 1; the report must say 1, not claim 2.
    updates = _updates(5, 3)
    agg = RobustAggregator(PlainAggregator(), "multi-krum", fraction=0.45)
    result = agg.aggregate(updates, [1] * 5)
    assert result.robust is not None and result.robust.assumed_byzantine == 1


def test_plain_groups_say_the_server_sees_every_update() -> None:
    agg = RobustAggregator(PlainAggregator(), "median", groups=3)
    result = agg.aggregate(_updates(9, 3), [1] * 9)
    assert result.robust is not None
    assert "in the clear" in result.robust.as_dict()["server_learns"]
    secure = RobustAggregator(_secure("secagg"), "median", groups=3).aggregate(
        _updates(9, 3), [1] * 9)
    assert secure.robust is not None
    assert secure.robust.as_dict()["server_learns"] == "3 group sums instead of one"


def test_the_clear_rule_reports_its_distance_from_the_plain_mean() -> None:
    updates = _updates(10, 4)
    updates[0] = np.full(4, 5.0, dtype=np.float32)
    result = RobustAggregator(PlainAggregator(), "median").aggregate(updates, [1] * 10)
    assert result.metrics.max_error_vs_plain > 0.4  # the mean is dragged, the median not
