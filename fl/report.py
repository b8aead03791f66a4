"""What a run shows people: the per-round table, results.json, rounds.csv, accuracy.png.

Table columns (see docs/fl.md): test accuracy after the round, test loss, survivors
of the sampled clients, client crypto CPU ms (median client), server crypto CPU ms
(plus key-holder ms for Paillier), KiB uploaded per client, the wall seconds of local
training and of the aggregation side by side, the coordinates clipping changed, and
with DP the epsilon spent so far. The crypto overhead ratio is in results.json.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fl.rounds import RoundRecord, RunResult

ACCURACY_TOLERANCE_PP = 0.5  # the promise: secure within 0.5 points of plain

_COLUMNS = ("round", "acc %", "loss", "survivors", "client ms", "server ms", "KiB up",
            "train s", "agg s", "clipped")
_WIDTHS = (5, 6, 6, 9, 9, 9, 8, 7, 6, 7)
_KEYHOLDER = ("keyholder ms", 12)
_EPSILON = ("epsilon", 8)
_BYZANTINE = ("byz", 3)
_ROBUST = ("robust rule", 22)


def _with_keyholder(backend: str) -> bool:
    return backend.startswith("paillier")


def table_header(
    backend: str, dp: bool = False, *, byzantine: bool = False, robust: bool = False
) -> str:
    """The column titles (and a rule under them) for ``backend``'s table; with ``dp``,
    the epsilon spent so far; with ``byzantine``, the Byzantine clients sampled; with
    ``robust``, what the robust rule combined and discarded."""
    cols = list(zip(_COLUMNS, _WIDTHS, strict=True))
    if _with_keyholder(backend):
        cols.insert(6, _KEYHOLDER)
    if dp:
        cols.append(_EPSILON)
    if byzantine:
        cols.append(_BYZANTINE)
    if robust:
        cols.append(_ROBUST)
    head = "  ".join(title.rjust(width) for title, width in cols)
    return f"{head}\n{'-' * len(head)}"


def robust_cell(report: Mapping[str, Any]) -> str:
    """What the rule did, in a few words: inputs combined, and what it left out."""
    parts = []
    if report["groups"]:
        parts.append(f"{report['inputs']}/{report['groups']} groups")
        if report["aborted"]:
            parts.append(f"{len(report['aborted'])} aborted")
    else:
        parts.append(f"{report['inputs']} updates")
    if report["rejected"]:
        parts.append(f"{len(report['rejected'])} rejected")
    if report["clipped"]:
        parts.append(f"{len(report['clipped'])} clipped")
    if report["trimmed_per_coordinate"] and report["rule"] == "trimmed-mean":
        parts.append(f"{report['trimmed_per_coordinate']} trimmed")
    return ", ".join(parts)


def table_row(
    record: RoundRecord, backend: str, sampled: int, *, byzantine: bool = False,
    robust: bool = False,
) -> str:
    """One round as a table line; a skipped round says so."""
    surv = f"{record.survivors}/{sampled}"
    if record.skipped:
        return (
            f"{record.round:>5}  {100 * record.accuracy:6.2f}  {record.loss:6.3f}  "
            f"{surv:>9}  skipped: {record.skip_reason or 'too few survivors'} "
            f"(nothing released)"
        )
    cells = [
        f"{record.round:>5}",
        f"{100 * record.accuracy:6.2f}",
        f"{record.loss:6.3f}",
        f"{surv:>9}",
        f"{record.client_crypto_ms:9.1f}",
        f"{record.server_crypto_ms:9.1f}",
        f"{record.bytes_up_per_client / 1024:8.1f}",
        f"{record.train_s:7.2f}",
        f"{record.aggregate_s:6.2f}",
        f"{record.clipped:7d}",
    ]
    if _with_keyholder(backend):
        cells.insert(6, f"{record.keyholder_crypto_ms:12.1f}")
    if record.epsilon is not None:
        cells.append(f"{record.epsilon:8.3f}" if math.isfinite(record.epsilon) else f"{'inf':>8}")
    if byzantine:
        cells.append(f"{len(record.byzantine):>3}")
    if robust:
        cells.append(robust_cell(record.robust) if record.robust is not None else "-")
    return "  ".join(cells)


def _finite(x: Any) -> Any:
    # JSON has no Infinity or NaN: a value that is not a number becomes null.
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def record_to_dict(record: RoundRecord) -> dict[str, Any]:
    d = asdict(record)
    d["excluded"] = {str(k): v for k, v in record.excluded.items()}
    d["sampled"] = list(record.sampled)
    d["dropped"] = list(record.dropped)
    return {k: _finite(v) for k, v in d.items()}


def summarize(run: RunResult) -> dict[str, Any]:
    """Final accuracy and mean per-round costs over the rounds that completed."""
    done = [r for r in run.rounds if not r.skipped]

    def mean(attr: str) -> float | None:
        vals = [getattr(r, attr) for r in done if math.isfinite(getattr(r, attr))]
        return sum(vals) / len(vals) if vals else None

    return {
        "final_accuracy": run.final_accuracy,
        "final_loss": run.rounds[-1].loss if run.rounds else run.initial.loss,
        "rounds_completed": len(done),
        "rounds_skipped": len(run.rounds) - len(done),
        "mean_client_crypto_ms": mean("client_crypto_ms"),
        "mean_server_crypto_ms": mean("server_crypto_ms"),
        "mean_keyholder_crypto_ms": mean("keyholder_crypto_ms"),
        "mean_bytes_up_per_client": mean("bytes_up_per_client"),
        "mean_overhead": mean("overhead"),
        "max_error_vs_plain": max((r.max_error_vs_plain for r in done), default=0.0),
        "clipped_coordinates": sum(r.clipped for r in done),
    }


def robustness_summary(run: RunResult) -> dict[str, Any] | None:
    """The run's attack and robust rule, with the privacy cost of groups stated."""
    c = run.config
    if c.robust == "none" and c.byzantine == 0:
        return None
    done = [r for r in run.rounds if not r.skipped and r.robust is not None]
    return {
        "byzantine_fraction": c.byzantine,
        "attack": c.attack,
        "rule": c.robust,
        "groups": c.groups,
        "rule_fraction": c.robust_fraction if c.robust != "none" else None,
        "server_learns": (
            "every update in the clear" if c.backend == "plain" else
            f"{c.groups} group sums per round instead of one (each group's sum and total "
            "weight)" if c.groups else "one sum per round"
        ),
        "groups_aborted": sum(len(r.robust["aborted"]) for r in done if r.robust),
        "inputs_rejected": sum(len(r.robust["rejected"]) for r in done if r.robust),
        "byzantine_sampled": sum(len(r.byzantine) for r in run.rounds),
    }


def run_to_dict(run: RunResult) -> dict[str, Any]:
    out: dict[str, Any] = {} if run.dp is None else {"dp": dict(run.dp)}
    robustness = robustness_summary(run)
    if robustness is not None:
        out["robustness"] = robustness
    return {
        **out,
        "backend": run.backend,
        "n_params": run.n_params,
        "client_sizes": list(run.client_sizes),
        "initial": {"accuracy": run.initial.accuracy, "loss": run.initial.loss},
        "rounds": [record_to_dict(r) for r in run.rounds],
        "summary": summarize(run),
    }


def compare_runs(secure: RunResult, plain: RunResult) -> dict[str, Any]:
    """Accuracy gaps, in percentage points, between a secure run and plain."""
    gaps = [
        100 * abs(s.accuracy - p.accuracy) for s, p in zip(secure.rounds, plain.rounds, strict=True)
    ]
    final_gap = 100 * abs(secure.final_accuracy - plain.final_accuracy)
    return {
        "backend": secure.backend,
        "reference": plain.backend,
        "final_accuracy_gap_pp": final_gap,
        "max_accuracy_gap_pp": max(gaps, default=0.0),
        "tolerance_pp": ACCURACY_TOLERANCE_PP,
        "within_tolerance": final_gap <= ACCURACY_TOLERANCE_PP,
    }


def write_json(path: Path, run: RunResult, reference: RunResult | None = None) -> None:
    """results.json: config, the run's ``rounds`` and summary, and with ``--compare`` the
    plain reference run and the comparison."""
    doc: dict[str, Any] = {"config": asdict(run.config), **run_to_dict(run)}
    if reference is not None:
        doc["reference"] = run_to_dict(reference)
        doc["comparison"] = compare_runs(run, reference)
    path.write_text(json.dumps(doc, indent=2) + "\n")


_CSV_FIELDS = (
    "backend", "round", "accuracy", "loss", "survivors", "skipped", "client_crypto_ms",
    "server_crypto_ms", "keyholder_crypto_ms", "bytes_up_per_client", "plain_agg_ms",
    "overhead", "max_error_vs_plain",
)


def write_csv(path: Path, runs: Sequence[RunResult]) -> None:
    """rounds.csv: one line per (backend, round)."""
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=_CSV_FIELDS)
        writer.writeheader()
        for run in runs:
            for r in run.rounds:
                row = record_to_dict(r)
                writer.writerow({"backend": run.backend, **{k: row[k] for k in _CSV_FIELDS[1:]}})


def plot_accuracy(path: Path, runs: Sequence[RunResult]) -> None:
    """accuracy.png: test accuracy per round, one curve per run."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for run, style in zip(runs, ("-o", "--s", ":^"), strict=False):
        xs = [0] + [r.round for r in run.rounds]
        ys = [100 * run.initial.accuracy] + [100 * r.accuracy for r in run.rounds]
        label = run.backend
        if run.dp is not None:
            eps = run.dp.get("epsilon")
            label += f" (epsilon {eps:.2f}, delta {run.dp['delta']:g})" if eps else " (no DP)"
        ax.plot(xs, ys, style, markersize=3, label=label)
    cfg = runs[0].config
    ax.set_title(
        f"FedAvg on {cfg.dataset}: {cfg.clients} clients, {cfg.clients_per_round}/round, "
        f"alpha={cfg.alpha}, dropout={cfg.dropout}",
        fontsize=9,
    )
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
