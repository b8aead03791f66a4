"""Generated sections of the docs: the text between two HTML-comment markers."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def write_between_markers(doc: Path, start: str, end: str, lines: Sequence[str]) -> None:
    """Replace what lies between ``start`` and ``end`` in ``doc`` with ``lines``; the
    rest of the file is kept. Raises SystemExit when the markers are missing."""
    text = doc.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{doc} has no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    body = "\n".join(["", *lines, ""])
    doc.write_text(head + start + body + "\n" + end + tail, encoding="utf-8")


def measured_section_main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    description: str | None,
    rounds: int,
    quick_help: str,
    out: Path,
    doc: Path,
    run: Callable[[int, bool, int], dict[str, Any]],
    write: Callable[[dict[str, Any], Path], None],
) -> int:
    """The command line of a benchmark that measures FedAvg runs and writes a section of
    the docs: ``--rounds``, ``--quick``, ``--workers``, ``--out`` (the JSON), ``--doc``,
    and ``--from-json`` to rewrite the doc from an earlier JSON without running."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=out)
    parser.add_argument("--doc", type=Path, default=doc)
    parser.add_argument("--from-json", type=Path, help="only rewrite the doc from this JSON")
    args = parser.parse_args(argv)
    if args.from_json is not None:
        data = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        data = run(args.rounds, args.quick, args.workers)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    write(data, args.doc)
    print(f"wrote {args.out} and the tables in {args.doc}")
    return 0
