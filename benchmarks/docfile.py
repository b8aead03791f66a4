"""Generated sections of the docs: the text between two HTML-comment markers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


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
