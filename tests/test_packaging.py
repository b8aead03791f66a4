"""What ``pip install secagg`` gives: the library and its aggregator API, and no generic
top-level names (``fl``, ``benchmarks``) in the user's site-packages; the library never
imports the harness or the FL app."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


FLOWER = REPO / "secagg" / "flower"


@pytest.mark.parametrize("path", sorted((REPO / "secagg").rglob("*.py")), ids=str)
def test_the_library_never_imports_the_harness_the_app_or_torch(path: Path) -> None:
    # Only the optional secagg.flower package (the `flower` extra) may import Flower.
    flower_ok = {"flwr"} if FLOWER in path.parents else set()
    forbidden = {"benchmarks", "fl", "torch", "flwr", "pickle", "random"} - flower_ok
    assert not _imports(path) & forbidden


def test_nothing_outside_secagg_flower_imports_it() -> None:
    for path in (REPO / "secagg").rglob("*.py"):
        if FLOWER not in path.parents:
            assert "secagg.flower" not in path.read_text(), path


def test_installed_distribution_holds_only_secagg(tmp_path: Path) -> None:
    # Outside the checkout, only what the distribution installed can be imported.
    code = (
        "import importlib.util, secagg, secagg.aggregator\n"
        "print(importlib.util.find_spec('fl') is None, importlib.util.find_spec('benchmarks') is None)\n"
        "from secagg import SecureAggregator, PlainAggregator, run_round\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


def test_importing_secagg_loads_no_harness() -> None:
    code = (
        "import importlib, pathlib, sys, secagg\n"
        "root = pathlib.Path(secagg.__path__[0]).parent\n"
        "for path in sorted(pathlib.Path(secagg.__path__[0]).rglob('*.py')):\n"
        "    name = '.'.join(path.relative_to(root).with_suffix('').parts)\n"
        "    name = name.removesuffix('.__init__')\n"
        "    if name.endswith('__main__') or name.startswith('secagg.flower'): continue\n"
        "    importlib.import_module(name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('benchmarks', 'fl', 'torch', 'flwr')]\n"
        "print(bad)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
