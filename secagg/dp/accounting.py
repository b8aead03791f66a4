"""Privacy accounting for distributed DP, with the ``dp-accounting`` package.

Each round's Renyi-DP curve eps(alpha) comes from the mechanism's bound in the integer
domain (Delta_2, Delta_1 the rounding-inflated sensitivities of :class:`DPConfig`,
m the clients whose noise is in the sum, sigma^2 each one's noise variance):

- DDG (Kairouz, Liu, Steinke 2021, Prop. 14 as google-research/federated's
  distributed_dp/accounting_utils.py computes it), with L_i = Delta_i / (sqrt(m) sigma)
  and tau = 10 sum_{k=1}^{m-1} exp(-2 pi^2 sigma^2 k / (k + 1)):
  eps(a) = min(a/2 L_2^2 + tau d, a/2 (L_2^2 + 2 L_1 tau + tau^2 d), a/2 (L_2 + sqrt(d) tau)^2).
- Skellam (Agarwal, Kairouz, Liu 2021), with mu = m sigma^2 the summed noise variance:
  eps(a) = a Delta_2^2 / (2 mu) + min(((2a - 1) Delta_2^2 + 6 Delta_1) / (4 mu^2),
  3 Delta_1 / (2 mu)).

With Poisson client sampling at rate q < 1, each order takes the smaller of the curve
and Zhu and Wang's general subsampled-RDP bound (ICML 2019, Thm. 5; integer orders).
Rounds compose by adding curves; (epsilon, delta) comes from
``dp_accounting.rdp.compute_epsilon`` (Canonne, Kamath, Steinke's conversion).

The noise samplers are within a stated total-variation distance eta of their
distributions (:mod:`secagg.dp.samplers`): the released guarantee is then
(epsilon, delta + (1 + e^epsilon) eta_total), eta_total summed over every noise draw;
:meth:`PrivacyAccountant.guarantee` reports that delta too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from secagg.dp.config import DPConfig, Mechanism
from secagg.dp.samplers import discrete_gaussian_table, skellam_table
from secagg.errors import BitBudgetError, ConfigurationError
from secagg.validation import require_int, require_real

# google-research's integer orders (the subsampling bound needs integers).
ORDERS = np.array([*range(2, 129), 256], dtype=np.float64)
Curve = npt.NDArray[np.float64]


def _compute_epsilon() -> Any:
    try:
        from dp_accounting import rdp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "privacy accounting needs dp-accounting: pip install 'secagg[dp]'"
        ) from exc
    return rdp.compute_epsilon


def ddg_rdp(config: DPConfig, clients: int, orders: Curve = ORDERS) -> Curve:
    """One round's RDP curve of the distributed discrete Gaussian with ``clients``
    noise shares in the sum."""
    return ddg_curve(
        config.l2_sensitivity,
        config.l1_sensitivity,
        config.noise_variance,
        clients,
        config.padded_dim,
        orders,
    )


def ddg_curve(
    l2: float, l1: float, sigma2: float, clients: int, dim: int, orders: Curve = ORDERS
) -> Curve:
    """The DDG bound for sensitivities ``l2``/``l1`` (integer domain), each of
    ``clients`` adding N_Z(0, sigma2) to each of ``dim`` coordinates."""
    m = require_int("clients", clients, 1, 2**32)
    l2_scaled = l2 / math.sqrt(m * sigma2)
    l1_scaled = l1 / math.sqrt(m * sigma2)
    k = np.arange(1, m, dtype=np.float64)
    tau = 10.0 * float(np.sum(np.exp(-2.0 * math.pi**2 * sigma2 * k / (k + 1))))
    a = orders
    curve: Curve = np.minimum.reduce(
        [
            a / 2 * l2_scaled**2 + tau * dim,
            a / 2 * (l2_scaled**2 + 2 * l1_scaled * tau + tau**2 * dim),
            a / 2 * (l2_scaled + math.sqrt(dim) * tau) ** 2,
        ]
    )
    return curve


def skellam_rdp(config: DPConfig, clients: int, orders: Curve = ORDERS) -> Curve:
    """One round's RDP curve of the distributed Skellam mechanism."""
    m = require_int("clients", clients, 1, 2**32)
    mu = m * config.noise_variance
    d2, d1 = config.l2_sensitivity, config.l1_sensitivity
    a = orders
    return a * d2**2 / (2 * mu) + np.minimum(
        ((2 * a - 1) * d2**2 + 6 * d1) / (4 * mu**2), 3 * d1 / (2 * mu)
    )


def round_rdp(config: DPConfig, clients: int, orders: Curve = ORDERS) -> Curve:
    """One round's curve for the config's mechanism (inf without noise)."""
    if config.noise_multiplier == 0:
        return np.full(orders.shape, np.inf)
    if config.mechanism is Mechanism.DDG:
        return ddg_rdp(config, clients, orders)
    return skellam_rdp(config, clients, orders)


def subsampled_rdp(curve: Curve, q: float, orders: Curve = ORDERS) -> Curve:
    """Zhu and Wang's bound for Poisson sampling at rate q of a mechanism with RDP
    ``curve`` at integer ``orders`` (its value at order 2 is needed), min'd with the
    curve itself. q = 1 returns the curve."""
    if q >= 1.0:
        return curve
    if not 0.0 < q < 1.0:
        raise ConfigurationError(f"sampling rate must be in (0, 1], got {q}")
    if not np.all(orders == np.floor(orders)) or orders[0] != 2:
        raise ConfigurationError("the subsampling bound needs integer orders from 2")
    eps = dict(zip(orders.astype(int).tolist(), curve.tolist(), strict=True))
    out = np.empty_like(curve)
    log_q, log_1q = math.log(q), math.log1p(-q)
    for i, alpha in enumerate(orders.astype(int).tolist()):
        if not math.isfinite(eps[alpha]):
            out[i] = math.inf
            continue
        terms = [
            (alpha - 1) * log_1q + math.log(alpha * q - q + 1),
            math.log(special.comb(alpha, 2)) + 2 * log_q + (alpha - 2) * log_1q + eps[2],
        ]
        for ell in range(3, alpha + 1):
            if ell not in eps:
                break
            terms.append(
                math.log(3.0)
                + math.log(special.comb(alpha, ell))
                + (alpha - ell) * log_1q
                + ell * log_q
                + (ell - 1) * eps[ell]
            )
        bound = float(special.logsumexp(terms)) / (alpha - 1)
        out[i] = min(bound, curve[i])
    return out


def epsilon(curve: Curve, delta: float, orders: Curve = ORDERS) -> float:
    """The epsilon of an RDP curve at ``delta`` (dp_accounting's conversion)."""
    compute = _compute_epsilon()
    if not np.all(np.isfinite(curve)):
        finite = np.isfinite(curve)
        if not finite.any():
            return math.inf
        curve, orders = curve[finite], orders[finite]
    eps, _ = compute(orders, curve, delta)
    return float(eps)


@dataclass
class PrivacyAccountant:
    """Composes rounds of a DP job: ``step(clients)`` after each round with the number of
    clients whose noise is in that round's sum (dropouts remove noise).

    ``sampling_rate`` is the Poisson sampling probability of each client per round
    (1.0: full participation); ``delta`` the target delta.
    """

    config: DPConfig
    delta: float
    sampling_rate: float = 1.0
    total: Curve = field(default_factory=lambda: np.zeros(ORDERS.shape))
    rounds: int = 0
    noise_draws: int = 0

    def __post_init__(self) -> None:
        d = require_real("delta", self.delta)
        if not 0.0 < d < 1.0:
            raise ConfigurationError(f"delta must be in (0, 1), got {d}")
        q = require_real("sampling_rate", self.sampling_rate)
        if not 0.0 < q <= 1.0:
            raise ConfigurationError(f"sampling_rate must be in (0, 1], got {q}")

    def round_curve(self, clients: int) -> Curve:
        return subsampled_rdp(round_rdp(self.config, clients), self.sampling_rate)

    def step(self, clients: int) -> float:
        """Account one round with ``clients`` noise shares in the sum; returns the
        epsilon so far."""
        self.total = self.total + self.round_curve(clients)
        self.rounds += 1
        self.noise_draws += clients * self.config.padded_dim
        return self.epsilon()

    def epsilon(self) -> float:
        """Epsilon of all rounds so far, at ``delta``."""
        if self.rounds == 0:
            return 0.0
        return epsilon(self.total, self.delta)

    def round_epsilon(self, clients: int) -> float:
        """Epsilon of one round alone."""
        return epsilon(self.round_curve(clients), self.delta)

    def sampler_tv(self) -> float:
        """Total-variation distance of all noise drawn so far from exact sampling."""
        if self.config.noise_multiplier == 0:
            return 0.0
        variance = self.config.noise_variance
        table = (
            discrete_gaussian_table(variance)
            if self.config.mechanism is Mechanism.DDG
            else skellam_table(variance)
        )
        return self.noise_draws * table.tv_bound()

    def guarantee(self) -> tuple[float, float]:
        """(epsilon, delta') with delta' = delta + (1 + e^epsilon) * TV of the samplers."""
        eps = self.epsilon()
        slack = (1.0 + math.exp(min(eps, 700.0))) * self.sampler_tv()
        return eps, self.delta + slack


def noise_for_epsilon(
    target: float,
    make: object,
    *,
    rounds: int,
    clients: int,
    delta: float,
    sampling_rate: float = 1.0,
) -> float:
    """The smallest noise multiplier (to 0.1%) whose ``rounds`` rounds stay within
    ``target`` epsilon. ``make(z)`` builds the DPConfig for multiplier z. Raises
    ConfigurationError when even a very large z does not reach the target."""
    if not callable(make):
        raise ConfigurationError("make must build a DPConfig from a noise multiplier")
    if not (math.isfinite(target) and target > 0):
        raise ConfigurationError(f"target epsilon must be positive and finite, got {target}")

    def fits(z: float) -> bool:
        try:
            make(z)
        except BitBudgetError:
            return False
        return True

    def eps(z: float) -> float:
        accountant = PrivacyAccountant(make(z), delta, sampling_rate)
        return epsilon(accountant.round_curve(clients) * rounds, delta)

    low, high = 0.0, 1.0
    while fits(high) and eps(high) > target:
        low, high = high, high * 2
        if high > 1e4:
            raise ConfigurationError(f"no noise multiplier up to 1e4 reaches epsilon {target}")
    if not fits(high):
        # The bits hold at most some z in [low, high): find it, and whether it suffices.
        feasible = low
        while high - feasible > 1e-3 * high:
            mid = (feasible + high) / 2
            if fits(mid):
                feasible = mid
            else:
                high = mid
        if feasible == 0.0 or eps(feasible) > target:
            try:
                make(high)
            except BitBudgetError as exc:
                raise BitBudgetError(
                    f"epsilon {target} needs a noise multiplier above {feasible:.4g}: {exc}"
                ) from None
        high = feasible
    while high - low > 1e-3 * high:
        mid = (low + high) / 2
        if eps(mid) > target:
            low = mid
        else:
            high = mid
    return high
