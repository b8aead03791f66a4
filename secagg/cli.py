"""Command line: ``secagg simulate`` runs one aggregation round on random vectors."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from secagg.errors import SecAggError
from secagg.floor import keystream_floor
from secagg.masking.config import MaskingConfig
from secagg.masking.simulation import graph_for, masking_metrics, simulate_masking
from secagg.quantize import QuantizationConfig
from secagg.result import DropStage, Protocol
from secagg.timing import CpuLedger
from secagg.weighting import decode_weighted, encode_weighted, protected_length


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="secagg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="one aggregation round on random vectors")
    sim.add_argument("--protocol", choices=[p.value for p in Protocol], default="secagg+")
    sim.add_argument("--clients", type=int, default=50)
    sim.add_argument("--dim", type=int, default=100_000)
    sim.add_argument("--dropout", type=float, default=0.1, help="fraction of clients that drop")
    sim.add_argument(
        "--dropout-stage",
        choices=[s.value for s in DropStage],
        default=None,
        help="stage at which they drop (default: a random stage per client)",
    )
    sim.add_argument("--bits", type=int, default=16, help="quantization bits b")
    sim.add_argument("--clip", type=float, default=1.0)
    sim.add_argument("--neighbours", type=int, default=None)
    sim.add_argument("--threshold", type=int, default=None)
    sim.add_argument("--key-bits", type=int, default=2048, help="Paillier modulus bits")
    sim.add_argument("--seed", type=int, default=0, help="seed of the random test vectors")
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _dropouts(
    rng: np.random.Generator, clients: int, fraction: float, stage: str | None, first: int
) -> dict[int, DropStage]:
    """Choose round(fraction * clients) positions >= ``first`` to drop."""
    if not 0.0 <= fraction < 1.0:
        raise SecAggError(f"--dropout must be in [0, 1), got {fraction}")
    count = min(round(fraction * clients), clients - first)
    chosen = rng.choice(clients - first, size=count, replace=False) + first
    positions = sorted(int(p) for p in chosen)
    stages = list(DropStage)
    return {
        p: DropStage(stage) if stage else stages[int(rng.integers(len(stages)))] for p in positions
    }


def simulate(args: argparse.Namespace) -> dict[str, Any]:
    """Run one round and return the report (the JSON object of ``--json``)."""
    protocol = Protocol(args.protocol)
    # Test data only: seeded numpy randomness is fine for inputs and for choosing who
    # drops; every protocol secret still comes from os.urandom.
    rng = np.random.default_rng(args.seed)
    updates = [
        np.clip(rng.normal(0.0, args.clip / 3, args.dim), -args.clip, args.clip).astype(np.float32)
        for _ in range(args.clients)
    ]
    # Paillier's key holder (position 0) never drops at random: that aborts by design,
    # which the tests cover; the simulation measures the rounds that complete.
    first = 0 if protocol in (Protocol.SECAGG, Protocol.SECAGG_PLUS) else 1
    drops = _dropouts(rng, args.clients, args.dropout, args.dropout_stage, first)
    quant = QuantizationConfig(clip=args.clip, bits=args.bits, max_clients=args.clients)
    if protocol in (Protocol.SECAGG, Protocol.SECAGG_PLUS):
        report = _simulate_masking(protocol, updates, drops, quant, args)
    else:
        report = _simulate_paillier(protocol, updates, drops, quant, args)
    report["dropout"] = args.dropout
    report["dropout_stage"] = args.dropout_stage or "random"
    return report


def _simulate_masking(
    protocol: Protocol,
    updates: list[np.ndarray],
    drops: dict[int, DropStage],
    quant: QuantizationConfig,
    args: argparse.Namespace,
) -> dict[str, Any]:
    config = MaskingConfig.create(
        graph_for(protocol),
        len(updates),
        protected_length(args.dim),
        quant.k,
        args.neighbours,
        args.threshold,
    )
    ledger = CpuLedger()
    inputs = {}
    for pos, x in enumerate(updates):
        with ledger.charge(pos + 1, "quantize"):
            inputs[pos + 1] = encode_weighted(x, 1, quant)
    run = simulate_masking(config, inputs, {p + 1: s for p, s in drops.items()})
    ledger.merge(run.ledger)
    survivors = run.outcome.survivors
    # The check the protocol must pass: the unmasked sum equals the plain sum mod 2^k.
    plain = np.zeros(config.dim, dtype=np.uint64)
    for cid in survivors:
        plain += inputs[cid].astype(np.uint64)
    plain &= np.uint64((1 << quant.k) - 1)
    exact = bool(np.array_equal(plain, run.outcome.aggregate.astype(np.uint64)))
    mean = decode_weighted(run.outcome.aggregate, quant).mean
    float_mean = np.mean([updates[c - 1] for c in survivors], axis=0, dtype=np.float64)
    metrics = masking_metrics(protocol, config, quant, run, ledger)
    total = sum(ledger.by_party.values())
    floor = keystream_floor(run.mask_vectors, config.dim, config.modulus_bits)
    report = _metrics_dict(metrics)
    report.update(
        exact=exact,
        max_abs_error=float(np.max(np.abs(mean - float_mean))),
        total_cpu_s=total,
        protocol_cpu_s=total - ledger.by_stage.get("quantize", 0.0),
        quantize_ms_per_client=1e3 * ledger.by_stage.get("quantize", 0.0) / len(updates),
        mask_vectors=run.mask_vectors,
        floor_s=floor,
        ratio_to_floor=(total - ledger.by_stage.get("quantize", 0.0)) / floor if floor else None,
        refused=run.refused,
    )
    return report


def _simulate_paillier(
    protocol: Protocol,
    updates: list[np.ndarray],
    drops: dict[int, DropStage],
    quant: QuantizationConfig,
    args: argparse.Namespace,
) -> dict[str, Any]:
    from secagg.paillier.simulation import run_paillier_round

    start = time.process_time()
    inputs: dict[int, np.ndarray] = {}
    result = run_paillier_round(
        protocol,
        updates,
        [1] * len(updates),
        quant,
        drops,
        key_bits=args.key_bits,
        record_inputs=inputs,
    )
    # The check the protocol must pass: the decrypted sum equals the plain sum.
    plain = np.zeros(result.aggregate.size, dtype=object)
    for p in result.survivors:
        plain += inputs[p].astype(object)
    exact = [int(v) for v in result.aggregate] == [int(v) for v in plain]
    float_mean = np.mean([updates[p] for p in result.survivors], axis=0, dtype=np.float64)
    report = _metrics_dict(result.metrics)
    report.update(
        exact=exact,
        max_abs_error=float(np.max(np.abs(result.mean - float_mean))),
        total_cpu_s=time.process_time() - start,
    )
    return report


def _metrics_dict(m: Any) -> dict[str, Any]:
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


def _print_human(report: dict[str, Any]) -> None:
    print(
        f"{report['protocol']}: {report['clients']} clients, {report['survivors']} survived, "
        f"dim {report['dim']}, {report['bits']}-bit quantization, k = {report['modulus_bits']}"
    )
    if report.get("neighbours"):
        print(f"  neighbours {report['neighbours']}, threshold {report['threshold']}")
    if "exact" in report:
        print(f"  exact sum: {report['exact']}")
    print(f"  max |mean error|: {report['max_abs_error']:.3g}")
    print(
        f"  CPU s: client median {report['client_cpu_s']:.3f} (max "
        f"{report['client_cpu_s_max']:.3f}), server {report['server_cpu_s']:.3f}, "
        f"key holder {report['keyholder_cpu_s']:.3f}, all parties {report['total_cpu_s']:.3f}"
    )
    for stage, seconds in report["stage_cpu_s"].items():
        print(f"    {stage:<12} {seconds:.3f}")
    if report.get("floor_s"):
        print(
            f"  keystream floor {report['floor_s']:.3f} s; protocol / floor = "
            f"{report['ratio_to_floor']:.2f}"
        )
    print(
        f"  bytes up/client {report['bytes_up_per_client']:.0f} "
        f"({report['upload_bytes_per_element']:.3f} per element), down/client "
        f"{report['bytes_down_per_client']:.0f}, expansion vs float32 "
        f"{report['expansion_vs_float32']:.3f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``secagg`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        report = simulate(args)
    except SecAggError as exc:
        print(f"secagg: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        _print_human(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
