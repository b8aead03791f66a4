"""The benchmark harness, run from the checkout (it is not installed with secagg)::

    python -m benchmarks sweep [--quick] [--reps N] [--protocols ...]   # the sweeps
    python -m benchmarks round [secagg simulate's flags]               # one round + floor
    python -m benchmarks malicious [--reps N] [--quick]                # malicious vs honest
    python -m benchmarks dp [--reps N]                                 # DP encoding cost
    python -m benchmarks dp-utility [--rounds R] [--quick]             # docs/dp.md's table
    python -m benchmarks flower [--reps N] [--quick]                   # ours vs Flower's SecAgg+
    python -m benchmarks robustness [--rounds R] [--quick]             # docs/robustness.md
    python -m benchmarks parameters [--rounds R] [--quick]             # docs/choosing-parameters.md
    python -m benchmarks scale [--clients N ...] [--quick]             # SecAgg+ growth in n

``round`` is ``secagg simulate`` with the cost floor measured in the same process and
``ratio_to_floor`` in its report. ``flower`` runs our SecAgg+ and Flower's SecAgg+ in
the same in-process Flower engine (needs flwr 1.42, the ``compare`` extra).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

USAGE = (
    "usage: python -m benchmarks "
    "{sweep,round,malicious,flower,dp,dp-utility,robustness,parameters,scale} [options]"
    "   (--help after any)"
)


def _round(argv: list[str]) -> int:
    from benchmarks.measure import measure
    from secagg.cli import print_report, scenario_from, scenario_parser
    from secagg.errors import SecAggError

    args = scenario_parser("python -m benchmarks round").parse_args(argv)
    try:
        report = measure(scenario_from(args))
    except SecAggError as exc:
        print(f"benchmarks round: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        print_report(report)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["sweep"]:
        from benchmarks.cli import main as sweep

        return sweep(args[1:])
    if args[:1] == ["round"]:
        return _round(args[1:])
    if args[:1] == ["dp-utility"]:
        from benchmarks.dp_utility import main as dp_utility

        return dp_utility(args[1:])
    if args[:1] == ["dp"]:
        from benchmarks.dp_cost import main as dp_cost

        return dp_cost(args[1:])
    if args[:1] == ["malicious"]:
        from benchmarks.malicious import main as malicious

        return malicious(args[1:])
    if args[:1] == ["parameters"]:
        from benchmarks.parameters import main as parameters

        return parameters(args[1:])
    if args[:1] == ["scale"]:
        from benchmarks.scale import main as scale

        return scale(args[1:])
    if args[:1] == ["robustness"]:
        from benchmarks.robustness import main as robustness

        return robustness(args[1:])
    if args[:1] == ["flower"]:
        from benchmarks.flower_compare import main as flower

        return flower(args[1:])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
