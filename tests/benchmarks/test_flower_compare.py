"""python -m benchmarks flower: both systems in the same Flower engine, the paired ratios,
the report's same-engine section and the sweep's Flower section without Flower's codec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

flwr = pytest.importorskip("flwr")
if not flwr.__version__.startswith("1.42."):
    pytest.skip("needs flwr 1.42.x", allow_module_level=True)

import benchmarks.flower_compare as fc  # noqa: E402
from benchmarks.flower_compare import ComparePoint, summarize, summarize_codec  # noqa: E402
from benchmarks.plots import Point  # noqa: E402
from benchmarks.report import (  # noqa: E402
    ReportError,
    _flower_compare_section,
    _flower_section,
    read_flower_compare,
)

FIELDS = (
    "protocol_cpu_s",
    "client_protocol_cpu_s",
    "server_protocol_cpu_s",
    "round_cpu_s",
    "wall_s",
    "fit_cpu_s",
    "codec_cpu_s",
    "app_cpu_s",
    "strategy_cpu_s",
    "bytes_up_per_client",
    "bytes_down_per_client",
    "max_abs_error",
    "step",
    "peak_rss_mb",
)
DIM = 2000


@pytest.fixture(scope="module")
def both() -> dict[str, dict[str, Any]]:
    return {name: fc.run_system(name, 5, DIM, seed=1) for name in fc.SYSTEMS}


def test_both_systems_report_every_field(both: dict[str, dict[str, Any]]) -> None:
    for name, result in both.items():
        assert result["system"] == name
        assert (result["clients"], result["dim"], result["seed"]) == (5, DIM, 1)
        for key in FIELDS:
            assert isinstance(result[key], float | int), key
        assert result["protocol_cpu_s"] == pytest.approx(
            result["client_protocol_cpu_s"] + result["server_protocol_cpu_s"]
        )
    # the same neighbours and threshold for both: our defaults for 5 clients
    assert {(r["neighbours"], r["threshold"]) for r in both.values()} == {(4, 3)}


def test_ours_is_exact_to_one_step(both: dict[str, dict[str, Any]]) -> None:
    ours = both["ours"]
    assert ours["within_step"] is True
    assert ours["max_abs_error"] <= ours["step"]
    assert ours["step"] == pytest.approx(2 / (2**16 - 1))
    assert both["flower"]["step"] == 2 / 2**16


def test_bytes_are_flower_serialized_sizes(both: dict[str, dict[str, Any]]) -> None:
    ours, flower = both["ours"], both["flower"]
    for result in (ours, flower):
        assert result["bytes_up_per_client"] > 0 and result["bytes_down_per_client"] > 0
        # the model goes down to every node: float32 parameters
        assert result["bytes_down_per_client"] > 4 * DIM
    # Flower uploads its masked vector as int64 words: 8 bytes a parameter, plus keys,
    # shares and framing
    assert 8 * DIM < flower["bytes_up_per_client"] < 8 * DIM + 10_000
    assert ours["bytes_up_per_client"] < flower["bytes_up_per_client"]


def test_an_unknown_system_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown system"):
        fc.run_system("other", 5, 10)


def _run(system: str, protocol: float, up: float, *, within: bool = True) -> dict[str, Any]:
    return {
        "system": system, "neighbours": 12, "threshold": 7, "protocol_cpu_s": protocol,
        "client_protocol_cpu_s": protocol * 0.9, "server_protocol_cpu_s": protocol * 0.1,
        "round_cpu_s": 2 * protocol, "wall_s": 2 * protocol, "codec_cpu_s": 0.5,
        "app_cpu_s": 0.1, "strategy_cpu_s": 0.1, "bytes_up_per_client": up,
        "bytes_down_per_client": 4000.0, "max_abs_error": 1e-5 if within else 1e-3,
        "step": 3e-5, "within_step": within,
    }  # fmt: skip


def test_ratios_pair_each_repetition() -> None:
    runs = {
        "ours": [_run("ours", cpu, 100.0) for cpu in (1.0, 2.0, 4.0)],
        "flower": [_run("flower", cpu, 400.0) for cpu in (10.0, 4.0, 8.0)],
    }
    out = summarize(ComparePoint(50, 1000), runs, target_dim=1000)
    # per repetition 10, 2, 2 -> median 2 (not the ratio of medians 8 / 2 = 4)
    assert out["ratios"]["protocol_speedup"] == {"median": 2.0, "min": 2.0, "max": 10.0}
    assert out["ratios"]["upload_ratio"]["median"] == 0.25
    assert out["target"] is True
    assert out["systems"]["ours"]["protocol_cpu_s"] == 2.0
    assert out["systems"]["flower"]["within_step"] is True


def _data(speedup: float, upload: float, *, ours_exact: bool = True) -> dict[str, Any]:
    runs = {
        "ours": [_run("ours", 1.0, upload * 1000, within=ours_exact)],
        "flower": [_run("flower", speedup, 1000.0, within=False)],
    }
    codec = summarize_codec(
        ComparePoint(50, 1000),
        [{"clients": 50, "dim": 1000, "neighbours": 12, "total_cpu_s": 10.0,
          "codec_cpu_s": 6.0, "exact": True}],
    )  # fmt: skip
    return {
        "command": "python -m benchmarks flower --reps 1", "reps": 1, "git_commit": "abc",
        "machine": {"flwr": "1.42.0"}, "clip": 1.0, "bits": 16, "target_dim": 1000,
        "targets": dict(fc.TARGETS),
        "points": [
            summarize(ComparePoint(10, 100), runs, target_dim=1000),
            summarize(ComparePoint(50, 1000), runs, target_dim=1000),
        ],
        "baseline_codec": [codec],
    }  # fmt: skip


def _section(tmp_path: Path, data: dict[str, Any]) -> str:
    path = tmp_path / "flower_compare.json"
    path.write_text(json.dumps(data))
    return "\n".join(_flower_compare_section(read_flower_compare(path), "x"))


def test_the_report_states_every_target_met(tmp_path: Path) -> None:
    text = _section(tmp_path, _data(speedup=8.0, upload=0.3))
    assert "Targets at d = 1,000" in text
    verdicts = text[text.index("Targets at") :]
    assert (
        "protocol compute at least 6\u00d7 less than Flower's SecAgg+: met (8.00\u00d7" in verdicts
    )
    assert "the whole round at least 3\u00d7 less CPU: met" in verdicts
    assert "upload bytes at most 0.4\u00d7 Flower's: met (0.300\u00d7" in verdicts
    assert "the aggregate exact to within one step: met" in verdicts
    assert "**not met**" not in verdicts
    assert verdicts.count("- 50 clients") == 1 and "- 10 clients" not in verdicts  # d = 1000 only
    assert "| 10 | 100 | 12 / 7 | ours |" in text and "| Flower |" in text


def test_the_report_states_targets_not_met(tmp_path: Path) -> None:
    text = _section(tmp_path, _data(speedup=2.0, upload=0.5, ours_exact=False))
    verdicts = text[text.index("Targets at") :]
    assert "less than Flower's SecAgg+: **not met** (2.00\u00d7" in verdicts
    assert "the whole round at least 3\u00d7 less CPU: **not met**" in verdicts
    assert "Flower's: **not met** (0.500\u00d7" in verdicts
    assert "within one step: **not met**" in verdicts


def test_an_absent_or_broken_file(tmp_path: Path) -> None:
    assert read_flower_compare(tmp_path / "none.json") is None
    assert "Not in this run" in "\n".join(_flower_compare_section(None, "x"))
    data = _data(8.0, 0.3)
    del data["points"][0]["systems"]["flower"]["round_cpu_s"]
    broken = tmp_path / "flower_compare.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(ReportError, match="benchmarks flower"):
        read_flower_compare(broken)


def _point(protocol: str, total: float) -> Point:
    return Point(
        protocol, 50, 12, 7, 1000, 16, 0.0, ("measured",), (True,), False, 1,
        {"total_cpu_s": (total,), "bytes_up_per_client": (100.0,)},
    )  # fmt: skip


def test_the_sweep_section_takes_flowers_codec_off() -> None:
    points = [_point("secagg+", 1.0), _point("flower-secagg+", 20.0)]
    text = "\n".join(_flower_section(points, _data(8.0, 0.3), "1.41.0"))
    (row,) = [line for line in text.splitlines() if line.startswith("| 1,000 |")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    # total 20 s with a 60% codec share: 8 s of protocol alone, 8x ours; 20x with the codec
    assert cells[4:6] == ["20.0", "20.0\u00d7"]
    assert cells[-3:] == ["60.0%", "8.00", "8.00\u00d7"]
    assert "protocol compute alone on both sides" in text.lower()
    assert "flwr 1.41.0" in text and "next section" in text
    # without the measurement the columns stay empty, and the text says so
    bare = "\n".join(_flower_section(points, None, None))
    assert "was not measured in this run" in bare


def test_a_smoke_run_in_fresh_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fc, "QUICK_POINTS", (ComparePoint(4, 200),))
    monkeypatch.setattr(fc, "QUICK_TARGET_DIM", 200)
    monkeypatch.setattr(fc, "QUICK_CODEC_POINTS", (ComparePoint(4, 200),))
    out = tmp_path / "flower_compare.json"
    assert fc.main(["--quick", "--reps", "1", "--out", str(out)]) == 0
    data = read_flower_compare(out)
    assert data is not None
    assert data["command"] == "python -m benchmarks flower --quick --reps 1"
    (point,) = data["points"]
    assert point["target"] is True and point["systems"]["ours"]["within_step"] is True
    (codec,) = data["baseline_codec"]
    assert 0 < codec["codec_share"]["median"] < 1
    assert codec["runs"][0]["exact"] is True
