"""``python -m benchmarks sweep``: run a sweep, write the CSV and its meta JSON,
regenerate the report.

    python -m benchmarks sweep --quick     # about 4 minutes: every trend and baseline
    python -m benchmarks sweep             # the full sweep behind docs/benchmarks.md
    python -m benchmarks sweep --protocols secagg+ flower-secagg+ --reps 5

Flower's SecAgg+ runs only when ``flwr`` is installed (the ``compare`` extra); without
it those points are skipped and the meta notes say so.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.point import Point
from benchmarks.schema import PROTOCOLS
from benchmarks.sweep import Grid, full_grid, quick_grid, run_grid, write_meta

RESULTS = Path("benchmarks/results")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks sweep",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="the short sweep (< 5 min)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per point")
    parser.add_argument(
        "--protocols", nargs="+", choices=PROTOCOLS, default=None, help="only these protocols"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="CSV path (default: benchmarks/results/quick.csv or full.csv)",
    )
    parser.add_argument(
        "--doc",
        type=Path,
        default=Path("docs/benchmarks.md"),
        help="report to regenerate from the CSV",
    )
    parser.add_argument("--img-dir", type=Path, default=Path("docs/img/benchmarks"))
    parser.add_argument("--no-doc", action="store_true", help="write the CSV only")
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="seconds allowed per repetition before it counts as failed",
    )
    return parser


def _flower_installed() -> bool:
    try:
        import flwr  # noqa: F401
    except ImportError:
        return False
    return True


class _Progress:
    """A tqdm bar when tqdm is installed, else one line per repetition on stderr."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._tqdm: Any = None
        try:
            from tqdm import tqdm

            self._tqdm = tqdm
        except ImportError:
            pass

    def __call__(self, point: Point, index: int, total: int) -> None:
        label = f"{point.protocol} n={point.clients} d={point.dim:g} p={point.dropout}"
        if self._tqdm is None:
            print(f"[{index + 1}/{total}] {label} rep {point.rep}", file=sys.stderr)
            return
        if self._bar is None:
            self._bar = self._tqdm(total=total, unit="run", dynamic_ncols=True)
        elif index:
            self._bar.update(1)
        self._bar.set_description(label)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks sweep``; returns the exit status."""
    args = _parser().parse_args(argv)
    grid = quick_grid() if args.quick else full_grid()
    if args.reps is not None:
        grid = Grid(grid.name, grid.points, args.reps)
    protocols = set(args.protocols) if args.protocols else set(PROTOCOLS)
    notes = []
    if "flower-secagg+" in protocols and not _flower_installed():
        protocols.discard("flower-secagg+")
        notes.append(
            "Flower was not installed (pip install -e '.[compare]'): its points were skipped."
        )
    csv_path = args.out or RESULTS / f"{grid.name}.csv"
    started = time.time()
    progress = _Progress()
    try:
        rows, failures, run_notes = run_grid(
            grid, csv_path, protocols=protocols, timeout_s=args.timeout, progress=progress
        )
    finally:
        progress.close()
    command = "python -m benchmarks sweep " + shlex.join(
        sys.argv[2:] if argv is None else list(argv)
    )
    meta = write_meta(
        csv_path,
        command=command.strip(),
        started=started,
        grid=grid,
        failures=failures,
        notes=notes + run_notes,
    )
    print(f"{len(rows)} rows in {time.time() - started:.0f} s -> {csv_path} (+ {meta.name})")
    for failure in failures:
        print(f"FAILED {failure.point}: {failure.message}", file=sys.stderr)
    if not args.no_doc and rows:
        from benchmarks.report import render

        render(csv_path, args.doc, args.img_dir)
        print(f"report -> {args.doc}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
