"""Command line: ``secagg simulate`` runs one aggregation round on random vectors;
``secagg attack`` runs a demonstration of a deviating server (docs/threat-model.md).

The benchmark harness (sweeps, cost floors, baselines) is not part of the library: run
it from the checkout with ``python -m benchmarks`` (see the README).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from secagg.errors import SecAggError
from secagg.protocol.identity import Security
from secagg.quantize import DEFAULT_CLIP
from secagg.result import Backend, DropStage
from secagg.scenario import Scenario, report, run_scenario


def scenario_parser(prog: str) -> argparse.ArgumentParser:
    """The flags of one simulated round (shared with ``python -m benchmarks round``)."""
    parser = argparse.ArgumentParser(
        prog=prog, description="one aggregation round on random vectors"
    )
    parser.add_argument("--protocol", choices=[b.value for b in Backend], default="secagg+")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--dim", type=int, default=100_000)
    parser.add_argument("--dropout", type=float, default=0.1, help="fraction of clients that drop")
    parser.add_argument(
        "--dropout-stage",
        choices=[s.value for s in DropStage],
        default=None,
        help="stage at which they drop (default: a random stage per client)",
    )
    parser.add_argument("--bits", type=int, default=16, help="quantization bits b")
    parser.add_argument("--clip", type=float, default=DEFAULT_CLIP)
    parser.add_argument("--neighbours", type=int, default=None)
    parser.add_argument("--threshold", type=int, default=None)
    parser.add_argument("--key-bits", type=int, default=2048, help="Paillier modulus bits")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random test vectors")
    parser.add_argument(
        "--security",
        choices=["honest", "malicious"],
        default="honest",
        help="the server's trust model (malicious: signed keys, consistency round, model binding)",
    )
    parser.add_argument(
        "--max-corrupt",
        type=int,
        default=None,
        help="malicious mode: clients that may collude with the server (default n // 20)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def scenario_from(args: argparse.Namespace) -> Scenario:
    """The :class:`Scenario` of parsed flags. Raises ConfigurationError."""
    return Scenario(
        backend=Backend.parse(args.protocol),
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
        security=Security(args.security),
        max_corrupt=args.max_corrupt,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="secagg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "simulate",
        help="one aggregation round on random vectors (secagg simulate --help)",
        add_help=False,
    )
    sub.add_parser(
        "attack",
        help="a deviating server against the honest or malicious mode (secagg attack --help)",
        add_help=False,
    )
    return parser


def attack_parser() -> argparse.ArgumentParser:
    from secagg.attacks import Scenario

    parser = argparse.ArgumentParser(
        prog="secagg attack",
        description="Run a deviating server against real clients; report whether it "
        "recovered (or isolated) an individual input, and what stopped it.",
    )
    parser.add_argument("scenario", choices=[s.value for s in Scenario])
    parser.add_argument("--security", choices=["honest", "malicious"], default="honest")
    parser.add_argument(
        "--max-corrupt",
        type=int,
        default=None,
        help="malicious mode: clients that may collude with the server (default n // 20)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _attack(argv: list[str]) -> int:
    from secagg.attacks import run

    args = attack_parser().parse_args(argv)
    result = run(args.scenario, args.security)
    if args.json:
        out = result.as_dict()
        del out["detail"]
        print(json.dumps(out, sort_keys=True))
    else:
        verdict = "RECOVERED an individual input" if result.recovered else "did not recover"
        why = f" (stopped by {result.stopped_by})" if result.stopped_by else ""
        print(f"{result.scenario} against the {result.security} mode: {verdict}{why}")
        print(f"  {result.detail}")
    return 0


def simulate(args: argparse.Namespace) -> dict[str, Any]:
    """Run one round and return the report (the JSON object of ``--json``)."""
    return report(run_scenario(scenario_from(args)))


def print_report(report: dict[str, Any]) -> None:
    """The human-readable form of a round's report."""
    print(
        f"{report['protocol']}: {report['clients']} clients, {report['survivors']} survived, "
        f"dim {report['dim']}, {report['bits']}-bit quantization, k = {report['modulus_bits']}"
    )
    if report.get("neighbours"):
        print(f"  neighbours {report['neighbours']}, threshold {report['threshold']}")
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
    if argv[:1] == ["attack"]:
        return _attack(argv[1:])
    if argv[:1] != ["simulate"]:
        if argv[:1] == ["bench"]:
            print(
                "secagg bench moved out of the library: run `python -m benchmarks sweep` "
                "from the checkout (or `make bench`)",
                file=sys.stderr,
            )
            return 2
        _parser().parse_args(argv)  # prints usage and exits
        return 2
    args = scenario_parser("secagg simulate").parse_args(argv[1:])
    try:
        out = simulate(args)
    except SecAggError as exc:
        print(f"secagg: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        print_report(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
