"""SecureAggregator with distributed DP: the API other FL loops use."""

from __future__ import annotations

import numpy as np
import pytest

from secagg import SecureAggregator
from secagg.aggregator import make_aggregator
from secagg.dp import DPConfig, Mechanism, PrivacyAccountant
from secagg.errors import ConfigurationError

from ..conftest import CountingEntropy


@pytest.mark.parametrize("backend", ["secagg+", "paillier"])
def test_the_mean_is_the_clipped_mean_plus_the_configured_noise(backend: str) -> None:
    n, dim = 8, 2000
    dp = DPConfig(Mechanism.SKELLAM, 2.0, 0.5, n, 20, dim)
    agg = SecureAggregator(backend, clip=1.0, dp=dp, entropy=CountingEntropy(b"agg"))
    rng = np.random.default_rng(1)
    updates = [rng.normal(0, 0.004, dim).astype(np.float32) for _ in range(n)]
    result = agg.aggregate(updates, [5] * n, dropouts={2: "upload"}, round_number=3)
    survivors = [i for i in range(n) if i != 2]
    assert result.survivors == tuple(survivors) and result.total_weight == n - 1
    clipped = [u * min(1.0, 0.5 / np.linalg.norm(u)) for u in updates]
    noise = result.mean - np.mean([clipped[i] for i in survivors], axis=0)
    # seven clients' noise, each of variance (z c)^2 / n, over a mean of seven
    expected = np.sqrt(7 * (2.0 * 0.5) ** 2 / n) / 7
    assert noise.std() == pytest.approx(expected, rel=0.06)
    assert abs(noise.mean()) < 4 * expected / np.sqrt(dim)
    assert agg.name == f"{backend} skellam"
    accountant = PrivacyAccountant(dp, 1e-5)
    assert accountant.step(result.total_weight) > accountant.round_epsilon(n)


def test_dp_needs_a_secure_backend_and_its_cohort() -> None:
    dp = DPConfig(Mechanism.DDG, 1.0, 1.0, 4, 16, 10)
    with pytest.raises(ConfigurationError):
        make_aggregator("plain", dp=dp)
    with pytest.raises(ConfigurationError):
        SecureAggregator("secagg", clip=1.0, dp="ddg")  # type: ignore[arg-type]
    agg = SecureAggregator("secagg", clip=1.0, dp=dp)
    with pytest.raises(ConfigurationError, match="expected_clients"):
        agg.aggregate([np.zeros(10, np.float32)] * 5, [1] * 5)
