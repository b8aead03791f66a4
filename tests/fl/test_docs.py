"""The training-loop example of docs/fl.md runs as printed and learns."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "fl.md"


def test_loop_example_runs_and_learns() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    (example,) = [b for b in blocks if "for rnd in range" in b]
    assert len(example.splitlines()) <= 35
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, str(DOC), "exec"), {})
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    accuracy = [float(re.search(r"accuracy ([0-9.]+)", line).group(1)) for line in lines]
    assert accuracy[-1] > 0.7 and accuracy[-1] > accuracy[0]
    assert all("7 survivors" in line for line in lines)
