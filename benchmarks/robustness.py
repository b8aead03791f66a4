"""The robustness tables of docs/robustness.md: ``python -m benchmarks robustness``.

MNIST FedAvg (``fl``, the MLP model) for 30 rounds with 10% and 20% Byzantine clients,
for every attack, under: plain FedAvg; each robust rule on clear updates; the robust
secure mode (SecAgg per group, the median of the group means) with 5 and 10 groups;
and secure aggregation without robustness. Every configuration runs with 3 seeds (the
seed picks the partition, the Byzantine clients, the sampling and the batches), plus a
run without attack. Also reports what g groups cost against one secure round (client
and server crypto CPU, bytes per client), from the runs without attack.

Writes benchmarks/results/robustness.json and the tables between the markers in
docs/robustness.md.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.docfile import measured_section_main, write_between_markers
from benchmarks.sweep import git_commit, machine

OUT = Path("benchmarks/results/robustness.json")
DOC = Path("docs/robustness.md")
START, END = "<!-- robustness:start -->", "<!-- robustness:end -->"
FRACTIONS = (0.1, 0.2)
ATTACKS = ("sign-flip", "scale", "gaussian", "label-flip", "alie", "ring")
SECURE = "secagg"  # small groups: SecAgg's complete graph survives what SecAgg+'s cannot
# (label, backend, rule, groups)
SETUPS = (
    ("plain FedAvg", "plain", "none", None),
    ("median", "plain", "median", None),
    ("trimmed mean", "plain", "trimmed-mean", None),
    ("Multi-Krum", "plain", "multi-krum", None),
    ("norm bound", "plain", "norm-bound", None),
    ("secure + median, g = 5", SECURE, "median", 5),
    ("secure + median, g = 10", SECURE, "median", 10),
    ("secure, no robustness", SECURE, "none", None),
)
SEEDS = (0, 1, 2)


def base_config(rounds: int, quick: bool) -> Any:
    from fl.config import FLConfig

    base = FLConfig(
        model="mlp", rounds=rounds, clients=50, clients_per_round=30, local_epochs=1,
        alpha=1.0, dropout=0.0, progress=False,
    )
    if quick:
        base = replace(base, dataset="digits", clients=24, clients_per_round=12)
    return base


def configs(rounds: int, quick: bool) -> list[dict[str, Any]]:
    """Every run: (setup, fraction, attack, seed); fraction 0 is the run without attack."""
    out = []
    seeds = SEEDS[:1] if quick else SEEDS
    for label, backend, rule, groups in SETUPS:
        # the quick cohort of 12 holds at most 4 groups of 3
        g = {5: 2, 10: 4}[groups] if quick and groups is not None else groups
        for fraction, attack in [(0.0, "none")] + [(f, a) for f in FRACTIONS for a in ATTACKS]:
            if attack == "ring" and backend == "plain":
                continue  # a forged ring element needs a ring
            for seed in seeds:
                out.append({"setup": label, "backend": backend, "robust": rule, "groups": g,
                            "byzantine": fraction, "attack": attack, "seed": seed,
                            "rounds": rounds, "quick": quick})
    return out


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    from fl.rounds import run_fedavg

    config = replace(
        base_config(spec["rounds"], spec["quick"]), backend=spec["backend"],
        robust=spec["robust"], groups=spec["groups"], byzantine=spec["byzantine"],
        attack=spec["attack"], seed=spec["seed"],
    )
    started = time.perf_counter()
    result = run_fedavg(config)
    done = [r for r in result.rounds if not r.skipped]

    def mean(attr: str) -> float | None:
        return statistics.fmean(getattr(r, attr) for r in done) if done else None

    return {
        **spec,
        "final_accuracy": result.final_accuracy,
        "rounds_completed": len(done),
        "client_crypto_ms": mean("client_crypto_ms"),
        "server_crypto_ms": mean("server_crypto_ms"),
        "bytes_up_per_client": mean("bytes_up_per_client"),
        "groups_aborted": sum(len(r.robust["aborted"]) for r in done if r.robust),
        "wall_s": time.perf_counter() - started,
    }


def _one_thread() -> None:
    # Two workers each running torch's default thread pool on two cores spend most of
    # their time in each other's spin-waits: one thread per worker process.
    import torch

    torch.set_num_threads(1)


def run(rounds: int, quick: bool, workers: int) -> dict[str, Any]:
    specs = configs(rounds, quick)
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=workers, initializer=_one_thread) as pool:
        for row in pool.map(run_one, specs):
            rows.append(row)
            print(
                f"[{len(rows)}/{len(specs)}] {row['setup']}, {row['byzantine']:.0%} "
                f"{row['attack']}, seed {row['seed']}: {row['final_accuracy']:.3f}",
                file=sys.stderr, flush=True,
            )
    base = base_config(rounds, quick)
    return {
        "command": "python -m benchmarks robustness" + (" --quick" if quick else "")
        + f" --rounds {rounds}",
        "git_commit": git_commit(),
        "machine": machine(),
        "config": {
            "dataset": base.dataset, "model": base.model, "rounds": rounds,
            "clients": base.clients, "clients_per_round": base.clients_per_round,
            "local_epochs": base.local_epochs, "alpha": base.alpha, "dropout": base.dropout,
            "clip": base.clip, "attack_scale": base.attack_scale,
            "robust_fraction": base.robust_fraction, "secure_backend": SECURE,
            "seeds": len(SEEDS[:1] if quick else SEEDS),
        },
        "runs": rows,
    }


def _cell(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "n/a"
    acc = [100 * r["final_accuracy"] for r in rows]
    if len(acc) == 1:
        return f"{acc[0]:.1f}"
    return f"{statistics.fmean(acc):.1f} ({min(acc):.1f}{chr(8211)}{max(acc):.1f})"


def _select(data: dict[str, Any], setup: str, fraction: float, attack: str) -> list[Any]:
    return [r for r in data["runs"] if r["setup"] == setup and r["byzantine"] == fraction
            and r["attack"] == attack]


def table(data: dict[str, Any]) -> list[str]:
    """Final accuracy (%) per attack and setup, mean (min-max) over seeds, then the
    crypto cost of groups."""
    c = data["config"]
    labels = [s[0] for s in SETUPS]
    out = [
        f"From `{data['command']}` (commit `{data['git_commit']}`): {c['dataset']}, "
        f"{c['model']} model, {c['clients']} clients (Dirichlet alpha {c['alpha']}), "
        f"{c['clients_per_round']} per round, {c['local_epochs']} local epoch, "
        f"{c['rounds']} rounds, no dropout, clip {c['clip']}, robust rules told "
        f"{c['robust_fraction']:.0%} of their inputs may be Byzantine; secure runs use "
        f"{c['secure_backend']}. Final test accuracy in %, mean (min{chr(8211)}max) over "
        f"{c['seeds']} seeds.",
        "",
    ]
    for fraction in FRACTIONS:
        out += [f"**{fraction:.0%} Byzantine clients**", ""]
        out.append("| attack | " + " | ".join(labels) + " |")
        out.append("|---" * (len(labels) + 1) + "|")
        out.append("| none (0% Byzantine) | " + " | ".join(
            _cell(_select(data, label, 0.0, "none")) for label in labels) + " |")
        for attack in ATTACKS:
            out.append(f"| {attack} | " + " | ".join(
                _cell(_select(data, label, fraction, attack)) for label in labels) + " |")
        out.append("")
    out += [
        "**What the groups cost** (runs without attack, mean per round over rounds and "
        "seeds; client CPU is the median client's, groups run in parallel)",
        "",
        "| secure setup | client crypto ms | server crypto ms | KiB up per client |",
        "|---|---|---|---|",
    ]
    for label in labels[-3:][::-1]:
        rows = _select(data, label, 0.0, "none")
        if not rows:
            continue

        def avg(key: str, rows: list[Any] = rows) -> float:
            return statistics.fmean(r[key] for r in rows if r[key] is not None)

        out.append(f"| {label} | {avg('client_crypto_ms'):.1f} | {avg('server_crypto_ms'):.1f} "
                   f"| {avg('bytes_up_per_client') / 1024:.1f} |")
    out.append("")
    return out


def write_doc(data: dict[str, Any], doc: Path) -> None:
    """Replace the table between the markers of ``doc``."""
    write_between_markers(doc, START, END, table(data))


def main(argv: Sequence[str] | None = None) -> int:
    return measured_section_main(
        argv, prog="python -m benchmarks robustness", description=__doc__, rounds=30,
        quick_help="digits, one seed: a smoke run", out=OUT, doc=DOC, run=run, write=write_doc,
    )


if __name__ == "__main__":
    raise SystemExit(main())
