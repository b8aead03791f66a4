"""docs/benchmarks.md from the benchmark CSV and its meta JSON: ``python -m benchmarks.report CSV``.

The document is generated, never edited by hand: the machine, the commands that
reproduce it, the headline comparisons (ours against Flower's SecAgg+ and phe), the
ratios to the cost floors, the scale points, a table of medians per point and the plots.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import scale
from benchmarks.plots import (
    PLOT_CAPTIONS,
    Point,
    ReportError,
    check_columns,
    load_points,
    make_plots,
)
from benchmarks.schema import PROTOCOLS

__all__ = ["ReportError", "fmt", "main", "meta_path", "read_table", "render"]

DASH = "\u2013"  # en dash: an empty cell, "does not apply" or not measured
TIMES = "\u00d7"  # multiplication sign, after a factor
EXTRAPOLATED_MARK = "\u2020"  # dagger
MICRO = "\u00b5"

MASKING_FLOOR = "generating the same mask keystream bytes + the same vector additions"
FLOOR_DESCRIPTIONS = {
    "secagg": MASKING_FLOOR,
    "secagg+": MASKING_FLOOR,
    "flower-secagg+": "our AES-CTR keystream for the same number of 32-bit mask vectors "
    "+ the same additions (Flower's masks come from numpy's Mersenne Twister)",
    "paillier": "the same modular exponentiations at the same sizes, done as the protocol "
    "does them: fixed-base DJN with a window table (one table per client, one product mod "
    "n^2 per window per ciphertext), the server's products, two CRT exponentiations per "
    "decrypted ciphertext",
    "phe-paillier": "the same modular exponentiations at the same sizes: a full r^n mod n^2 "
    "per value, the server's products, two CRT exponentiations per decrypted value",
    "plain": "the vector additions of the sum",
}

# The scale points of the issue: (protocol, clients, dim).
MALICIOUS_JSON = "malicious.json"  # beside the CSV: python -m benchmarks malicious
DP_JSON = "dp_cost.json"  # beside the CSV: python -m benchmarks dp
FLOWER_COMPARE_JSON = "flower_compare.json"  # beside the CSV: python -m benchmarks flower
SCALE_JSON = "scale.json"  # beside the CSV: python -m benchmarks scale
SCALE_POINTS = (("secagg+", 1000, 100_000), ("secagg", 100, 100_000))
FLOWER_CLIENTS = 50


# ------------------------------------------------------------------------------ input


def meta_path(csv_path: Path) -> Path:
    """The meta JSON beside a CSV: same stem, ``.meta.json``."""
    return csv_path.with_suffix(".meta.json")


def read_table(csv_path: Path) -> list[Point]:
    """Read and validate the CSV; raise ``ReportError`` on a missing column or bad cell."""
    try:
        with csv_path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None:
                raise ReportError("empty file, no header")
            check_columns(reader.fieldnames)
            points = load_points(reader)
    except OSError as e:
        raise ReportError(f"cannot read {csv_path}: {e.strerror or e}") from None
    except ReportError as e:
        raise ReportError(f"{csv_path}: {e}") from None
    if not points:
        raise ReportError(f"{csv_path}: no rows")
    return points


def read_meta(path: Path) -> dict[str, Any]:
    """The meta JSON as a dict; ``ReportError`` if missing or not a JSON object."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ReportError(f"cannot read the meta file {path}: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise ReportError(f"{path}: not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ReportError(f"{path}: expected a JSON object")
    return meta


# ------------------------------------------------------------------------------ formatting


def fmt(value: float | None, digits: int = 3) -> str:
    """A number to ``digits`` significant digits; thousands separated; None as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude >= digits - 1:  # an integer at this precision: 1,230 or 12,300
        return f"{round(value, digits - 1 - magnitude):,.0f}"
    if magnitude < -3:
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits - 1 - magnitude}f}"


def fmt_int(value: int | None) -> str:
    """An exact integer with thousands separators, or a dash."""
    return DASH if value is None else f"{value:,}"


def fmt_factor(value: float | None) -> str:
    """A ratio such as a speed-up: 12.3 and the multiplication sign."""
    return DASH if value is None else f"{fmt(value)}{TIMES}"


def fmt_dropout(value: float | None) -> str:
    """A dropout fraction as written: ``0``, ``0.1``."""
    return DASH if value is None else f"{value:g}"


def _ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None or den == 0 else num / den


def _per(value: float | None, dim: int | None) -> float | None:
    return None if value is None or not dim else value / dim


def _mark(p: Point, text: str) -> str:
    """Mark a time of an extrapolated point."""
    return f"{text}{EXTRAPOLATED_MARK}" if p.extrapolated and text != DASH else text


def _exact(p: Point) -> str:
    if not p.exact:
        return DASH
    good = sum(p.exact)
    return "yes" if good == len(p.exact) else f"**no** ({good}/{len(p.exact)})"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], align: str) -> list[str]:
    """A Markdown table; ``align`` has one letter per column, ``l`` or ``r``."""
    if len(align) != len(headers):
        raise ValueError("one alignment letter per column")
    rule = "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"
    lines = ["| " + " | ".join(headers) + " |", rule]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# ------------------------------------------------------------------------------ selections


def _pairs(
    points: Sequence[Point], ours: str, theirs: str, keep: Callable[[Point], bool]
) -> list[tuple[Point, Point]]:
    """Points of ``ours`` and ``theirs`` at the same clients, dim and dropout.

    When one side has several points there (bits, neighbours), the other side's point
    with the same bits is preferred.
    """
    mine = [p for p in points if p.protocol == ours and keep(p)]
    other = [p for p in points if p.protocol == theirs and keep(p)]
    out = []
    for p in mine:
        same = [q for q in other if (q.clients, q.dim, q.dropout) == (p.clients, p.dim, p.dropout)]
        if same:
            same.sort(key=lambda q: q.bits != p.bits)
            out.append((p, same[0]))
    return out


def _codec_shares(compare: Mapping[str, Any] | None) -> dict[tuple[int, int], float]:
    """(clients, dim) -> the median share of the Flower harness's CPU that went to
    Flower's message codec, from ``python -m benchmarks flower``'s ``baseline_codec``."""
    if compare is None:
        return {}
    return {
        (int(c["clients"]), int(c["dim"])): float(c["codec_share"]["median"])
        for c in compare.get("baseline_codec", [])
    }


def _flower_section(
    points: Sequence[Point],
    compare: Mapping[str, Any] | None = None,
    sweep_flwr: str | None = None,
) -> list[str]:
    def clients_of(protocol: str) -> set[int]:
        return {p.clients for p in points if p.protocol == protocol and p.clients is not None}

    both = clients_of("secagg+") & clients_of("flower-secagg+")
    # 50 clients; failing that, the largest client count both were run at.
    clients = FLOWER_CLIENTS if FLOWER_CLIENTS in both or not both else max(both)
    pairs = _pairs(points, "secagg+", "flower-secagg+", lambda p: p.clients == clients)
    out = [f"### Our SecAgg+ against Flower's SecAgg+ ({clients} clients)", ""]
    if not pairs:
        return [*out, "No point has both secagg+ and flower-secagg+ at the same size.", ""]
    shares = _codec_shares(compare)
    headers = [
        "dim",
        "dropout",
        "neighbours (ours / Flower)",
        "total CPU s: ours",
        "Flower, incl. its message codec",
        "speed-up, incl. Flower's codec",
        "client median CPU s: ours",
        "Flower (incl. codec)",
        "server CPU s: ours",
        "Flower (incl. codec)",
        "bytes up per client: ours",
        "Flower",
        "Flower's codec share",
        "Flower, protocol alone",
        "speed-up, protocol alone",
    ]
    rows = []
    for p, q in pairs:
        share = shares.get((clients, p.dim)) if p.dim is not None else None
        theirs = q.median("total_cpu_s")
        alone = None if theirs is None or share is None else theirs * (1 - share)
        rows.append(
            [
                fmt_int(p.dim),
                fmt_dropout(p.dropout),
                f"{fmt_int(p.neighbours)} / {fmt_int(q.neighbours)}",
                _mark(p, fmt(p.median("total_cpu_s"))),
                _mark(q, fmt(theirs)),
                fmt_factor(_ratio(theirs, p.median("total_cpu_s"))),
                _mark(p, fmt(p.median("client_cpu_s"))),
                _mark(q, fmt(q.median("client_cpu_s"))),
                _mark(p, fmt(p.median("server_cpu_s"))),
                _mark(q, fmt(q.median("server_cpu_s"))),
                fmt(p.median("bytes_up_per_client")),
                fmt(q.median("bytes_up_per_client")),
                DASH if share is None else f"{fmt(100 * share)}%",
                _mark(q, fmt(alone)),
                fmt_factor(_ratio(alone, p.median("total_cpu_s"))),
            ]
        )
    return [
        *out,
        *_flower_sweep_text(compare, sweep_flwr),
        "",
        *_table(headers, rows, "r" * len(headers)),
        "",
    ]


def _flower_sweep_text(compare: Mapping[str, Any] | None, sweep_flwr: str | None) -> list[str]:
    """What the sweep's Flower comparison measures, and how its codec share was taken off."""
    lead = (
        "Ours is the sweep's `total CPU s`: every party's protocol work (quantization, "
        "masking, key agreement, secret sharing, our message encoding) over an in-memory "
        "transport, no Flower. Flower's is its own `SecAggPlusWorkflow` and "
        "`secaggplus_mod` driven in one process through an in-process Flower grid, where "
        "every message also goes through Flower's record codec (deflate/inflate into "
        "its object tree, a SHA-256 id per object): Flower's transport, not its SecAgg+. "
        "So the speed-up including Flower's codec overstates the gap in protocol compute."
    )
    if compare is None:
        return [
            lead,
            "",
            "Flower's codec share was not measured in this run (`python -m benchmarks "
            "flower` measures it), so only totals including it are shown. Medians over "
            "repetitions.",
        ]
    flwr = (compare.get("machine") or {}).get("flwr")
    version = f" (measured with flwr {sweep_flwr})" if sweep_flwr and sweep_flwr != flwr else ""
    return [
        lead,
        "",
        "**Protocol compute alone on both sides:** `Flower, protocol alone` is Flower's "
        "total with its codec taken off. The share of the same harness's CPU that went "
        "to Flower's codec was measured apart, at the same clients and dim, by `"
        + str(compare.get("command", "python -m benchmarks flower"))
        + f"` (flwr {flwr}, commit `{compare.get('git_commit', '?')}`, median over its "
        "repetitions) and is applied to this run's Flower total"
        + version
        + ". `speed-up, protocol alone` is that over ours; a dash means the share was not "
        "measured at that size. Medians over repetitions. The whole round inside one "
        "Flower engine, transport included on both sides, is compared in the next section.",
    ]


# Targets of the same-engine comparison: (key in "ratios", label, at least or at most).
COMPARE_TARGETS = (
    ("protocol_speedup", "protocol compute at least {t}{x} less than Flower's SecAgg+", ">="),
    ("round_speedup", "the whole round at least {t}{x} less CPU", ">="),
    ("upload_ratio", "upload bytes at most {t}{x} Flower's", "<="),
)


def read_flower_compare(path: Path) -> dict[str, Any] | None:
    """The JSON of ``python -m benchmarks flower``, or None when absent. Raises
    ReportError when it is not the JSON that command writes."""

    def check(data: dict[str, Any]) -> None:
        for point in data["points"]:
            int(point["clients"]), int(point["dim"]), bool(point["target"])
            for name in ("ours", "flower"):
                system = point["systems"][name]
                for key in ("protocol_cpu_s", "round_cpu_s", "wall_s", "codec_cpu_s"):
                    float(system[key])
                for key in ("bytes_up_per_client", "bytes_down_per_client"):
                    float(system[key])
                float(system["max_abs_error"]), float(system["step"])
                bool(system["within_step"])
            for ratio in point["ratios"].values():
                float(ratio["median"]), float(ratio["min"]), float(ratio["max"])
        for key in ("protocol_speedup", "round_speedup", "upload_ratio"):
            float(data["targets"][key])
        for codec in data["baseline_codec"]:
            int(codec["clients"]), int(codec["dim"]), float(codec["codec_share"]["median"])
        int(data["reps"])

    return read_result(path, "flower", check)


def _spread_text(ratio: Mapping[str, float]) -> str:
    """A per-repetition ratio: median (min-max) and the multiplication sign."""
    return f"{fmt(ratio['median'])}{TIMES} ({fmt(ratio['min'])}{DASH}{fmt(ratio['max'])})"


def _flower_compare_section(data: Mapping[str, Any] | None, shown: str) -> list[str]:
    out = ["### Our SecAgg+ against Flower's SecAgg+ in the same Flower engine", ""]
    if data is None:
        return [*out, f"Not in this run (`python -m benchmarks flower` writes {shown}).", ""]
    flwr = (data.get("machine") or {}).get("flwr")
    out += [
        f"From `{data['command']}` ({data['reps']} repetitions, commit "
        f"`{data['git_commit']}`, flwr {flwr}). Both systems run one FedAvg round of the "
        "same legacy `NumPyClient` app (its fit returns the parameters it received plus "
        "a fixed update, `num_examples = 1` on every client) in the same in-process "
        "Flower engine (secagg's `InProcessGrid`: every message serialized and read back "
        "by Flower's own codec), with the same model size, cohort, clip "
        f"c = {data.get('clip')} and {data.get('bits')} bits. Ours: "
        "`ClientApp(client_fn, mods=[secagg_mod])` and `DefaultWorkflow(fit_workflow="
        "SecAggWorkflow(...))`, with our default neighbours k and threshold t; Flower's: "
        "`ClientApp(client_fn, mods=[secaggplus_mod])` and `DefaultWorkflow(fit_workflow="
        "SecAggPlusWorkflow(num_shares=k + 1, reconstruction_threshold=t, ...))`. Each "
        "repetition runs both systems, each in a fresh process, alternating which goes "
        "first; values are medians over repetitions, ratios are taken per repetition "
        "(its two runs paired), median (range).",
        "",
        "- *protocol CPU*: each client's CPU inside the mod minus inside the app's own "
        "fit (`call_next`), summed over clients, plus the server's: the fit workflow's "
        "CPU minus its time inside grid push/pull (which runs the clients and Flower's "
        "serialization) and minus the legacy FedAvg's own `configure_fit` and "
        "`aggregate_fit` (the same app code on both sides).",
        "- *round CPU*: process CPU of the whole `DefaultWorkflow` round, Flower's "
        "message serialization on both sides included; *Flower codec* is the part of it "
        "spent in that serialization; *wall*: the round's wall time.",
        "- *bytes*: the Flower-serialized size of every message a node sent (up) or "
        "received (down) over the round, the model broadcast included; median over "
        "clients.",
        "- *max error*: the largest absolute difference between the aggregate update "
        "(new global model minus the old) and the plain mean of the clients' updates; "
        "*step*: that system's quantization step (ours 2c/(2^b - 1), Flower's 2c/2^b).",
        "",
        "Our protocol CPU here is more than the sweep's `secagg+` total at the same size: "
        "inside Flower the mod takes the update from the returned model (a subtraction "
        "and a quantization per client, which the sweep charges to the harness) and "
        "saves and restores the client's party in the node's `Context` around every "
        "message, as a deployment that may start a fresh ClientApp process per message "
        "requires. Like Flower's mod, ours trains at the message its upload answers, so "
        "no saved state ever holds a vector.",
        "",
    ]
    headers = [
        "clients",
        "dim",
        "k / t",
        "system",
        "protocol CPU s (clients + server)",
        "round CPU s",
        "of which Flower codec",
        "wall s",
        "bytes up / client",
        "bytes down / client",
        "max error",
        "step",
        "within one step",
    ]
    rows = []
    for point in data["points"]:
        for name, label in (("ours", "ours"), ("flower", "Flower")):
            v = point["systems"][name]
            rows.append(
                [
                    fmt_int(point["clients"]),
                    fmt_int(point["dim"]),
                    f"{point['neighbours']} / {point['threshold']}",
                    label,
                    f"{fmt(v['protocol_cpu_s'])} ({fmt(v['client_protocol_cpu_s'])} + "
                    f"{fmt(v['server_protocol_cpu_s'])})"
                    if "client_protocol_cpu_s" in v
                    else fmt(v["protocol_cpu_s"]),
                    fmt(v["round_cpu_s"]),
                    fmt(v["codec_cpu_s"]),
                    fmt(v["wall_s"]),
                    fmt(v["bytes_up_per_client"]),
                    fmt(v["bytes_down_per_client"]),
                    fmt(v["max_abs_error"]),
                    fmt(v["step"]),
                    "yes" if v["within_step"] else "**no**",
                ]
            )
    out += [*_table(headers, rows, "rrrl" + "r" * 8 + "l"), ""]
    ratio_headers = [
        "clients",
        "dim",
        "protocol CPU: Flower / ours",
        "round CPU: Flower / ours",
        "wall: Flower / ours",
        "bytes up: ours / Flower",
        "bytes down: ours / Flower",
    ]
    ratio_rows = [
        [
            fmt_int(point["clients"]),
            fmt_int(point["dim"]),
            *(
                _spread_text(point["ratios"][key])
                for key in (
                    "protocol_speedup",
                    "round_speedup",
                    "wall_speedup",
                    "upload_ratio",
                    "download_ratio",
                )
            ),
        ]
        for point in data["points"]
    ]
    out += [*_table(ratio_headers, ratio_rows, "r" * len(ratio_headers)), ""]
    return out + _compare_verdicts(data)


def _compare_verdicts(data: Mapping[str, Any]) -> list[str]:
    """The targets at the target dimension: met or **not met**, with the measured value."""
    targets = data["targets"]
    points = [p for p in data["points"] if p["target"]]
    if not points:
        return []
    out = [f"Targets at d = {fmt_int(int(data['target_dim']))} (medians of the paired ratios):", ""]
    for point in points:
        lines = []
        for key, text, sense in COMPARE_TARGETS:
            target, value = float(targets[key]), float(point["ratios"][key]["median"])
            met = value >= target if sense == ">=" else value <= target
            label = text.format(t=f"{target:g}", x=TIMES)
            verdict = "met" if met else "**not met**"
            lines.append(f"{label}: {verdict} ({_spread_text(point['ratios'][key])})")
        ours, flower = point["systems"]["ours"], point["systems"]["flower"]
        lines.append(
            "the aggregate exact to within one step: "
            + ("met" if ours["within_step"] else "**not met**")
            + f" (ours: max error {fmt(ours['max_abs_error'])} against a step of "
            f"{fmt(ours['step'])}, "
            + ("within it in every repetition" if ours["within_step"] else "**not** always")
            + f"; Flower's: max error {fmt(flower['max_abs_error'])} against "
            f"{fmt(flower['step'])}, "
            + ("also within it in every repetition" if flower["within_step"] else "**not** always")
            + ")"
        )
        out.append(f"- {fmt_int(point['clients'])} clients {TIMES} {fmt_int(point['dim'])}:")
        out += [f"  - {line}" for line in lines]
    return [*out, ""]


def _paillier_section(points: Sequence[Point]) -> list[str]:
    pairs = _pairs(points, "paillier", "phe-paillier", lambda p: True)
    out = ["### Our packed Paillier against phe's per-value Paillier", ""]
    if not pairs:
        return [*out, "No point has both paillier and phe-paillier at the same size.", ""]
    headers = [
        "clients",
        "dim",
        "dropout",
        "client CPU s / parameter: ours",
        "phe",
        "speed-up",
        "bytes up / parameter: ours",
        "phe",
        "phe / ours",
    ]
    rows = []
    for p, q in pairs:
        ours_cpu = _per(p.median("client_cpu_s"), p.dim)
        phe_cpu = _per(q.median("client_cpu_s"), q.dim)
        ours_b = _per(p.median("bytes_up_per_client"), p.dim)
        phe_b = _per(q.median("bytes_up_per_client"), q.dim)
        rows.append(
            [
                fmt_int(p.clients),
                fmt_int(p.dim),
                fmt_dropout(p.dropout),
                _mark(p, fmt(ours_cpu)),
                _mark(q, fmt(phe_cpu)),
                fmt_factor(_ratio(phe_cpu, ours_cpu)),
                fmt(ours_b),
                fmt(phe_b),
                fmt_factor(_ratio(phe_b, ours_b)),
            ]
        )
    return [*out, *_table(headers, rows, "r" * len(headers)), ""]


def _floor_section(points: Sequence[Point]) -> list[str]:
    headers = ["protocol", "points", "median ratio", "range over points", "the floor"]
    rows = []
    for protocol in PROTOCOLS:
        ratios = [
            r
            for p in points
            if p.protocol == protocol and (r := p.median("ratio_to_floor")) is not None
        ]
        if not ratios:
            continue
        rows.append(
            [
                protocol,
                str(len(ratios)),
                fmt(statistics.median(ratios)),
                f"{fmt(min(ratios))} {DASH} {fmt(max(ratios))}",
                FLOOR_DESCRIPTIONS[protocol],
            ]
        )
    out = [
        "### Ratio to the floor",
        "",
        "Protocol CPU seconds (all parties, without quantization) divided by the point's "
        "floor, measured in the same process: the median over points of each point's "
        "median over repetitions.",
        "",
    ]
    if not rows:
        return [*out, "No point has a ratio to its floor.", ""]
    return [*out, *_table(headers, rows, "lrrrl"), ""]


def _scale_section(points: Sequence[Point]) -> list[str]:
    headers = [
        "protocol",
        "clients",
        "dim",
        "neighbours",
        "dropout",
        "reps",
        "total CPU s",
        "per-client CPU s (median)",
        "peak RSS MB",
        "exact",
    ]
    rows = []
    absent = []
    for protocol, clients, dim in SCALE_POINTS:
        found = [p for p in points if (p.protocol, p.clients, p.dim) == (protocol, clients, dim)]
        if not found:
            absent.append(f"{protocol} with {clients:,} clients at dim {dim:,}")
        for p in found:
            rows.append(
                [
                    p.protocol,
                    fmt_int(p.clients),
                    fmt_int(p.dim),
                    fmt_int(p.neighbours),
                    fmt_dropout(p.dropout),
                    str(p.reps),
                    _mark(p, fmt(p.median("total_cpu_s"))),
                    _mark(p, fmt(p.median("client_cpu_s"))),
                    fmt(p.median("peak_rss_mb")),
                    _exact(p),
                ]
            )
    out = ["### Scale points", ""]
    if rows:
        out += [*_table(headers, rows, "l" + "r" * 8 + "l"), ""]
    if absent:
        out += [f"Not in this run: {'; '.join(absent)}.", ""]
    return out


def read_dp(path: Path) -> dict[str, Any] | None:
    """The JSON of ``python -m benchmarks dp``, or None when absent. Raises
    ReportError when it is not what that command writes."""

    def check(data: dict[str, Any]) -> None:
        for point in data["points"]:
            float(point["plain_quantize_s"])
            float(point["bytes"]["ratio"])
            for mechanism in ("ddg", "skellam"):
                float(point[mechanism]["encode_s"])
        float(data["targets"]["encode_s"])

    return read_result(path, "dp", check)


def _dp_section(data: Mapping[str, Any] | None, shown: str) -> list[str]:
    out = ["### Distributed DP on a client", ""]
    if data is None:
        return [*out, f"Not in this run (`python -m benchmarks dp` writes {shown}).", ""]
    target_s = float(data["targets"]["encode_s"])
    target_bytes = float(data["targets"]["bytes_ratio"])
    out += [
        f"From `{data['command']}` (commit `{data['git_commit']}`): one client's update of "
        "d coordinates, DP-encoded (Hadamard rotation, L2 clip, scale, stochastic "
        "rounding, DDG or Skellam noise, mod 2^b; docs/dp.md) against plain quantization "
        "at the same bits, in the same process (thread CPU, median over repetitions; the "
        "noise table is built once per configuration and shown apart). Bytes: one "
        "client's masked upload in a SecAgg+ round, DP-encoded against quantized.",
        "",
    ]
    headers = [
        "bits", "d", "plain quantize s", "DDG encode s", "Skellam encode s",
        "table build s (DDG / Skellam)", "bytes up: DP / plain",
    ]  # fmt: skip
    rows = []
    verdicts = []
    for p in data["points"]:
        rows.append(
            [
                str(p["bits"]),
                fmt_int(p["dim"]),
                fmt(p["plain_quantize_s"]),
                fmt(p["ddg"]["encode_s"]),
                fmt(p["skellam"]["encode_s"]),
                f"{fmt(p['ddg']['table_build_s'])} / {fmt(p['skellam']['table_build_s'])}",
                fmt_factor(p["bytes"]["ratio"]),
            ]
        )
        slowest = max(p["ddg"]["encode_s"], p["skellam"]["encode_s"])
        cpu_ok = "met" if slowest <= target_s else "**not met**"
        bytes_ok = "met" if p["bytes"]["ratio"] <= target_bytes else "**not met**"
        verdicts.append(
            f"{p['bits']} bits: encoding at most {fmt(target_s)} s per client {cpu_ok} "
            f"(slowest {fmt(slowest)} s); bytes at most {fmt(target_bytes)}{TIMES} plain "
            f"{bytes_ok} ({fmt_factor(p['bytes']['ratio'])}: the rotation pads "
            f"{fmt_int(p['dim'])} to {fmt_int(p['bytes']['padded_dim'])} coordinates)."
        )
    out += [*_table(headers, rows, "r" * len(headers)), ""]
    out += [*(f"- {line}" for line in verdicts), ""]
    return out


def read_malicious(path: Path) -> dict[str, Any] | None:
    """The JSON of ``python -m benchmarks malicious``, or None when absent. Raises
    ReportError when it is not the JSON that command writes."""

    def check(data: dict[str, Any]) -> None:
        for point in data["points"]:
            for variant in point["variants"].values():
                for key in ("total_cpu_s", "ratio", "ratio_min", "ratio_max", "neighbours"):
                    float(variant[key])
        float(data["primitives"]["ed25519_verify_us"])

    return read_result(path, "malicious", check)


def read_scale(path: Path) -> dict[str, Any] | None:
    """The JSON of ``python -m benchmarks scale``, or None when absent. Raises
    ReportError when it is not the JSON that command writes."""

    def check(data: dict[str, Any]) -> None:
        for point in data["points"]:
            for key in ("clients", "total_cpu_s", "client_cpu_s", "peak_rss_mb", "floor_s"):
                float(point[key])
        float(data["exponents"]["total_cpu_s"])

    return read_result(path, "scale", check)


def read_result(
    path: Path, command: str, check: Callable[[dict[str, Any]], None]
) -> dict[str, Any] | None:
    """The JSON a ``python -m benchmarks COMMAND`` wrote at ``path``, or None when it is
    absent. ``check`` reads the fields the report uses (raising KeyError, TypeError or
    ValueError when one is missing or of the wrong kind). Raises ReportError."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        check(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReportError(
            f"{path}: not the output of python -m benchmarks {command} ({exc})"
        ) from exc
    result: dict[str, Any] = data
    return result


def _malicious_section(data: Mapping[str, Any] | None, shown: str) -> list[str]:
    out = ["### The malicious-server mode against the honest mode", ""]
    if data is None:
        return [*out, f"Not in this run (`python -m benchmarks malicious` writes {shown}).", ""]
    verify_us = float(data["primitives"]["ed25519_verify_us"])
    out += [
        f"From `{data['command']}` ({data['reps']} repetitions, commit "
        f"`{data['git_commit']}`), SecAgg+ with dropout at a random stage per client. "
        "Each repetition runs the three modes back to back in fresh processes with the "
        "same inputs; the ratio is total CPU (all parties, quantization included) over "
        "the honest run of the same repetition, median (range) over repetitions. "
        "`colluding` is the number of clients the threshold withstands on the server's "
        "side; `server alone` runs the malicious protocol with none.",
        "",
    ]
    headers = [
        "clients",
        "dim",
        "mode",
        "neighbours k",
        "threshold t",
        "colluding",
        "signature checks",
        "total CPU s",
        "ratio to honest",
        "target",
    ]
    rows = []
    verdicts = []
    for point in data["points"]:
        for name, v in point["variants"].items():
            malicious = name != "honest"
            rows.append(
                [
                    fmt_int(point["clients"]),
                    fmt_int(point["dim"]),
                    name.replace("malicious-server-alone", "malicious, server alone"),
                    fmt_int(v["neighbours"]),
                    fmt_int(v["threshold"]),
                    fmt_int(v["max_corrupt"]),
                    fmt_int(round(v["signature_checks"])),
                    fmt(v["total_cpu_s"]),
                    f"{fmt(v['ratio'])} ({fmt(v['ratio_min'])}{DASH}{fmt(v['ratio_max'])})"
                    if malicious
                    else "1",
                    f"\u2264 {fmt(point['target'])}" if name == "malicious" else DASH,
                ]
            )
        m, h = point["variants"]["malicious"], point["variants"]["honest"]
        added = m["total_cpu_s"] - h["total_cpu_s"]
        signatures = m["signature_checks"] * verify_us * 1e-6
        met = "met" if m["ratio"] <= point["target"] else "**not met**"
        verdicts.append(
            f"{point['clients']:,} {TIMES} {point['dim']:,}: target {fmt(point['target'])}"
            f"{TIMES} {met} (median {fmt(m['ratio'])}{TIMES}). The mode adds "
            f"{fmt(added)} s; its {fmt_int(round(m['signature_checks']))} Ed25519 "
            f"verifications account for about {fmt(signatures)} s of it "
            f"({fmt(100 * signatures / h['total_cpu_s'], 2)}% of the honest round's CPU on "
            "their own); the rest is "
            "signing, the consistency round"
            + (
                f" and the larger graph (k = {m['neighbours']} instead of "
                f"{h['neighbours']}) that a threshold of 2t > k + c + 1 (c colluding neighbours) "
                "needs to survive the dropout."
                if m["neighbours"] != h["neighbours"]
                else "."
            )
        )
    out += [*_table(headers, rows, "rrl" + "r" * 7), ""]
    out += [
        f"One Ed25519 verification costs {fmt(verify_us)} {MICRO}s on this machine "
        f"(signing {fmt(data['primitives']['ed25519_sign_us'])} {MICRO}s, one X25519 "
        f"agreement {fmt(data['primitives']['x25519_us'])} {MICRO}s), measured in the "
        "same run. Each client verifies the k signatures on its neighbours' keys and "
        "at least t signatures on the survivor set: that is the protocol's floor, not "
        "an implementation cost.",
        "",
        *[f"- {line}" for line in verdicts],
        "",
    ]
    return out


FULL_HEADERS = (
    "protocol",
    "method",
    "clients",
    "neighbours",
    "dim",
    "bits",
    "dropout",
    "reps",
    "exact (all reps)",
    "client median CPU s",
    "server CPU s",
    "keyholder CPU s",
    "total CPU s",
    "bytes up / client",
    "expansion vs float32",
    "peak RSS MB",
    "floor s",
    "ratio to floor",
)


def full_row(p: Point) -> list[str]:
    """One row of the table of medians, in ``FULL_HEADERS`` order."""
    return [
        p.protocol,
        "/".join(p.methods) or DASH,
        fmt_int(p.clients),
        fmt_int(p.neighbours),
        fmt_int(p.dim),
        fmt_int(p.bits),
        fmt_dropout(p.dropout),
        str(p.reps),
        _exact(p),
        _mark(p, fmt(p.median("client_cpu_s"))),
        _mark(p, fmt(p.median("server_cpu_s"))),
        _mark(p, fmt(p.median("keyholder_cpu_s"))),
        _mark(p, fmt(p.median("total_cpu_s"))),
        fmt(p.median("bytes_up_per_client")),
        fmt(p.median("expansion_vs_float32")),
        fmt(p.median("peak_rss_mb")),
        fmt(p.median("floor_s")),
        fmt(p.median("ratio_to_floor")),
    ]


# ------------------------------------------------------------------------------ document


def _machine_section(meta: Mapping[str, Any]) -> list[str]:
    machine = meta.get("machine")
    lines = ["## Machine and run", ""]
    rows: list[list[str]] = []
    if isinstance(machine, Mapping):
        rows += [[str(k), DASH if v is None else str(v)] for k, v in machine.items()]
    for key in ("started", "finished", "git_commit", "quick"):
        if key in meta:
            value = meta[key]
            rows.append(
                [
                    key,
                    DASH if value is None else f"`{value}`" if key == "git_commit" else str(value),
                ]
            )
    if not rows:
        return [*lines, "The meta file describes no machine.", ""]
    return [*lines, *_table(["", "value"], rows, "ll"), ""]


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _shown(path: Path) -> str:
    """A path as the reader would type it: relative to the working directory if inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def render(
    csv_path: Path,
    doc_path: Path = Path("docs/benchmarks.md"),
    img_dir: Path = Path("docs/img/benchmarks"),
) -> str:
    """Write ``doc_path`` (and the PNGs in ``img_dir``) from the CSV and its meta JSON.

    Returns the Markdown. Raises ``ReportError`` when the CSV or the meta file is
    missing, lacks a column or holds a cell that is not what the schema says.
    """
    points = read_table(csv_path)
    meta = read_meta(meta_path(csv_path))
    compare_path = csv_path.parent / FLOWER_COMPARE_JSON
    compare = read_flower_compare(compare_path)
    sweep_machine = meta.get("machine")
    sweep_flwr = sweep_machine.get("flwr") if isinstance(sweep_machine, Mapping) else None
    plots = make_plots(points, img_dir)
    command = meta.get("command")
    shown = _shown(csv_path)
    if doc_path != Path("docs/benchmarks.md"):
        shown += f" --doc {_shown(doc_path)}"
    if img_dir != Path("docs/img/benchmarks"):
        shown += f" --img-dir {_shown(img_dir)}"

    lines = [
        "# Benchmarks",
        "",
        f"_Generated by `python -m benchmarks.report {shown}` — do not edit by hand._",
        "",
        "Secure aggregation with `secagg` (SecAgg, SecAgg+ and packed Paillier) against plain "
        "summation, Flower's SecAgg+ and phe's Paillier, measured side by side in the same "
        "sweep.",
        "",
        *_machine_section(meta),
        "## Reproduce",
        "",
        "```sh",
        "make bench                             # the full sweep",
        "python -m benchmarks sweep --quick     # a quick subset, minutes",
        f"python -m benchmarks.report {shown}",
        "```",
        "",
        "The exact command of this run:",
        "",
        "```sh",
        str(command) if command else "(not recorded)",
        "```",
        "",
        "## How to read the numbers",
        "",
        "The benchmarks ran on a shared, noisy machine. Every number below is a median over "
        "repetitions (the `reps` column), not a single time, and every comparison is a ratio "
        "of quantities measured side by side in one process and one run. Times are CPU "
        "seconds of each party's own work (thread CPU time; process CPU time for Flower, "
        "whose secret sharing runs on a thread pool, and for the Paillier decryption "
        "workers), not wall-clock seconds; sizes "
        f"are bytes. A dash ({DASH}) means the quantity does not apply to that protocol. "
        f"{EXTRAPOLATED_MARK} marks times extrapolated from a measured subset.",
        "",
        "## Headline comparisons",
        "",
        *_flower_section(points, compare, None if sweep_flwr is None else str(sweep_flwr)),
        *_flower_compare_section(compare, _shown(compare_path)),
        *_paillier_section(points),
        *_floor_section(points),
        *_scale_section(points),
        *scale.section(read_scale(csv_path.parent / SCALE_JSON)),
        *_malicious_section(
            read_malicious(csv_path.parent / MALICIOUS_JSON),
            _shown(csv_path.parent / MALICIOUS_JSON),
        ),
        *_dp_section(read_dp(csv_path.parent / DP_JSON), _shown(csv_path.parent / DP_JSON)),
        "## All points (medians over repetitions)",
        "",
        *_table(FULL_HEADERS, (full_row(p) for p in points), "ll" + "r" * 6 + "l" + "r" * 9),
        "",
    ]
    if plots:
        lines += ["## Plots", ""]
        for path in plots:
            caption = PLOT_CAPTIONS.get(path.stem, path.stem)
            lines += [f"![{caption}]({_rel(path, doc_path.parent)})", ""]
    notes = meta.get("notes") or []
    if notes:
        lines += ["## Notes", ""]
        lines += [f"- {note}" for note in notes]
        lines += [""]
    text = "\n".join(lines)
    doc_path.parent.mkdir(parents=True, exist_ok=True)
    doc_path.write_text(text, encoding="utf-8")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.report CSV [--doc PATH] [--img-dir PATH]``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.report",
        description="Write docs/benchmarks.md and its plots from a sweep's CSV "
        "(`python -m benchmarks sweep`; the meta JSON is read from beside it).",
    )
    parser.add_argument("csv", type=Path, help="the CSV written by the sweep")
    parser.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--img-dir", type=Path, default=Path("docs/img/benchmarks"))
    args = parser.parse_args(argv)
    try:
        render(args.csv, args.doc, args.img_dir)
    except ReportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
