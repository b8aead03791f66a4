"""The benchmark table (CSV rows grouped into points, medians over repetitions) and its plots.

``load_points`` turns the rows of the CSV written by ``secagg bench`` (columns in
``benchmarks.schema``) into one ``Point`` per configuration; ``make_plots`` draws PNGs
of the medians with min-max error bars, one series per protocol, the baselines dashed
and extrapolated points hollow. Figures use the Agg canvas directly (no pyplot state).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter

from benchmarks.schema import BASELINES, COLUMNS, PROTOCOLS


class ReportError(Exception):
    """The benchmark CSV or its meta file cannot be turned into a report."""


# Columns that identify a point; the repetitions of one point differ only in ``rep``.
KEY_INT_COLUMNS = ("clients", "neighbours", "threshold", "dim", "bits")
TEXT_COLUMNS = ("protocol", "method")
BOOL_COLUMNS = ("exact", "extrapolated")
NUMERIC_COLUMNS = tuple(
    c for c in COLUMNS if c not in (*TEXT_COLUMNS, *BOOL_COLUMNS, *KEY_INT_COLUMNS, "dropout")
)

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@dataclass(frozen=True)
class Point:
    """One benchmark configuration and the values of its repetitions."""

    protocol: str
    clients: int | None
    neighbours: int | None
    threshold: int | None
    dim: int | None
    bits: int | None
    dropout: float | None
    methods: tuple[str, ...]
    exact: tuple[bool, ...]  # one per repetition where it applies
    extrapolated: bool  # any repetition was extrapolated
    reps: int
    values: Mapping[str, tuple[float, ...]] = field(compare=False)

    def median(self, column: str) -> float | None:
        """Median over repetitions, or None when the column is empty for this point."""
        vals = self.values.get(column, ())
        return statistics.median(vals) if vals else None

    def low(self, column: str) -> float | None:
        """Minimum over repetitions, or None."""
        vals = self.values.get(column, ())
        return min(vals) if vals else None

    def high(self, column: str) -> float | None:
        """Maximum over repetitions, or None."""
        vals = self.values.get(column, ())
        return max(vals) if vals else None

    @property
    def is_baseline(self) -> bool:
        """True for plain, Flower's SecAgg+ and phe."""
        return self.protocol in BASELINES


def _parse_int(text: str, column: str, line: int) -> int | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ReportError(f"line {line}: {column}={text!r} is not a number") from None
    if not value.is_integer():
        raise ReportError(f"line {line}: {column}={text!r} is not an integer")
    return int(value)


def _parse_float(text: str, column: str, line: int) -> float | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ReportError(f"line {line}: {column}={text!r} is not a number") from None
    if math.isnan(value):
        return None
    return value


def _parse_bool(text: str, column: str, line: int) -> bool | None:
    low = text.strip().lower()
    if low == "":
        return None
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ReportError(f"line {line}: {column}={text!r} is not a boolean")


def check_columns(header: Iterable[str]) -> None:
    """Raise ``ReportError`` naming every schema column missing from ``header``."""
    present = set(header)
    missing = [c for c in COLUMNS if c not in present]
    if missing:
        raise ReportError(
            f"the CSV lacks column(s) {', '.join(missing)} (see benchmarks/schema.py)"
        )


_Key = tuple[str, int | None, int | None, int | None, int | None, int | None, float | None]


def load_points(rows: Iterable[Mapping[str, str]]) -> list[Point]:
    """Group CSV rows (as from ``csv.DictReader``) into points, in a stable order.

    Line numbers in errors count the header as line 1.
    """
    groups: dict[_Key, list[tuple[int, Mapping[str, str]]]] = {}
    for line, row in enumerate(rows, start=2):
        check_columns(row.keys())
        protocol = (row["protocol"] or "").strip()
        if protocol not in PROTOCOLS:
            raise ReportError(
                f"line {line}: unknown protocol {protocol!r}; "
                f"expected one of {', '.join(PROTOCOLS)}"
            )
        clients, neighbours, threshold, dim, bits = (
            _parse_int(row[c] or "", c, line) for c in KEY_INT_COLUMNS
        )
        dropout = _parse_float(row["dropout"] or "", "dropout", line)
        key = (protocol, clients, neighbours, threshold, dim, bits, dropout)
        groups.setdefault(key, []).append((line, row))

    points = []
    for key, members in groups.items():
        values: dict[str, tuple[float, ...]] = {}
        for column in NUMERIC_COLUMNS:
            parsed = (_parse_float(row[column] or "", column, line) for line, row in members)
            values[column] = tuple(v for v in parsed if v is not None)
        exact = [_parse_bool(row["exact"] or "", "exact", line) for line, row in members]
        extrap = [
            _parse_bool(row["extrapolated"] or "", "extrapolated", line) for line, row in members
        ]
        methods = sorted({(row["method"] or "").strip() for _, row in members} - {""})
        points.append(
            Point(
                protocol=key[0],
                clients=key[1],
                neighbours=key[2],
                threshold=key[3],
                dim=key[4],
                bits=key[5],
                dropout=key[6],
                methods=tuple(methods),
                exact=tuple(e for e in exact if e is not None),
                extrapolated=any(e is True for e in extrap),
                reps=len(members),
                values=values,
            )
        )
    return sorted(points, key=point_order)


def _none_last(value: float | None) -> tuple[bool, float]:
    return (value is None, 0.0 if value is None else value)


def point_order(p: Point) -> tuple[object, ...]:
    """Sort key: protocol in schema order, then clients, dim, neighbours, bits, dropout."""
    return (
        PROTOCOLS.index(p.protocol),
        _none_last(p.clients),
        _none_last(p.dim),
        _none_last(p.neighbours),
        _none_last(p.bits),
        _none_last(p.dropout),
        _none_last(p.threshold),
    )


# ------------------------------------------------------------------------------ slices


def fixed_dropout(points: Sequence[Point]) -> float | None:
    """0 when any point has no dropout, else the most common dropout."""
    dropouts = [p.dropout for p in points]
    if 0.0 in dropouts:
        return 0.0
    return Counter(dropouts).most_common(1)[0][0] if dropouts else None


def _most_distinct(
    points: Sequence[Point], group: Callable[[Point], int | None], spread: Callable[[Point], object]
) -> int | None:
    """The value of ``group`` with the most distinct ``spread`` values (ties: most points)."""
    distinct: dict[int, set[object]] = {}
    count: Counter[int] = Counter()
    for p in points:
        g = group(p)
        if g is not None:
            distinct.setdefault(g, set()).add(spread(p))
            count[g] += 1
    if not distinct:
        return None
    return max(distinct, key=lambda g: (len(distinct[g]), count[g], -g))


def fixed_clients(points: Sequence[Point], prefer: int = 50) -> int | None:
    """``prefer`` clients when it has two or more dims, else the clients with the most dims."""
    drop = fixed_dropout(points)
    at_drop = [p for p in points if p.dropout == drop]
    if len({p.dim for p in at_drop if p.clients == prefer}) >= 2:
        return prefer
    return _most_distinct(at_drop, lambda p: p.clients, lambda p: p.dim)


# ------------------------------------------------------------------------------ plots

_COLOURS = {
    "secagg": "C0",
    "secagg+": "C1",
    "flower-secagg+": "C1",
    "paillier": "C2",
    "phe-paillier": "C2",
    "plain": "0.25",
}
_MARKERS = {
    "secagg": "o",
    "secagg+": "s",
    "flower-secagg+": "D",
    "paillier": "^",
    "phe-paillier": "v",
    "plain": "x",
}

PLOT_CAPTIONS = {
    "time_vs_clients": "Total CPU seconds per round against clients",
    "time_vs_dim": "Total CPU seconds per round against dimension",
    "bytes_vs_clients": "Bytes uploaded per client against clients",
    "ratio_to_floor": "Ratio to the floor against dimension",
}


def _series(
    points: Sequence[Point],
    x: Callable[[Point], int | None],
    column: str,
    *,
    per_dropout: bool = False,
) -> dict[str, list[Point]]:
    """Per protocol, one point per x value with data in ``column``, sorted by x.

    Several points at one x (different bits, say) resolve to the protocol's most common
    bits, then the first in table order. With ``per_dropout``, each protocol keeps only
    its dropout with the most distinct x values, and its key names that dropout
    ("secagg+ (dropout 0.1)"): sweeps of one protocol need not share a dropout.
    """
    out: dict[str, list[Point]] = {}
    for protocol in PROTOCOLS:
        mine = [p for p in points if p.protocol == protocol and x(p) is not None]
        mine = [p for p in mine if (p.median(column) or 0.0) > 0.0]
        if not mine:
            continue
        key = protocol
        if per_dropout:
            spread: dict[float, set[int | None]] = {}
            for p in mine:
                spread.setdefault(p.dropout or 0.0, set()).add(x(p))
            best = max(spread, key=lambda d: (len(spread[d]), -d))
            mine = [p for p in mine if (p.dropout or 0.0) == best]
            key = f"{protocol} (dropout {best:g})"
        common_bits = Counter(p.bits for p in mine).most_common(1)[0][0]
        chosen: dict[int, Point] = {}
        for p in sorted(mine, key=lambda p: (p.bits != common_bits, point_order(p))):
            xv = x(p)
            if xv is not None:
                chosen.setdefault(xv, p)
        out[key] = [chosen[k] for k in sorted(chosen)]
    return out


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


# Columns derived from times: an extrapolated point's values there are scaled, not measured.
TIME_DERIVED = {c for c in COLUMNS if c.endswith("_s") or c.endswith("_s_max")} | {"ratio_to_floor"}


def _draw(
    ax: Axes, series: Mapping[str, list[Point]], x: Callable[[Point], int | None], column: str
) -> None:
    """Lines of medians with min-max bars; baselines dashed, extrapolated times hollow."""
    marks_extrapolated = column in TIME_DERIVED
    handles: list[Line2D] = []
    any_extrapolated = False
    for label, pts in series.items():
        protocol = label.split(" ", 1)[0]
        colour, marker = _COLOURS[protocol], _MARKERS[protocol]
        style: Literal["--", "-"] = "--" if protocol in BASELINES else "-"
        xs = [float(x(p) or 0) for p in pts]
        med = [p.median(column) or 0.0 for p in pts]
        lo = [m - _or(p.low(column), m) for p, m in zip(pts, med, strict=True)]
        hi = [_or(p.high(column), m) - m for p, m in zip(pts, med, strict=True)]
        ax.errorbar(xs, med, yerr=[lo, hi], color=colour, linestyle=style, capsize=2, lw=1.3)
        for hollow in (False, True):
            sel = [
                i for i, p in enumerate(pts) if (p.extrapolated and marks_extrapolated) == hollow
            ]
            if sel:
                ax.plot(
                    [xs[i] for i in sel],
                    [med[i] for i in sel],
                    linestyle="none",
                    marker=marker,
                    color=colour,
                    markerfacecolor="white" if hollow else colour,
                    markersize=6,
                )
        any_extrapolated |= marks_extrapolated and any(p.extrapolated for p in pts)
        handles.append(Line2D([], [], color=colour, linestyle=style, marker=marker, label=label))
    if any_extrapolated:
        handles.append(
            Line2D(
                [],
                [],
                color="0.3",
                linestyle="none",
                marker="o",
                markerfacecolor="white",
                label="hollow: (extrapolated)",
            )
        )
    ax.legend(handles=handles, fontsize=8)
    ax.grid(True, which="both", alpha=0.3)


def _save(
    out_dir: Path,
    name: str,
    series: Mapping[str, list[Point]],
    x: Callable[[Point], int | None],
    column: str,
    title: str,
    xlabel: str,
    ylabel: str,
) -> Path | None:
    if not series:
        return None
    fig = Figure(figsize=(7.0, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    _draw(ax, series, x, column)
    ax.set_xscale("log")
    ax.set_yscale("log")
    xs = sorted({float(v) for pts in series.values() for p in pts if (v := x(p)) is not None})
    ax.set_xticks(xs, [f"{v:,.0f}" for v in xs])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    path = out_dir / f"{name}.png"
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path


def make_plots(rows: Iterable[Mapping[str, str]] | Sequence[Point], out_dir: Path) -> list[Path]:
    """Write the benchmark PNGs to ``out_dir`` and return their paths, in order.

    ``rows`` are CSV rows (``csv.DictReader``) or points from ``load_points``. Plots:
    total CPU and bytes up per client against clients (at the dim with the most client
    counts); total CPU and the ratio to the floor against dim (at ``fixed_clients``);
    each protocol at its own most-swept dropout (named in the legend). A plot without
    data is skipped, as is a protocol without data in a plot.
    """
    points: list[Point] = []
    raw: list[Mapping[str, str]] = []
    for item in rows:
        if isinstance(item, Point):
            points.append(item)
        else:
            raw.append(item)
    if points and raw:
        raise TypeError("make_plots takes CSV rows or points, not both")
    points = points or load_points(raw)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Against clients: the dim with the most client counts at any dropout, and each
    # protocol at its own most-swept dropout (named in the legend).
    dim = _most_distinct(points, lambda p: p.dim, lambda p: p.clients)
    clients = fixed_clients(points)
    by_dim = [p for p in points if p.dim == dim] if dim is not None else []
    by_clients = [p for p in points if p.clients == clients] if clients is not None else []

    def x_clients(p: Point) -> int | None:
        return p.clients

    def x_dim(p: Point) -> int | None:
        return p.dim

    at_dim = f"dim {dim:,}, dropout as in the legend" if dim is not None else ""
    at_clients = f"{clients} clients, dropout as in the legend" if clients is not None else ""
    plans = [
        ("time_vs_clients", by_dim, x_clients, "total_cpu_s", at_dim, "clients", "CPU s"),
        ("time_vs_dim", by_clients, x_dim, "total_cpu_s", at_clients, "dim", "CPU s"),
        ("bytes_vs_clients", by_dim, x_clients, "bytes_up_per_client", at_dim, "clients", "bytes"),
        ("ratio_to_floor", by_clients, x_dim, "ratio_to_floor", at_clients, "dim", "CPU / floor"),
    ]
    written = []
    for name, pts, x, column, where, xlabel, ylabel in plans:
        title = f"{PLOT_CAPTIONS[name]}\n{where}; median and min-max over repetitions"
        series = _series(pts, x, column, per_dropout=True)
        path = _save(out_dir, name, series, x, column, title, xlabel, ylabel)
        if path is not None:
            written.append(path)
    return written
