"""One measured aggregation round on random vectors with its cost floor: each point of
the sweep, and ``python -m benchmarks round``.

The round and its exactness check come from the library (:mod:`secagg.scenario`, the
report of ``secagg simulate``); this harness adds the floor measured in the same
process (:mod:`benchmarks.floor`) and the phe baseline (:mod:`benchmarks.naive_paillier`).
"""

from __future__ import annotations

from typing import Any

from benchmarks.floor import (
    Exponentiations,
    exponentiation_floor,
    keystream_floor,
    multiplication_floor,
)
from benchmarks.naive_paillier import measure_naive
from secagg.paillier.djn import ExponentMode, best_window, exponent_bits
from secagg.paillier.keys import generate_keypair
from secagg.paillier.packing import PackingConfig
from secagg.result import Backend
from secagg.scenario import Scenario, ScenarioRun, client_update, report, run_scenario

# Paillier stages that are neither quantization nor key generation (a key can serve many
# rounds): what the exponentiation floor is compared with.
PAILLIER_ROUND_STAGES = ("encrypt", "sum", "decrypt", "finish")


def measure(scenario: Scenario, *, stream: bool | None = None) -> dict[str, Any]:
    """Run the scenario's round (``stream`` as in :func:`run_scenario`) and return its
    report with ``floor_s`` and ``ratio_to_floor``. Raises the round's SecAggError
    (AbortError when too many drop)."""
    result = run_scenario(scenario, stream=stream)
    out = report(result)
    if scenario.backend.masking:
        floor = keystream_floor(out["mask_vectors"], scenario.dim + 1, out["modulus_bits"])
        out.update(floor_s=floor, floor="keystream")
        out["ratio_to_floor"] = out["protocol_cpu_s"] / floor if floor else None
    elif scenario.backend is Backend.PAILLIER:
        _paillier_floor(scenario, result, out, naive=False)
    out["extrapolated"] = False
    return out


def measure_phe(scenario: Scenario, subset: int = 32) -> dict[str, Any]:
    """phe's per-value Paillier at the scenario: the packed protocol runs for the exact
    aggregate, and the reported costs are phe's, measured on ``subset`` values per
    client and scaled to the full length (``extrapolated``)."""
    result = run_scenario(scenario)
    out = report(result)
    key = generate_keypair(scenario.key_bits)
    survivors = [c - 1 for c in result.run.outcome.survivors]
    naive = measure_naive(
        key=key,
        updates=[client_update(scenario, i) for i in survivors],
        weights=[1] * len(survivors),
        quantization=scenario.quantization,
        length=scenario.dim + 1,
        subset=subset,
    )
    stages = {
        "encrypt": sum(naive.client_cpu_s),
        "sum": naive.server_cpu_s,
        "decrypt": naive.keyholder_cpu_s,
    }
    out.update(
        protocol="phe-paillier",
        client_cpu_s=sorted(naive.client_cpu_s)[len(naive.client_cpu_s) // 2],
        client_cpu_s_max=max(naive.client_cpu_s),
        server_cpu_s=naive.server_cpu_s,
        keyholder_cpu_s=naive.keyholder_cpu_s,
        stage_cpu_s=stages,
        bytes_up_per_client=naive.bytes_up_per_client,
        total_cpu_s=sum(stages.values()),
        extrapolated=naive.extrapolated,
    )
    out["upload_bytes_per_element"] = naive.bytes_up_per_client / (scenario.dim + 1)
    out["expansion_vs_float32"] = naive.bytes_up_per_client / (4 * scenario.dim)
    _paillier_floor(scenario, result, out, naive=True)
    return out


def _paillier_floor(
    scenario: Scenario, result: ScenarioRun, out: dict[str, Any], *, naive: bool
) -> None:
    """The same exponentiations done the protocol's way (or phe's), beside the round."""
    s = scenario
    length = s.dim + 1
    uploaders = len(result.run.bytes_up)
    n2_bits = 2 * s.key_bits
    if not naive:
        # Fixed-base DJN, as the protocol's Encryptor does it: per client h^n mod n^2 and
        # a table of windows x (2^w - 1) products; then one product per window per
        # ciphertext. The server multiplies in each ciphertext it receives.
        ciphertexts = PackingConfig.for_budget(s.quantization, s.key_bits).plaintexts(length)
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
    stages = out["stage_cpu_s"]
    round_cpu = sum(stages.get(name, 0.0) for name in PAILLIER_ROUND_STAGES)
    out.update(
        protocol_cpu_s=round_cpu,
        floor_s=floor,
        floor="exponentiations",
        ratio_to_floor=round_cpu / floor if floor else None,
    )
