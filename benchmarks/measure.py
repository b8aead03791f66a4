"""One measured aggregation round on random vectors: the report behind ``secagg simulate``
and each point of ``secagg bench``.

The inputs are test data (seeded numpy randomness, which is fine for inputs and for
choosing who drops); every protocol secret still comes from ``os.urandom``. Each report
checks the protocol's result exactly against a plain computation and sets its cost
beside a floor measured in the same process (:mod:`secagg.floor`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from secagg.errors import ConfigurationError
from secagg.floor import (
    Exponentiations,
    exponentiation_floor,
    keystream_floor,
    multiplication_floor,
)
from secagg.masking.config import MaskingConfig, neighbours_for_dropout
from secagg.masking.simulation import graph_for, masking_metrics, simulate_masking
from secagg.quantize import QuantizationConfig
from secagg.result import DropStage, Protocol, RoundMetrics
from secagg.timing import CpuLedger
from secagg.weighting import decode_weighted, encode_weighted, protected_length

MASKING = (Protocol.SECAGG, Protocol.SECAGG_PLUS)


@dataclass(frozen=True)
class Scenario:
    """One round to measure. ``dropout`` is the fraction of clients that vanish, at
    ``dropout_stage`` or, when None, at a random stage each; ``bits`` is the
    quantization b; ``key_bits`` the Paillier modulus size."""

    protocol: Protocol
    clients: int = 50
    dim: int = 100_000
    dropout: float = 0.1
    dropout_stage: DropStage | None = None
    bits: int = 16
    clip: float = 1.0
    neighbours: int | None = None
    threshold: int | None = None
    key_bits: int = 2048
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigurationError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.clients < 1 or self.dim < 1:
            raise ConfigurationError("clients and dim must be positive")


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


def measure(scenario: Scenario) -> dict[str, Any]:
    """Run the scenario's round and return its report (the ``secagg simulate --json``
    object). Raises the round's SecAggError (AbortError when too many drop)."""
    xs = updates(scenario)
    # Paillier's key holder (position 0) never drops at random: that aborts by design,
    # which the tests cover; the simulation measures the rounds that complete.
    drops = dropouts(scenario, 0 if scenario.protocol in MASKING else 1)
    quant = QuantizationConfig(clip=scenario.clip, bits=scenario.bits, max_clients=scenario.clients)
    if scenario.protocol in MASKING:
        report = _masking(scenario, xs, drops, quant)
    else:
        report = _paillier(scenario, xs, drops, quant)
    report["dropout"] = scenario.dropout
    report["dropout_stage"] = scenario.dropout_stage.value if scenario.dropout_stage else "random"
    return report


def _masking(
    s: Scenario, xs: list[np.ndarray], drops: dict[int, DropStage], quant: QuantizationConfig
) -> dict[str, Any]:
    neighbours = s.neighbours
    if neighbours is None and s.protocol is Protocol.SECAGG_PLUS and len(xs) >= 3:
        # A degree that survives the scenario's dropout rate (at least the default).
        neighbours = neighbours_for_dropout(len(xs), s.dropout)
    config = MaskingConfig.create(
        graph_for(s.protocol), len(xs), protected_length(s.dim), quant.k, neighbours, s.threshold
    )
    ledger = CpuLedger()
    inputs = {}
    for pos, x in enumerate(xs):
        with ledger.charge(pos + 1, "quantize"):
            inputs[pos + 1] = encode_weighted(x, 1, quant)
    run = simulate_masking(config, inputs, {p + 1: stage for p, stage in drops.items()})
    ledger.merge(run.ledger)
    survivors = run.outcome.survivors
    # The check the protocol must pass: the unmasked sum equals the plain sum mod 2^k.
    plain = np.zeros(config.dim, dtype=np.uint64)
    for cid in survivors:
        plain += inputs[cid].astype(np.uint64)
    plain &= np.uint64((1 << quant.k) - 1)
    exact = bool(np.array_equal(plain, run.outcome.aggregate.astype(np.uint64)))
    mean = decode_weighted(run.outcome.aggregate, quant).mean
    float_mean = np.mean([xs[c - 1] for c in survivors], axis=0, dtype=np.float64)
    total = sum(ledger.by_party.values())
    protocol_cpu = total - ledger.by_stage.get("quantize", 0.0)
    floor = keystream_floor(run.mask_vectors, config.dim, config.modulus_bits)
    report = metrics_dict(masking_metrics(s.protocol, config, quant, run, ledger))
    report.update(
        exact=exact,
        max_abs_error=float(np.max(np.abs(mean - float_mean))),
        total_cpu_s=total,
        protocol_cpu_s=protocol_cpu,
        quantize_ms_per_client=1e3 * ledger.by_stage.get("quantize", 0.0) / len(xs),
        mask_vectors=run.mask_vectors,
        floor_s=floor,
        floor="keystream",
        ratio_to_floor=protocol_cpu / floor if floor else None,
        refused=run.refused,
    )
    return report


# Paillier stages that are neither quantization nor key generation (a key can serve many
# rounds): what the exponentiation floor is compared with.
_PAILLIER_ROUND_STAGES = ("setup", "encrypt", "sum", "decrypt", "finish")


def _paillier(
    s: Scenario, xs: list[np.ndarray], drops: dict[int, DropStage], quant: QuantizationConfig
) -> dict[str, Any]:
    from secagg.paillier.djn import ExponentMode, best_window, exponent_bits
    from secagg.paillier.packing import PackingConfig
    from secagg.paillier.simulation import run_paillier_round

    inputs: dict[int, np.ndarray] = {}
    result = run_paillier_round(
        s.protocol, xs, [1] * len(xs), quant, drops, key_bits=s.key_bits, record_inputs=inputs
    )
    # Every party's CPU, the decryption workers' included (extrapolated for phe).
    total = sum(result.metrics.stage_cpu_s.values())
    # The check the protocol must pass: the decrypted sum equals the plain sum.
    plain = np.zeros(result.aggregate.size, dtype=object)
    for p in result.survivors:
        plain += inputs[p].astype(object)
    exact = [int(v) for v in result.aggregate] == [int(v) for v in plain]
    float_mean = np.mean([xs[p] for p in result.survivors], axis=0, dtype=np.float64)

    length = protected_length(s.dim)
    uploaders = len(inputs)
    n2_bits = 2 * s.key_bits
    if s.protocol is Protocol.PAILLIER:
        # Fixed-base DJN, as the protocol's Encryptor does it: per client h^n mod n^2 and
        # a table of windows x (2^w - 1) products; then one product per window per
        # ciphertext. The server multiplies in each ciphertext it receives.
        ciphertexts = PackingConfig.for_budget(quant, s.key_bits).plaintexts(length)
        exp_bits = exponent_bits(ExponentMode.HALF, s.key_bits)
        window = best_window(exp_bits, ciphertexts)
        windows = -(-exp_bits // window)
        powmods = [Exponentiations(uploaders, n2_bits, s.key_bits)]
        products = uploaders * (windows * ((1 << window) - 1) + ciphertexts * (windows + 1))
    else:
        # phe: a full r^n mod n^2 per value, one ciphertext per value summed by the server.
        ciphertexts = length
        powmods = [Exponentiations(uploaders * length, n2_bits, s.key_bits)]
        products = uploaders * length
    # Two CRT exponentiations per decrypted ciphertext: mod p^2 and q^2, |p|-bit exponents.
    powmods.append(Exponentiations(2 * ciphertexts, s.key_bits, s.key_bits // 2))
    floor = exponentiation_floor(powmods) + multiplication_floor(products, n2_bits)
    stages = result.metrics.stage_cpu_s
    round_cpu = sum(stages.get(name, 0.0) for name in _PAILLIER_ROUND_STAGES)
    report = metrics_dict(result.metrics)
    report.update(
        exact=exact,
        max_abs_error=float(np.max(np.abs(result.mean - float_mean))),
        total_cpu_s=total,
        protocol_cpu_s=round_cpu,
        floor_s=floor,
        floor="exponentiations",
        ratio_to_floor=round_cpu / floor if floor else None,
    )
    return report


def metrics_dict(m: RoundMetrics) -> dict[str, Any]:
    """The :class:`RoundMetrics` fields as JSON-ready values."""
    return {
        "protocol": m.protocol.value,
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
        "extrapolated": m.extrapolated,
    }
