"""Paillier key reuse under a rotation budget: a key pair serves at most max_rounds
rounds, the aggregate stays exact, and a key is never used past its budget."""

from __future__ import annotations

import numpy as np
import pytest

from secagg import SecureAggregator
from secagg.errors import ConfigurationError
from secagg.paillier import KeyBudgetError, KeyPolicy, KeyRing
from secagg.primitives.entropy import seeded_entropy


def test_a_key_serves_its_budget_then_rotates() -> None:
    ring = KeyRing(KeyPolicy(max_rounds=2), seeded_entropy(1))
    first = ring.key_for_round()
    assert ring.rounds_left == 1
    assert ring.key_for_round() is first and ring.rounds_left == 0
    third = ring.key_for_round()
    assert third is not first and third.public.n != first.public.n
    assert ring.generated == 2


def test_a_spent_or_foreign_key_is_refused() -> None:
    ring = KeyRing(KeyPolicy(max_rounds=1), seeded_entropy(2))
    key = ring.key_for_round()
    with pytest.raises(KeyBudgetError, match="served its 1 rounds"):
        ring.use(key)
    other = KeyRing(KeyPolicy(max_rounds=3), seeded_entropy(3)).key_for_round()
    with pytest.raises(KeyBudgetError, match="current key pair"):
        ring.use(other)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_the_budget_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        KeyPolicy(max_rounds=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        KeyPolicy(key_bits=1024)


def test_the_aggregator_reuses_the_key_and_stays_exact() -> None:
    rng = np.random.default_rng(0)
    agg = SecureAggregator("paillier", clip=1.0, key_policy=KeyPolicy(max_rounds=2),
                           entropy=seeded_entropy(4))
    assert agg.keys is not None
    moduli = []
    for r in range(3):
        updates = [rng.uniform(-0.5, 0.5, 50) for _ in range(4)]
        result = agg.aggregate(updates, [1, 2, 3, 4], round_number=r)
        plain = np.average(updates, axis=0, weights=[1, 2, 3, 4])
        assert np.max(np.abs(result.mean - plain)) <= 2.0 / 65535
        moduli.append(agg.keys._key.public.n if agg.keys._key else None)
    assert moduli[0] == moduli[1] != moduli[2]
    assert agg.keys.generated == 2


def test_key_policy_is_for_paillier_only() -> None:
    with pytest.raises(ConfigurationError, match="paillier"):
        SecureAggregator("secagg", key_policy=KeyPolicy())
