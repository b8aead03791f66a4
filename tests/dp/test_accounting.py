"""Privacy accounting against independently computed epsilons.

Reference values: google-research/federated@a5af8c44, distributed_dp/accounting_utils.py
(ddgauss_epsilon, skellam_epsilon), run unmodified for the stated parameters (the
worked example of TFF's DistributedDpSumFactory: z = 1, n = 100, b = 16, c = 0.1,
d = 1000 -> 1024, p = 1e-4, delta = 1e-5). The Gaussian and zCDP checks use
dp_accounting's own GaussianDpEvent / ZCDpEvent, an independent implementation.
"""

from __future__ import annotations

import math

import dp_accounting
import numpy as np
import pytest

from secagg.dp import DPConfig, Mechanism, PrivacyAccountant, noise_for_epsilon
from secagg.dp.accounting import ORDERS, ddg_curve, epsilon, subsampled_rdp
from secagg.errors import ConfigurationError

WORKED = {"noise_multiplier": 1.0, "l2_clip": 0.1, "expected_clients": 100, "bits": 16,
          "dim": 1000}  # fmt: skip


def _run(mechanism: Mechanism, q: float, rounds: int, **extra: float) -> float:
    accountant = PrivacyAccountant(DPConfig(mechanism, **WORKED, **extra), 1e-5, q)
    for _ in range(rounds):
        eps = accountant.step(100)
    return eps


@pytest.mark.parametrize(
    ("mechanism", "q", "rounds", "extra", "expected"),
    [
        (Mechanism.DDG, 1.0, 1, {}, 4.815448),
        (Mechanism.SKELLAM, 1.0, 1, {}, 4.815448),
        (Mechanism.DDG, 0.01, 100, {}, 1.374967),
        (Mechanism.SKELLAM, 0.01, 100, {}, 1.374968),
        (Mechanism.DDG, 0.01, 100, {"beta": math.exp(-0.5)}, 1.354767),
        (Mechanism.DDG, 1.0, 100, {}, 112.635419),
    ],
)
def test_the_reference_epsilons(mechanism, q, rounds, extra, expected) -> None:  # noqa: ANN001
    assert _run(mechanism, q, rounds, **extra) == pytest.approx(expected, abs=2e-6)


@pytest.mark.parametrize(("clients", "sigma", "expected"), [(1000, 0.3, 1712.555), (10, 0.2, 56.725)])
def test_tau_dominated_ddg_matches_the_reference(clients: int, sigma: float, expected: float) -> None:
    # google-research ddgauss_epsilon(gamma=1, local_stddev=sigma, l2_sens=1, dim=1,
    # q=1, steps=1, rounding=False): Delta_2 = Delta_1 = 1, the tau term dominates.
    curve = ddg_curve(1.0, 1.0, sigma**2, clients, 1)
    assert epsilon(curve, 1e-5) == pytest.approx(expected, abs=1e-3)


def test_without_tau_ddg_is_the_gaussian_mechanism() -> None:
    # Large noise makes tau vanish: the curve is a Gaussian's, alpha / (2 z_eff^2).
    sigma2, clients, l2 = 400.0**2, 50, 1000.0
    z_eff = math.sqrt(clients * sigma2) / l2
    ours = epsilon(ddg_curve(l2, l2 * 10, sigma2, clients, 1024), 1e-5)
    theirs = dp_accounting.rdp.RdpAccountant(list(ORDERS))
    theirs.compose(dp_accounting.GaussianDpEvent(z_eff))
    assert ours == pytest.approx(theirs.get_epsilon(1e-5), rel=1e-9)


def test_the_first_ddg_term_is_a_zcdp_event() -> None:
    sigma2, clients, l2, dim = 0.6**2, 30, 2.0, 16
    l2_scaled = l2 / math.sqrt(clients * sigma2)
    k = np.arange(1, clients)
    tau = 10 * np.sum(np.exp(-2 * math.pi**2 * sigma2 * k / (k + 1)))
    event = dp_accounting.ZCDpEvent(rho=l2_scaled**2 / 2, xi=tau * dim)
    theirs = dp_accounting.rdp.RdpAccountant(list(ORDERS))
    theirs.compose(event)
    ours = ddg_curve(l2, l2 * 4, sigma2, clients, dim)
    # our curve is the minimum of three bounds, the first being this event
    assert np.all(ours <= theirs._rdp + 1e-12)  # noqa: SLF001
    assert epsilon(ours, 1e-5) <= theirs.get_epsilon(1e-5) + 1e-9


def test_subsampling_never_hurts_and_q_one_is_the_curve() -> None:
    curve = ORDERS * 0.3
    assert np.array_equal(subsampled_rdp(curve, 1.0), curve)
    amplified = subsampled_rdp(curve, 0.05)
    assert np.all(amplified <= curve) and amplified[0] < curve[0] / 10


def test_dropouts_remove_noise_and_the_dropout_margin_restores_it() -> None:
    base = DPConfig(Mechanism.SKELLAM, 1.0, 1.0, 20, 20, 1000)
    full = PrivacyAccountant(base, 1e-5).round_epsilon(20)
    short = PrivacyAccountant(base, 1e-5).round_epsilon(15)  # 5 noise shares missing
    assert short > full
    margin = DPConfig(Mechanism.SKELLAM, 1.0, 1.0, 20, 20, 1000, dropout=0.25)
    assert PrivacyAccountant(margin, 1e-5).round_epsilon(15) <= full * (1 + 1e-3)


def test_the_guarantee_adds_the_samplers_slack() -> None:
    accountant = PrivacyAccountant(DPConfig(Mechanism.DDG, **WORKED), 1e-5)
    accountant.step(100)
    eps, delta = accountant.guarantee()
    # 100 clients x 1024 coordinates, each draw within 1e-30 of exact in TV
    assert 0 < accountant.sampler_tv() < 102400 * 1e-30
    assert eps == accountant.epsilon() and 1e-5 <= delta <= 1e-5 + 1e-20


def test_noise_for_epsilon_reaches_the_target() -> None:
    def make(z: float) -> DPConfig:
        return DPConfig(Mechanism.DDG, z, 1.0, 50, 20, 1000)

    z = noise_for_epsilon(3.0, make, rounds=20, clients=50, delta=1e-5)
    accountant = PrivacyAccountant(make(z), 1e-5)
    assert epsilon(accountant.round_curve(50) * 20, 1e-5) <= 3.0
    looser = PrivacyAccountant(make(z * 0.99), 1e-5)
    assert epsilon(looser.round_curve(50) * 20, 1e-5) > 3.0
    with pytest.raises(ConfigurationError):
        noise_for_epsilon(-1.0, make, rounds=1, clients=50, delta=1e-5)


def test_no_noise_is_no_privacy() -> None:
    accountant = PrivacyAccountant(DPConfig(Mechanism.DDG, 0.0, 1.0, 10, 16, 100), 1e-5)
    assert accountant.step(10) == math.inf


def test_a_target_the_bits_cannot_hold_names_the_bits_needed() -> None:
    from secagg.errors import BitBudgetError

    def make(z: float) -> DPConfig:
        return DPConfig(Mechanism.DDG, z, 1.0, 10, 16, 50_000)

    with pytest.raises(BitBudgetError, match=r"needs a noise multiplier above .* at least 17 bits"):
        noise_for_epsilon(1.0, make, rounds=30, clients=10, delta=1e-5, sampling_rate=0.5)
    # the same target with more bits works
    def wider(z: float) -> DPConfig:
        return DPConfig(Mechanism.DDG, z, 1.0, 10, 20, 50_000)

    assert noise_for_epsilon(1.0, wider, rounds=30, clients=10, delta=1e-5, sampling_rate=0.5) > 10
