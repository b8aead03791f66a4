"""The sweeps: which points ``python -m benchmarks sweep`` measures, and the loop that runs them.

Not a full Cartesian product (that would take days): one factor at a time around a
base point (50 clients, d = 100,000, 10% dropout, b = 16), plus the headline
comparisons and the scale points the issue names. Every point runs ``reps`` times, each
repetition in a fresh process (:mod:`benchmarks.point`), and each row is appended to
the CSV as soon as it is measured, so an interrupted sweep keeps what it measured.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.point import Point
from benchmarks.schema import COLUMNS

BASE_CLIENTS, BASE_DIM, BASE_DROPOUT, BASE_BITS = 50, 100_000, 0.1, 16


@dataclass(frozen=True)
class Grid:
    """The points of one sweep, before repetition."""

    name: str
    points: tuple[Point, ...]
    reps: int


def _unique(points: Iterable[Point]) -> tuple[Point, ...]:
    return tuple(dict.fromkeys(points))


def _around_base(
    protocols: Iterable[str],
    clients: Iterable[int],
    dims: Iterable[int],
    dropouts: Iterable[float],
    bits: Iterable[int],
) -> list[Point]:
    points = []
    for proto in protocols:
        points += [Point(proto, n, BASE_DIM, BASE_DROPOUT, BASE_BITS) for n in clients]
        points += [Point(proto, BASE_CLIENTS, d, BASE_DROPOUT, BASE_BITS) for d in dims]
        points += [Point(proto, BASE_CLIENTS, BASE_DIM, p, BASE_BITS) for p in dropouts]
        if proto != "plain":  # plain sends float32: it has no bit width to vary
            points += [Point(proto, BASE_CLIENTS, BASE_DIM, BASE_DROPOUT, b) for b in bits]
    return points


def _headline(dims: Iterable[int]) -> list[Point]:
    """Ours against Flower's SecAgg+ at 50 clients, no dropout (Flower's own setting)."""
    return [
        Point(proto, BASE_CLIENTS, d, 0.0, BASE_BITS)
        for d in dims
        for proto in ("secagg+", "flower-secagg+", "plain")
    ]


def _paillier(clients: Iterable[int], dims: Iterable[int]) -> list[Point]:
    return [
        Point(proto, n, d, 0.0, BASE_BITS)
        for n in clients
        for d in dims
        for proto in ("paillier", "phe-paillier", "plain")
    ]


# The scale points of issue 5: both must complete within the machine's 24 GB.
SCALE_POINTS = (
    Point("secagg+", 1000, 100_000, BASE_DROPOUT, BASE_BITS),
    Point("secagg", 100, 100_000, BASE_DROPOUT, BASE_BITS),
)


def quick_grid() -> Grid:
    """About 4 minutes on 2 cores: enough to see every trend and every baseline."""
    points = _around_base(
        ("secagg+", "secagg", "plain"), (10, 50, 100), (10_000, 100_000), (0.0, 0.3), (8,)
    )
    points += _headline((100_000, 1_000_000))
    points += _paillier((10,), (10_000,))
    return Grid("quick", _unique(points), reps=2)


def full_grid() -> Grid:
    """The sweep behind docs/benchmarks.md (about an hour on 2 cores)."""
    points = _around_base(
        ("secagg+", "plain"),
        (10, 50, 100, 200, 500, 1000),
        (10_000, 100_000, 1_000_000),
        (0.0, 0.1, 0.3),
        (8, 16, 24),
    )
    points += _around_base(
        ("secagg",), (10, 50, 100, 200), (10_000, 100_000, 1_000_000), (0.0, 0.1, 0.3), (8, 24)
    )
    points += _headline((10_000, 100_000, 1_000_000))
    points += [Point("flower-secagg+", n, BASE_DIM, 0.0, BASE_BITS) for n in (10, 100)]
    points += _paillier((10, 50), (10_000, 100_000))
    points += SCALE_POINTS
    return Grid("full", _unique(points), reps=3)


@dataclass
class Failure:
    point: Point
    message: str


def run_grid(
    grid: Grid,
    csv_path: Path,
    *,
    protocols: set[str] | None = None,
    timeout_s: float = 1800.0,
    progress: Callable[[Point, int, int], None] | None = None,
) -> tuple[list[dict[str, Any]], list[Failure], list[str]]:
    """Run every point ``grid.reps`` times, appending rows to ``csv_path`` (rewritten).

    Returns (rows, failures, notes). A failing or timed-out repetition is recorded as a
    failure and the sweep goes on.
    """
    runs = [
        Point(p.protocol, p.clients, p.dim, p.dropout, p.bits, rep)
        for p in grid.points
        if protocols is None or p.protocol in protocols
        for rep in range(grid.reps)
    ]
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    failures: list[Failure] = []
    notes: list[str] = []
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for index, point in enumerate(runs):
            if progress is not None:
                progress(point, index, len(runs))
            try:
                row = _run_in_subprocess(point, timeout_s)
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                lines = str(exc).strip().splitlines() or [type(exc).__name__]
                failures.append(Failure(point, lines[-1][:300]))
                continue
            notes.extend(n for n in row.pop("notes", []) if n not in notes)
            writer.writerow(row)
            handle.flush()
            rows.append(row)
    return rows, failures, notes


def _run_in_subprocess(point: Point, timeout_s: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.point", json.dumps(asdict(point))],
        cwd=Path(__file__).resolve().parents[1],  # the checkout: benchmarks is not installed
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr or f"exit status {done.returncode}")
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


def machine() -> dict[str, Any]:
    """Facts about this machine and the package versions, for the report."""
    import cryptography
    import gmpy2
    import numpy
    import phe

    try:
        import flwr

        flwr_version: str | None = flwr.__version__
    except ImportError:
        flwr_version = None
    from cryptography.hazmat.backends.openssl.backend import backend

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "platform": platform.platform(),
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory, 1),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "cryptography": cryptography.__version__,
        "openssl": backend.openssl_version_text(),
        "gmpy2": gmpy2.version(),
        "phe": getattr(phe, "__version__", "unknown"),
        "flwr": flwr_version,
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def write_meta(
    csv_path: Path,
    *,
    command: str,
    started: float,
    grid: Grid,
    failures: list[Failure],
    notes: list[str],
) -> Path:
    """Write ``<csv stem>.meta.json`` beside the CSV and return its path."""
    meta = {
        "command": command,
        "started": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "quick": grid.name == "quick",
        "reps": grid.reps,
        "machine": machine(),
        "notes": notes,
        "failures": [{"point": asdict(f.point), "error": f.message} for f in failures],
    }
    path = csv_path.with_suffix(".meta.json")
    path.write_text(json.dumps(meta, indent=2) + "\n")
    return path
