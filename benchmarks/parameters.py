"""The measured tables of docs/choosing-parameters.md: ``python -m benchmarks parameters``.

MNIST FedAvg (``fl``, the MLP model, 20 rounds, 20 clients, 10 per round, 10% dropout,
one seed) under one change at a time from the defaults (SecAgg+, 16 bits, clip 1.0):
quantization bits, the clip, the backend and the cohort size. Each row reports final
accuracy, bytes uploaded per client and the crypto CPU per round (median client,
server), next to plain FedAvg on the same seed. Also the bit cost of integer weights,
computed from the bit budget (no run needed).

Writes benchmarks/results/parameters.json and the tables between the markers in
docs/choosing-parameters.md.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.docfile import measured_section_main, write_between_markers
from benchmarks.sweep import git_commit, machine

OUT = Path("benchmarks/results/parameters.json")
DOC = Path("docs/choosing-parameters.md")
START, END = "<!-- parameters:start -->", "<!-- parameters:end -->"

# (table, label, changes from the base config)
RUNS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("reference", "plain FedAvg (no protection)", {"backend": "plain"}),
    ("bits", "8 bits", {"bits": 8}),
    ("bits", "12 bits", {"bits": 12}),
    ("bits", "16 bits (default)", {}),
    ("bits", "20 bits", {"bits": 20}),
    ("clip", "clip 0.01", {"clip": 0.01}),
    ("clip", "clip 0.05", {"clip": 0.05}),
    ("clip", "clip 0.2", {"clip": 0.2}),
    ("clip", "clip 1.0 (default)", {}),
    ("clip", "clip 10", {"clip": 10.0}),
    ("backend", "SecAgg+, 10 per round", {}),
    ("backend", "SecAgg, 10 per round", {"backend": "secagg"}),
    ("backend", "SecAgg+, 40 per round", {"clients": 80, "clients_per_round": 40}),
    ("backend", "SecAgg, 40 per round", {"clients": 80, "clients_per_round": 40,
                                          "backend": "secagg"}),
    ("backend", "Paillier, 10 per round", {"backend": "paillier"}),
)


def base_config(rounds: int, quick: bool) -> Any:
    from fl.config import FLConfig

    base = FLConfig(model="mlp", rounds=rounds, clients=20, clients_per_round=10,
                    local_epochs=1, dropout=0.1, progress=False, quiet=True)
    return replace(base, dataset="digits") if quick else base


def run_one(spec: tuple[str, str, dict[str, Any], int, bool]) -> dict[str, Any]:
    import torch

    from fl.rounds import run_fedavg

    torch.set_num_threads(1)  # two workers on two cores
    table, label, changes, rounds, quick = spec
    config = replace(base_config(rounds, quick), **changes)
    result = run_fedavg(config)
    done = [r for r in result.rounds if not r.skipped]

    def mean(attr: str) -> float:
        return statistics.fmean(getattr(r, attr) for r in done) if done else float("nan")

    return {
        "table": table, "label": label, "changes": changes,
        "final_accuracy": result.final_accuracy,
        "rounds_completed": len(done), "rounds": rounds,
        "bytes_up_per_client": mean("bytes_up_per_client"),
        "client_crypto_ms": mean("client_crypto_ms"),
        "server_crypto_ms": mean("server_crypto_ms"),
        "keyholder_crypto_ms": mean("keyholder_crypto_ms"),
        "clipped_per_round": mean("clipped"),
        "max_error_vs_plain": max((r.max_error_vs_plain for r in done), default=float("nan")),
    }


def weight_bits(bits: int = 16, clients: int = 100) -> list[dict[str, int]]:
    """Modulus bits k (the per-coordinate wire cost of the masking backends) for the
    largest integer weight a client may carry."""
    from secagg.quantize import QuantizationConfig

    rows = []
    for w_max in (1, 10, 100, 1000, 10_000, 60_000):
        q = QuantizationConfig(bits=bits, max_clients=clients, max_weight=w_max)
        rows.append({"max_weight": w_max, "modulus_bits": q.k})
    return rows


def run(rounds: int, quick: bool, workers: int) -> dict[str, Any]:
    specs = [(t, label, changes, rounds, quick) for t, label, changes in RUNS]
    rows = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for row in pool.map(run_one, specs):
            rows.append(row)
            print(f"{row['label']}: accuracy {row['final_accuracy']:.3f}, "
                  f"{row['rounds_completed']}/{rounds} rounds", file=sys.stderr, flush=True)
    base = base_config(rounds, quick)
    return {
        "command": "python -m benchmarks parameters" + (" --quick" if quick else "")
        + f" --rounds {rounds}",
        "git_commit": git_commit(),
        "machine": machine(),
        "config": {"dataset": base.dataset, "model": base.model, "rounds": rounds,
                   "clients": base.clients, "clients_per_round": base.clients_per_round,
                   "dropout": base.dropout, "seed": base.seed},
        "runs": rows,
        "weight_bits": weight_bits(),
    }


def _row(r: dict[str, Any]) -> str:
    keyholder = f" + {r['keyholder_crypto_ms']:.0f} key holder" if r["keyholder_crypto_ms"] else ""
    return (f"| {r['label']} | {100 * r['final_accuracy']:.1f} | "
            f"{r['rounds_completed']}/{r['rounds']} | {r['bytes_up_per_client'] / 1024:.1f} | "
            f"{r['client_crypto_ms']:.1f} | {r['server_crypto_ms']:.1f}{keyholder} | "
            f"{r['clipped_per_round']:.0f} | {r['max_error_vs_plain']:.1e} |")


def table(data: dict[str, Any]) -> list[str]:
    c = data["config"]
    out = [
        f"From `{data['command']}` (commit `{data['git_commit']}`): {c['dataset']}, "
        f"{c['model']} model, {c['clients']} clients, {c['clients_per_round']} per round "
        f"(unless the row says otherwise), dropout {c['dropout']}, {c['rounds']} rounds, "
        "seed 0. Crypto CPU is per round: the median client's, and the server's.",
        "",
    ]
    header = ("| setting | accuracy % | rounds completed | KiB up / client | client ms | "
              "server ms | coordinates clipped / round | largest error vs plain mean |")
    titles = {"reference": "Reference", "bits": "Quantization bits (SecAgg+, clip 1.0)",
              "clip": "Clip (SecAgg+, 16 bits)",
              "backend": "Backend and cohort (16 bits, clip 1.0)"}
    for key, title in titles.items():
        rows = [r for r in data["runs"] if r["table"] == key]
        if not rows:
            continue
        out += [f"**{title}**", "", header, "|---|---|---|---|---|---|---|---|"]
        out += [_row(r) for r in rows]
        out.append("")
    out += ["**What integer weights cost** (16 bits, 100 clients): the modulus must hold "
            "the sum of n · w_max · (2^b - 1), so every coordinate on the wire grows by "
            "log2(w_max) bits.", "", "| largest weight w_max | modulus bits k |", "|---|---|"]
    out += [f"| {r['max_weight']:,} | {r['modulus_bits']} |" for r in data["weight_bits"]]
    out.append("")
    return out


def write_doc(data: dict[str, Any], doc: Path) -> None:
    """Replace the tables between the markers of ``doc``."""
    write_between_markers(doc, START, END, table(data))


def main(argv: Sequence[str] | None = None) -> int:
    return measured_section_main(
        argv, prog="python -m benchmarks parameters", description=__doc__, rounds=20,
        quick_help="digits: a smoke run", out=OUT, doc=DOC, run=run, write=write_doc,
    )


if __name__ == "__main__":
    raise SystemExit(main())
