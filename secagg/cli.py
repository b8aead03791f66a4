"""Command line: ``secagg simulate`` runs one aggregation round on random vectors;
``secagg bench`` runs the benchmark sweeps of :mod:`benchmarks`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from secagg.errors import SecAggError
from secagg.measure import Scenario, measure
from secagg.result import DropStage, Protocol


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
    sub.add_parser(
        "bench",
        help="benchmark sweeps against plain summation, Flower SecAgg+ and phe "
        "(secagg bench --help for its options)",
        add_help=False,
    )
    return parser


def simulate(args: argparse.Namespace) -> dict[str, Any]:
    """Run one round and return the report (the JSON object of ``--json``)."""
    scenario = Scenario(
        protocol=Protocol(args.protocol),
        clients=args.clients,
        dim=args.dim,
        dropout=args.dropout,
        dropout_stage=DropStage(args.dropout_stage) if args.dropout_stage else None,
        bits=args.bits,
        clip=args.clip,
        neighbours=args.neighbours,
        threshold=args.threshold,
        key_bits=args.key_bits,
        seed=args.seed,
    )
    return measure(scenario)


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
            f"  {report['floor']} floor {report['floor_s']:.3f} s; protocol / floor = "
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
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
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


def _bench(argv: list[str]) -> int:
    # The harness lives in the top-level ``benchmarks`` package (installed with this
    # distribution); it is imported only here so that ``secagg`` itself needs no
    # plotting or Flower packages.
    try:
        from benchmarks.cli import main as bench_main
    except ImportError as exc:
        print(
            f"secagg bench: the benchmark harness is not importable ({exc}); install the "
            "project with its extras: pip install -e '.[fl,compare]'",
            file=sys.stderr,
        )
        return 2
    return bench_main(argv)


if __name__ == "__main__":
    sys.exit(main())
