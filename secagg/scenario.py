"""One aggregation round on random vectors: the report behind ``secagg simulate``.

The inputs are test data (seeded numpy randomness, which is fine for inputs and for
choosing who drops); every protocol secret still comes from ``os.urandom``. Inputs
stream: each client's is made from the seed and its position just before it is masked
or encrypted, and only running sums are kept, so a round of 10,000 clients holds O(d)
of inputs. The report checks the backend's result exactly against the plain sum of the
survivors' protected vectors. Cost floors and baselines belong to the benchmark harness
(``python -m benchmarks``), which builds on this module.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from secagg.errors import ConfigurationError
from secagg.masking.config import default_max_corrupt, neighbours_for_dropout
from secagg.primitives.entropy import Entropy
from secagg.primitives.prg import mask_dtype
from secagg.protocol.identity import Security
from secagg.protocol.observer import Work
from secagg.quantize import DEFAULT_CLIP, QuantizationConfig
from secagg.result import Backend, DropStage, RoundMetrics
from secagg.simulation import InputStream, SimulatedRound, round_metrics, simulate_round
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


def client_update(scenario: Scenario, position: int) -> npt.NDArray[np.float32]:
    """The float32 update of the client at ``position`` (0-based): seeded test data,
    normal with standard deviation clip / 3, clipped. Made from the scenario's seed and
    the position alone, so any one client's update can be made (again) by itself."""
    rng = np.random.default_rng([scenario.seed, 2, position])
    c = scenario.clip
    x = rng.standard_normal(scenario.dim, dtype=np.float32)
    x *= np.float32(c / 3)
    return np.clip(x, -c, c, out=x)


def updates(scenario: Scenario) -> list[npt.NDArray[np.float32]]:
    """Every client's update (:func:`client_update`), all in memory: for small rounds."""
    return [client_update(scenario, pos) for pos in range(scenario.clients)]


def _rounding_entropy(scenario: Scenario, position: int) -> Entropy:
    """The stochastic-rounding noise of a test input, derived from the seed like the
    input itself, so that the exactness check can remake a protected vector. It protects
    nothing (the inputs are public test data); every protocol secret still comes from
    ``os.urandom``."""
    stream = hashlib.shake_256(
        b"secagg/v1/scenario-rounding" + struct.pack(">QQ", scenario.seed, position)
    )
    used = 0

    def entropy(n: int) -> bytes:
        nonlocal used
        used += n
        return stream.digest(used)[used - n :]

    return entropy


def protected_input(
    scenario: Scenario, position: int, update: npt.NDArray[np.float32] | None = None
) -> npt.NDArray[np.unsignedinteger]:
    """The quantized, weight-1 protected vector of the client at ``position`` (of its
    ``update`` when already made)."""
    x = client_update(scenario, position) if update is None else update
    return encode_weighted(x, 1, scenario.quantization, _rounding_entropy(scenario, position))


def dropouts(scenario: Scenario, first: int) -> dict[int, DropStage]:
    """round(dropout * clients) positions >= ``first``, each with its drop stage."""
    rng = np.random.default_rng([scenario.seed, 1])
    n = scenario.clients
    count = min(round(scenario.dropout * n), n - first)
    chosen = sorted(int(p) for p in rng.choice(n - first, size=count, replace=False) + first)
    stages = list(DropStage)
    return {p: scenario.dropout_stage or stages[int(rng.integers(len(stages)))] for p in chosen}


class _Totals:
    """What the exactness check needs, kept as running sums while the inputs stream:
    the protected vectors' sum (uint64, wrapping mod 2^64, reduced mod 2^k at the end)
    and the float updates' sum, over the clients that got their input."""

    def __init__(self, scenario: Scenario, ledger: CpuLedger) -> None:
        self.scenario, self.ledger = scenario, ledger
        self.protected = np.zeros(scenario.dim + 1, dtype=np.uint64)
        self.floats = np.zeros(scenario.dim, dtype=np.float64)

    def make(self, cid: int) -> npt.NDArray[np.unsignedinteger]:
        """The input of client ``cid`` (position cid - 1), quantized on its CPU account."""
        x = client_update(self.scenario, cid - 1)
        with self.ledger.charge(cid, "quantize"):
            vector = protected_input(self.scenario, cid - 1, x)
        self.protected += vector
        self.floats += x
        return vector

    def remove(self, cid: int, vector: npt.NDArray[np.unsignedinteger] | None) -> None:
        """Take out a client that got its input (``vector``, remade when None) but whose
        upload is not in the sum."""
        self.protected -= protected_input(self.scenario, cid - 1) if vector is None else vector
        self.floats -= client_update(self.scenario, cid - 1)


@dataclass(frozen=True, eq=False)
class ScenarioRun:
    """A round of a scenario: the simulation, its costs, and for the exactness check
    the plain sum of the survivors' protected vectors (mod 2^k) and the mean of their
    float updates. Inputs were made one client at a time (memory O(d), not O(n d))."""

    scenario: Scenario
    run: SimulatedRound
    metrics: RoundMetrics
    expected: npt.NDArray[np.uint64]
    float_mean: npt.NDArray[np.float64]


#: Rounds whose protected inputs take more bytes than this stream them by default.
PREMADE_BYTES = 256 << 20


def run_scenario(scenario: Scenario, *, stream: bool | None = None) -> ScenarioRun:
    """Run the scenario's round. Streamed (``stream=True``, the default when the inputs
    would take more than :data:`PREMADE_BYTES`): each client's input is made (and
    quantized, on its CPU account) just before it is masked or encrypted, and released
    after, so memory stays O(d). Otherwise every input is made first, as clients hold
    their updates before a round starts, and the parties' measured steps do not follow
    the harness's own memory traffic. Paillier's key holder (position 0) never drops at
    random: that aborts by design (the tests cover it). Raises the round's SecAggError
    (AbortError when too many drop)."""
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
    totals = _Totals(scenario, ledger)
    clients = range(1, scenario.clients + 1)
    if stream is None:
        word = np.dtype(mask_dtype(quant.k)).itemsize
        stream = scenario.clients * (scenario.dim + 1) * word > PREMADE_BYTES
    inputs: InputStream | dict[int, npt.NDArray[np.unsignedinteger]]
    inputs = InputStream(clients, totals.make) if stream else {c: totals.make(c) for c in clients}
    run = simulate_round(
        scenario.backend,
        inputs,
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
    survivors = run.outcome.survivors
    made = inputs.supplied if isinstance(inputs, InputStream) else list(inputs)
    for cid in set(made) - set(survivors):
        totals.remove(cid, None if isinstance(inputs, InputStream) else inputs[cid])
    if set(survivors) - set(made):  # every summed input was made here
        raise ConfigurationError("a survivor's input was not made by the scenario")
    k = quant.k
    expected = totals.protected if k == 64 else totals.protected & np.uint64((1 << k) - 1)
    metrics = round_metrics(scenario.backend, run, scenario.dim, quant)
    mean = totals.floats / max(len(survivors), 1)
    return ScenarioRun(scenario, run, metrics, expected, mean)


def report(result: ScenarioRun) -> dict[str, Any]:
    """The ``secagg simulate --json`` object: the metrics, ``exact`` (the aggregate
    equals the plain sum of the survivors' protected vectors), the error of the mean
    and the CPU split."""
    s, run = result.scenario, result.run
    aggregate = run.outcome.aggregate
    exact = aggregate.shape == result.expected.shape and bool(
        np.array_equal(aggregate.astype(np.uint64), result.expected)
    )
    mean = decode_weighted(aggregate, s.quantization).mean
    stages = run.ledger.by_stage
    total = sum(run.ledger.by_party.values())
    out = metrics_dict(result.metrics)
    out.update(
        exact=exact,
        max_abs_error=float(np.max(np.abs(mean - result.float_mean))),
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
        key_agreements=run.work.total[Work.KEY_AGREEMENTS],
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
