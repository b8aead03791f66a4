"""The privacy-utility table of docs/dp.md: ``python -m benchmarks dp-utility``.

MNIST FedAvg (``fl``'s defaults, the MLP model) with distributed DP at epsilon in
{1, 3, 8} (delta = 1e-5, over all rounds, the noise multiplier picked by
``--target-epsilon``), for DDG and Skellam at 16 and 20 bits, against the same secure
backend without DP (epsilon = infinity) and plain FedAvg. One process, one seed: every
run sees the same clients, batches and dropouts, so they differ only in the noise.

Writes benchmarks/results/dp_utility.json, docs/img/dp_utility.png and the table
between the markers in docs/dp.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.docfile import write_between_markers
from benchmarks.sweep import git_commit, machine

OUT = Path("benchmarks/results/dp_utility.json")
PLOT = Path("docs/img/dp_utility.png")
DOC = Path("docs/dp.md")
START, END = "<!-- dp-utility:start -->", "<!-- dp-utility:end -->"
EPSILONS = (1.0, 3.0, 8.0)
BITS = (16, 20)
MECHANISMS = ("ddg", "skellam")


def _run(config: Any) -> dict[str, Any]:
    from fl.errors import ConfigError
    from fl.rounds import run_fedavg

    started = time.perf_counter()
    try:
        result = run_fedavg(config)
    except ConfigError as exc:  # e.g. the bits cannot hold the noise this epsilon needs
        return {
            "backend": config.backend, "dp": config.dp, "bits": config.bits,
            "target_epsilon": config.target_epsilon, "error": str(exc),
        }  # fmt: skip
    done = [r for r in result.rounds if not r.skipped]
    return {
        "backend": result.backend,
        "dp": config.dp,
        "bits": config.bits,
        "target_epsilon": config.target_epsilon,
        "epsilon": None if result.dp is None else result.dp["epsilon"],
        "noise_multiplier": None if result.dp is None else result.dp["noise_multiplier"],
        "final_accuracy": result.final_accuracy,
        "best_accuracy": max((r.accuracy for r in result.rounds), default=0.0),
        "rounds_completed": len(done),
        "wall_s": time.perf_counter() - started,
        "accuracy_by_round": [r.accuracy for r in result.rounds],
    }


def run(rounds: int, quick: bool) -> dict[str, Any]:
    from fl.config import FLConfig

    base = FLConfig(model="mlp", rounds=rounds, progress=False)
    if quick:
        base = replace(base, dataset="digits", clients=8, clients_per_round=6)
    runs = [_run(replace(base, backend="plain")), _run(base)]
    print(
        f"plain {runs[0]['final_accuracy']:.3f}, no DP {runs[1]['final_accuracy']:.3f}",
        file=sys.stderr,
    )
    for mechanism in MECHANISMS:
        for bits in BITS:
            for eps in EPSILONS:
                config = replace(base, dp=mechanism, bits=bits, target_epsilon=eps)
                row = _run(config)
                runs.append(row)
                outcome = (
                    row["error"]
                    if "error" in row
                    else f"z {row['noise_multiplier']:.3f}, accuracy {row['final_accuracy']:.3f}"
                )
                print(f"{mechanism} {bits} bits epsilon {eps}: {outcome}", file=sys.stderr)
    return {
        "command": "python -m benchmarks dp-utility"
        + (" --quick" if quick else "")
        + f" --rounds {rounds}",
        "git_commit": git_commit(),
        "machine": machine(),
        "config": {
            "dataset": base.dataset,
            "model": base.model,
            "rounds": rounds,
            "clients": base.clients,
            "clients_per_round": base.clients_per_round,
            "dropout": base.dropout,
            "l2_clip": base.l2_clip,
            "delta": base.delta,
            "seed": base.seed,
        },
        "runs": runs,
    }


def table(data: dict[str, Any]) -> list[str]:
    """The Markdown table: final accuracy per mechanism and bits, by epsilon."""
    runs = data["runs"]
    plain = next(r for r in runs if r["backend"] == "plain")
    secure = next(r for r in runs if r["backend"] != "plain" and r["dp"] == "none")
    cfg = data["config"]
    lines = [
        f"{cfg['dataset'].upper()}, {cfg['model']}, {cfg['rounds']} rounds, "
        f"{cfg['clients_per_round']} of {cfg['clients']} clients per round (sampling "
        f"rate {cfg['clients_per_round'] / cfg['clients']:g}), dropout {cfg['dropout']}, "
        f"L2 clip {cfg['l2_clip']}, delta {cfg['delta']:g}; final test accuracy (%), and "
        "the noise multiplier z the target epsilon needed (needs B bits: the noise that "
        "epsilon needs does not fit the bits at a useful resolution). From "
        f"`{data['command']}` (commit `{data['git_commit']}`).",
        "",
        "| mechanism | bits | "
        + " | ".join(f"epsilon = {e:g}" for e in EPSILONS)
        + " | epsilon = inf (SecAgg+, no DP) |",
        "|:---|---:|" + "---:|" * (len(EPSILONS) + 1),
    ]
    for mechanism in MECHANISMS:
        for bits in BITS:
            cells = []
            for eps in EPSILONS:
                row = next(
                    r
                    for r in runs
                    if r["dp"] == mechanism and r["bits"] == bits and r["target_epsilon"] == eps
                )
                if "error" in row:
                    needed = re.search(r"at least (\d+) bits", row["error"])
                    cells.append(f"needs {needed.group(1)} bits" if needed else "refused")
                else:
                    cells.append(
                        f"{100 * row['final_accuracy']:.1f} (z = {row['noise_multiplier']:.2f})"
                    )
            cells.append(f"{100 * secure['final_accuracy']:.1f}")
            lines.append(f"| {mechanism.upper()} | {bits} | " + " | ".join(cells) + " |")
    lines += ["", f"Plain FedAvg (no protection, no DP): {100 * plain['final_accuracy']:.1f}%."]
    return lines


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = data["runs"]
    plain = next(r for r in runs if r["backend"] == "plain")
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for mechanism, marker in zip(MECHANISMS, ("o", "s"), strict=True):
        for bits, style in zip(BITS, ("-", "--"), strict=True):
            points = [
                (e, 100 * r["final_accuracy"])
                for e in EPSILONS
                for r in runs
                if r["dp"] == mechanism
                and r["bits"] == bits
                and r["target_epsilon"] == e
                and "error" not in r
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, style, marker=marker, label=f"{mechanism.upper()}, {bits} bits")
    ax.axhline(100 * plain["final_accuracy"], color="grey", linestyle=":", label="plain, no DP")
    ax.set_xscale("log")
    ax.set_xticks(EPSILONS, [f"{e:g}" for e in EPSILONS])
    ax.set_xlabel(f"epsilon (delta = {data['config']['delta']:g}, all rounds)")
    ax.set_ylabel("final test accuracy (%)")
    ax.set_title("FedAvg with distributed DP under SecAgg+", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def write_doc(data: dict[str, Any], doc: Path) -> None:
    """Replace the table between the markers of ``doc``."""
    write_between_markers(doc, START, END, table(data))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks dp-utility", description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="digits, 8 clients: a smoke run")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--plot", type=Path, default=PLOT)
    args = parser.parse_args(argv)
    data = run(args.rounds, args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    plot(data, args.plot)
    write_doc(data, args.doc)
    print(f"wrote {args.out}, {args.plot} and the table in {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
