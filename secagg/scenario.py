"""One aggregation round on random vectors: the report behind ``secagg simulate``.

The inputs are test data (seeded numpy randomness, which is fine for inputs and for
choosing who drops); every protocol secret still comes from ``os.urandom``. The report
checks the backend's result exactly against a plain computation of the survivors'
protected vectors. Cost floors and baselines belong to the benchmark harness
(``python -m benchmarks``), which builds on this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from secagg.errors import ConfigurationError
from secagg.masking.config import default_max_corrupt, neighbours_for_dropout
from secagg.protocol.identity import Security
from secagg.protocol.observer import Work
from secagg.quantize import DEFAULT_CLIP, QuantizationConfig
from secagg.result import Backend, DropStage, RoundMetrics
from secagg.simulation import SimulatedRound, round_metrics, simulate_round
from secagg.timing import CpuLedger
from secagg.validation import require_int, require_real
from secagg.weighting import decode_weighted, encode_weighted


@dataclass(frozen=True)
class Scenario:
    """One round to run. ``dropout`` is the fraction of clients that vanish, at
    ``dropout_stage`` or, when None, at a random stage each; ``bits`` is the
    quantization b; ``key_bits`` the Paillier modulus size; ``max_corrupt`` (malicious
    mode only) how many clients may collude with the server, default n // 20. Raises
    ConfigurationError."""

    backend: Backend
    clients: int = 50
    dim: int = 100_000
    dropout: float = 0.1
    dropout_stage: DropStage | None = None
    bits: int = 16
    clip: float = DEFAULT_CLIP
    neighbours: int | None = None
    threshold: int | None = None
    key_bits: int = 2048
    seed: int = 0
    security: Security = Security.HONEST
    max_corrupt: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "backend", Backend.parse(self.backend))
        try:
            object.__setattr__(self, "security", Security(self.security))
        except ValueError:
            raise ConfigurationError(f"unknown security mode {self.security!r}") from None
        require_int("clients", self.clients, 1, 2**32 - 2)
        if self.max_corrupt is not None:
            if self.security is not Security.MALICIOUS or not self.backend.masking:
                raise ConfigurationError("max_corrupt applies to malicious masking rounds only")
            require_int("max_corrupt", self.max_corrupt, 0, max(self.clients - 1, 0))
        require_int("dim", self.dim, 1, 2**32 - 2)
        require_int("seed", self.seed, 0, 2**63)
        if not 0.0 <= require_real("dropout", self.dropout) < 1.0:
            raise ConfigurationError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def corrupt(self) -> int:
        """The colluding clients a masking round's threshold withstands (0 in the
        honest mode and for the other backends)."""
        if self.security is not Security.MALICIOUS or not self.backend.masking:
            return 0
        return default_max_corrupt(self.clients) if self.max_corrupt is None else self.max_corrupt

    @property
    def quantization(self) -> QuantizationConfig:
        return QuantizationConfig(clip=self.clip, bits=self.bits, max_clients=self.clients)


def updates(scenario: Scenario) -> list[np.ndarray]:
    """The scenario's float32 client updates (seeded test data, clipped)."""
    rng = np.random.default_rng(scenario.seed)
    c = scenario.clip
    return [
        np.clip(rng.normal(0.0, c / 3, scenario.dim), -c, c).astype(np.float32)
        for _ in range(scenario.clients)
    ]


def dropouts(scenario: Scenario, first: int) -> dict[int, DropStage]:
    """round(dropout * clients) positions >= ``first``, each with its drop stage."""
    rng = np.random.default_rng([scenario.seed, 1])
    n = scenario.clients
    count = min(round(scenario.dropout * n), n - first)
    chosen = sorted(int(p) for p in rng.choice(n - first, size=count, replace=False) + first)
    stages = list(DropStage)
    return {p: scenario.dropout_stage or stages[int(rng.integers(len(stages)))] for p in chosen}


@dataclass(frozen=True, eq=False)
class ScenarioRun:
    """A round of a scenario: the simulation, the clients' float updates and protected
    vectors (by protocol id), and its costs."""

    scenario: Scenario
    run: SimulatedRound
    updates: list[np.ndarray]
    protected: dict[int, np.ndarray]
    metrics: RoundMetrics


def run_scenario(scenario: Scenario) -> ScenarioRun:
    """Quantize the scenario's updates and run its round. Paillier's key holder
    (position 0) never drops at random: that aborts by design (the tests cover it).
    Raises the round's SecAggError (AbortError when too many drop)."""
    xs = updates(scenario)
    first = 1 if scenario.backend is Backend.PAILLIER else 0
    drops = {pos + 1: stage for pos, stage in dropouts(scenario, first).items()}
    quant = scenario.quantization
    neighbours = scenario.neighbours
    if neighbours is None and scenario.backend is Backend.SECAGG_PLUS and scenario.clients >= 3:
        # A degree that survives the scenario's dropout rate (at least the default).
        neighbours = neighbours_for_dropout(
            scenario.clients, scenario.dropout, max_corrupt=scenario.corrupt
        )
    ledger = CpuLedger()
    protected = {}
    for pos, x in enumerate(xs):
        with ledger.charge(pos + 1, "quantize"):
            protected[pos + 1] = encode_weighted(x, 1, quant)
    run = simulate_round(
        scenario.backend,
        protected,
        scenario.dim,
        quant,
        drops,
        neighbours=neighbours,
        threshold=scenario.threshold,
        key_bits=scenario.key_bits,
        workers=2,
        security=scenario.security,
        max_corrupt=scenario.max_corrupt,
        ledger=ledger,
    )
    metrics = round_metrics(scenario.backend, run, scenario.dim, quant)
    return ScenarioRun(scenario, run, xs, protected, metrics)


def report(result: ScenarioRun) -> dict[str, Any]:
    """The ``secagg simulate --json`` object: the metrics, ``exact`` (the aggregate
    equals the plain sum of the survivors' protected vectors), the error of the mean
    and the CPU split."""
    s, run = result.scenario, result.run
    quant = s.quantization
    survivors = run.outcome.survivors
    plain = np.zeros(s.dim + 1, dtype=object)
    for cid in survivors:
        plain += result.protected[cid].astype(object)
    plain %= 1 << quant.k
    exact = [int(v) for v in run.outcome.aggregate] == [int(v) for v in plain]
    mean = decode_weighted(run.outcome.aggregate, quant).mean
    float_mean = np.mean([result.updates[c - 1] for c in survivors], axis=0, dtype=np.float64)
    stages = run.ledger.by_stage
    total = sum(run.ledger.by_party.values())
    out = metrics_dict(result.metrics)
    out.update(
        exact=exact,
        max_abs_error=float(np.max(np.abs(mean - float_mean))),
        total_cpu_s=total,
        protocol_cpu_s=total - stages.get("quantize", 0.0),
        quantize_ms_per_client=1e3 * stages.get("quantize", 0.0) / s.clients,
        mask_vectors=run.mask_vectors,
        refused=run.refused,
        dropout=s.dropout,
        dropout_stage=s.dropout_stage.value if s.dropout_stage else "random",
        security=s.security.value,
        max_corrupt=s.corrupt,
        signature_checks=run.work.total[Work.SIGNATURE_CHECKS],
    )
    return out


def metrics_dict(m: RoundMetrics) -> dict[str, Any]:
    """The :class:`RoundMetrics` fields as JSON-ready values."""
    return {
        "protocol": m.backend.value,
        "clients": m.clients,
        "neighbours": m.neighbours,
        "threshold": m.threshold,
        "dim": m.dim,
        "bits": m.bits,
        "modulus_bits": m.modulus_bits,
        "survivors": m.survivors,
        "client_cpu_s": m.client_cpu_s,
        "client_cpu_s_max": m.client_cpu_s_max,
        "server_cpu_s": m.server_cpu_s,
        "keyholder_cpu_s": m.keyholder_cpu_s,
        "stage_cpu_s": m.stage_cpu_s,
        "bytes_up_per_client": m.bytes_up_per_client,
        "bytes_down_per_client": m.bytes_down_per_client,
        "upload_bytes_per_element": m.bytes_up_per_client / (m.dim + 1),
        "expansion_vs_float32": m.expansion_vs_float32,
    }
