"""How SecAgg+ costs grow with the cohort: ``python -m benchmarks scale``.

One sweep, each point a streamed ``secagg simulate`` round (inputs made one client at a
time) in a fresh process, so that its peak RSS is its own: SecAgg+ at n = 100, 1000,
3000 and 10000 clients, d = 1e5, 10% of clients dropping at a random stage, the degree
sized for that dropout. Per point: total CPU (all parties), per-client CPU (median),
server CPU, peak RSS, bytes per client, the mask keystream floor measured in the same
process, and exactness. Across points: the growth exponent of each cost in n, fitted by
least squares on log-log, next to the neighbour count's.

Writes benchmarks/results/scale.json and docs/img/benchmarks/scale.png;
``python -m benchmarks.report benchmarks/results/full.csv`` puts the section (:func:`section`)
in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OUT = Path("benchmarks/results/scale.json")
PLOT = Path("docs/img/benchmarks/scale.png")
CLIENTS = (100, 1000, 3000, 10000)
QUICK_CLIENTS = (50, 100, 200)
# The targets at 10,000 clients.
MAX_TOTAL_CPU_S = 90.0
MAX_PEAK_RSS_MB = 4096.0


def point(clients: int, dim: int, dropout: float, seed: int) -> dict[str, Any]:
    """One streamed SecAgg+ round with its keystream floor, in this process."""
    from benchmarks.floor import agreement_floor
    from benchmarks.measure import measure
    from secagg.result import Backend
    from secagg.scenario import Scenario

    scenario = Scenario(Backend.SECAGG_PLUS, clients=clients, dim=dim, dropout=dropout, seed=seed)
    wall = time.perf_counter()
    out = measure(scenario, stream=True)  # every point streams, small ones included
    # The clients' X25519 agreements (two per neighbour pair) are the other cost no
    # implementation avoids: timed in the same process, added to the keystream floor.
    out["agreement_floor_s"] = agreement_floor(out["key_agreements"])
    out["crypto_floor_s"] = out["floor_s"] + out["agreement_floor_s"]
    out["ratio_to_crypto_floor"] = out["protocol_cpu_s"] / out["crypto_floor_s"]
    out["wall_s"] = time.perf_counter() - wall
    out["seed"] = seed
    # ru_maxrss is in KiB on Linux: the peak of this process, harness included.
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del out["refused"]
    return out


def _run_point(clients: int, dim: int, dropout: float, seed: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks", "scale", "--point", str(clients),
               "--dim", str(dim), "--dropout", str(dropout), "--seed", str(seed)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def growth_exponent(ns: Sequence[float], values: Sequence[float]) -> float:
    """The least-squares slope of log(value) against log(n): cost ~ n^slope."""
    xs = [math.log(n) for n in ns]
    ys = [math.log(v) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def sweep(
    clients: Sequence[int], dim: int, dropout: float, seed: int, repeats: int = 0
) -> dict[str, Any]:
    """Every point (each in its own process), then the fitted exponents; the largest
    point again ``repeats`` times (seeds seed + 1, ...), so that its verdicts rest on
    more than one draw of this machine's speed."""
    from benchmarks.sweep import git_commit, machine

    points = []
    for n in clients:
        print(f"scale: {n} clients x {dim} ...", file=sys.stderr, flush=True)
        points.append(_run_point(n, dim, dropout, seed))
    again = []
    for i in range(1, repeats + 1):
        print(f"scale: {clients[-1]} clients x {dim} again (seed {seed + i}) ...", file=sys.stderr)
        again.append(_run_point(clients[-1], dim, dropout, seed + i))
    ns = [p["clients"] for p in points]
    per_client = [p["total_cpu_s"] / p["clients"] for p in points]
    exponents = {
        "total_cpu_s": growth_exponent(ns, [p["total_cpu_s"] for p in points]),
        "server_cpu_s": growth_exponent(ns, [p["server_cpu_s"] for p in points]),
        "client_cpu_s": growth_exponent(ns, [p["client_cpu_s"] for p in points]),
        "cpu_per_client_s": growth_exponent(ns, per_client),
        "neighbours": growth_exponent(ns, [p["neighbours"] for p in points]),
        "peak_rss_mb": growth_exponent(ns, [p["peak_rss_mb"] for p in points]),
    }
    return {
        "commit": git_commit(),
        "machine": machine(),
        "dim": dim,
        "dropout": dropout,
        "seed": seed,
        "points": points,
        "exponents": exponents,
        "repeats": [{key: p[key] for key in _REPEAT_KEYS} for p in again],
    }


# What the repeats of the largest point keep (its verdicts' inputs).
_REPEAT_KEYS = (
    "seed", "total_cpu_s", "protocol_cpu_s", "server_cpu_s", "floor_s", "agreement_floor_s",
    "key_agreements", "peak_rss_mb", "exact",
)


def _fmt(x: float) -> str:
    return f"{x:,.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def section(data: dict[str, Any] | None) -> list[str]:
    """The section of docs/benchmarks.md: the points, the exponents and the targets."""
    lines = ["### Growth with the cohort (SecAgg+, up to 10,000 clients)", ""]
    if data is None:
        return [*lines, f"Not in this run (`python -m benchmarks scale` writes {OUT}).", ""]
    points = data["points"]
    lines += [
        f"From `python -m benchmarks scale` (commit `{data['commit']}`, one repetition per "
        f"point, each in a fresh process{_repeated(data)}): SecAgg+, d = {data['dim']:,}, "
        f"{data['dropout']:.0%} of clients dropping at a random stage, the degree sized "
        "for that dropout. Inputs stream (each client's is made just before it masks, "
        "and only running sums are kept for the exactness check), so peak RSS is the "
        "process's whole footprint, Python and numpy included. CPU is thread CPU of all "
        "parties, quantization included. Two floors, measured in the same process: the "
        "same mask keystream bytes and additions, and that plus the clients' X25519 "
        "agreements (two per neighbour pair, the other cost no implementation avoids); "
        "*protocol* CPU excludes quantization. (The sweep's scale points above predate "
        "streaming when their commit is older: their peak RSS held every client's input.)",
        "",
        "| clients | neighbours k | survivors | total CPU s | CPU s per client | client CPU s "
        "(median) | server CPU s | X25519 agreements | protocol / keystream floor | "
        "protocol / (keystream + X25519) floor | peak RSS MB | KiB up / client | "
        "KiB down / client | wall s | exact |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for p in points:
        lines.append(
            f"| {p['clients']:,} | {p['neighbours']} | {p['survivors']:,} | "
            f"{_fmt(p['total_cpu_s'])} | {p['total_cpu_s'] / p['clients']:.4f} | "
            f"{p['client_cpu_s']:.4f} | {_fmt(p['server_cpu_s'])} | "
            f"{p['key_agreements']:,} | {p['ratio_to_floor']:.2f} | "
            f"{p['ratio_to_crypto_floor']:.2f} | {_fmt(p['peak_rss_mb'])} | "
            f"{p['bytes_up_per_client'] / 1024:,.0f} | {p['bytes_down_per_client'] / 1024:,.1f} | "
            f"{_fmt(p['wall_s'])} | {'yes' if p['exact'] else '**no**'} |"
        )
    e = data["exponents"]
    first, last = points[0], points[-1]
    lines += [
        "",
        "![SecAgg+ costs against the cohort size](img/benchmarks/scale.png)",
        "",
        "Fitted growth, cost ~ n^e over the points (least squares on log-log): total CPU "
        f"e = {e['total_cpu_s']:.2f}, server CPU e = {e['server_cpu_s']:.2f}, CPU per "
        f"client e = {e['cpu_per_client_s']:.2f}, median client CPU e = "
        f"{e['client_cpu_s']:.2f}, peak RSS e = {e['peak_rss_mb']:.2f}; the neighbour "
        f"count k grows with e = {e['neighbours']:.2f} (k = {first['neighbours']} at "
        f"{first['clients']:,} clients, {last['neighbours']} at {last['clients']:,}).",
        "",
        "The machine's speed moved during the sweep, which is why each point has floors "
        "measured in its own process: one X25519 agreement cost "
        + ", ".join(f"{_agreement_us(p):.0f} µs" for p in points)
        + " in the processes of the points above, in order.",
        "",
    ]
    lines += _breakdown(last)
    lines += _verdicts(data)
    return [*lines, ""]


def _breakdown(p: dict[str, Any]) -> list[str]:
    """Where the largest point's CPU went: by protocol stage, and against its floors."""
    stages = p.get("stage_cpu_s", {})
    if not stages:
        return []
    quantize = stages.get("quantize", 0.0)
    floors = p["floor_s"] + p["agreement_floor_s"] + quantize
    return [
        f"Where the {p['clients']:,}-client round's {p['total_cpu_s']:.1f} s went, by stage "
        "(clients and server): "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stages.items())
        + f" (the server's share {p['server_cpu_s']:.1f} s). The work no implementation "
        f"avoids, measured beside it: mask keystream and additions {p['floor_s']:.1f} s, "
        f"X25519 {p['agreement_floor_s']:.1f} s, quantization {quantize:.1f} s, together "
        f"{floors:.1f} s; the other {p['total_cpu_s'] - floors:.1f} s is the protocol's own "
        "bookkeeping (key and path checks, Shamir, AEAD, encodings, the server's sums and "
        "recoveries).",
        "",
    ]


def _repeated(data: dict[str, Any]) -> str:
    repeats = data.get("repeats", [])
    if not repeats:
        return ""
    times = "once more" if len(repeats) == 1 else f"{len(repeats)} more times"
    return f", and the largest point {times} with other seeds for its verdicts"


def _agreement_us(p: dict[str, Any]) -> float:
    return float(p["agreement_floor_s"]) / max(int(p["key_agreements"]), 1) * 1e6


def _verdicts(data: dict[str, Any]) -> list[str]:
    points = data["points"]
    largest = points[-1]
    if largest["clients"] < 10_000:
        return ["- A quick run: the targets apply to the 10,000-client point."]
    first = points[0]
    k_growth = largest["neighbours"] / first["neighbours"]
    client_growth = largest["client_cpu_s"] / first["client_cpu_s"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    runs = [largest, *data.get("repeats", [])]
    others = ""
    if len(runs) > 1:
        others = (
            f"; every run of the {largest['clients']:,}-client point, seeds "
            + ", ".join(str(r["seed"]) for r in runs)
            + ": "
            + ", ".join(
                f"{r['total_cpu_s']:.1f} s (X25519 {_agreement_us(r):.0f} µs)" for r in runs
            )
        )
    return [
        f"- 10,000 clients exact: {verdict(all(r['exact'] for r in runs))}"
        + (f" (in all {len(runs)} runs)." if len(runs) > 1 else "."),
        f"- Total CPU at most {MAX_TOTAL_CPU_S:.0f} s: "
        f"{verdict(all(r['total_cpu_s'] <= MAX_TOTAL_CPU_S for r in runs))} "
        f"({largest['total_cpu_s']:.1f} s, "
        f"of which quantization {largest['stage_cpu_s'].get('quantize', 0.0):.1f} s; the "
        f"floors measured beside it: keystream {largest['floor_s']:.1f} s, "
        f"{largest['key_agreements']:,} X25519 agreements "
        f"{largest['agreement_floor_s']:.1f} s{others}).",
        f"- Peak RSS at most {MAX_PEAK_RSS_MB / 1024:.0f} GB: "
        f"{verdict(all(r['peak_rss_mb'] <= MAX_PEAK_RSS_MB for r in runs))} "
        f"({max(r['peak_rss_mb'] for r in runs):,.0f} MB at most).",
        "- Per-client CPU growing no faster than the neighbour count: "
        f"{verdict(client_growth <= k_growth)} (median client CPU x{client_growth:.2f} from "
        f"{first['clients']:,} to {largest['clients']:,} clients, k x{k_growth:.2f}).",
    ]


def plot(data: dict[str, Any], path: Path) -> None:
    """Log-log: total, server and per-client CPU, and peak RSS, against n."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = data["points"]
    ns = [p["clients"] for p in points]
    fig = Figure(figsize=(10, 4))
    FigureCanvasAgg(fig)
    cpu, mem = fig.subplots(1, 2)
    series = (
        ("total CPU s", [p["total_cpu_s"] for p in points]),
        ("server CPU s", [p["server_cpu_s"] for p in points]),
        ("CPU s per client x 100", [100 * p["total_cpu_s"] / p["clients"] for p in points]),
        ("keystream floor s", [p["floor_s"] for p in points]),
    )
    for label, values in series:
        cpu.loglog(ns, values, marker="o", label=label)
    cpu.set_xlabel("clients n")
    cpu.set_title(f"SecAgg+ CPU, d = {data['dim']:,}")
    cpu.legend(fontsize=8)
    mem.loglog(ns, [p["peak_rss_mb"] for p in points], marker="o")
    mem.set_xlabel("clients n")
    mem.set_title("peak RSS MB (whole process)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scale", description=__doc__)
    parser.add_argument("--clients", type=int, nargs="+", default=None)
    parser.add_argument("--dim", type=int, default=100_000)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeat-largest",
        type=int,
        default=2,
        help="run the largest point this many more times (other seeds) for its verdicts",
    )
    parser.add_argument("--quick", action="store_true", help="small cohorts, d = 1e4")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--point", type=int, help=argparse.SUPPRESS)  # one point, JSON out
    args = parser.parse_args(argv)
    if args.point is not None:
        print(json.dumps(point(args.point, args.dim, args.dropout, args.seed)))
        return 0
    clients = args.clients or (QUICK_CLIENTS if args.quick else CLIENTS)
    dim = 10_000 if args.quick and args.dim == 100_000 else args.dim
    repeats = 0 if args.quick else args.repeat_largest
    data = sweep(clients, dim, args.dropout, args.seed, repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    plot(data, args.plot)
    print(f"wrote {args.out} and {args.plot}; python -m benchmarks.report "
          "benchmarks/results/full.csv puts them in docs/benchmarks.md")
    return 0
