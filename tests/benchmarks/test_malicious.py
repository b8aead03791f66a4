"""python -m benchmarks malicious: side-by-side runs, ratios per repetition, the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import benchmarks.malicious as malicious
from benchmarks.malicious import MaliciousPoint, summarize
from benchmarks.report import ReportError, _malicious_section, read_malicious


def _run(total: float, *, k: int = 12, sigs: int = 0) -> dict[str, Any]:
    return {
        "neighbours": k, "threshold": k // 2 + 1, "max_corrupt": 0, "survivors": 9,
        "exact": True, "signature_checks": sigs, "mask_vectors": 10, "total_cpu_s": total,
        "protocol_cpu_s": total, "stage_cpu_s": {"share": total / 2, "upload": total / 2},
        "bytes_up_per_client": 100.0,
    }  # fmt: skip


def test_ratios_pair_each_repetition_with_its_honest_run() -> None:
    point = MaliciousPoint(10, 100, 1.1)
    runs = {
        "honest": [_run(1.0), _run(2.0), _run(4.0)],
        "malicious": [_run(1.5, sigs=50), _run(2.2, sigs=60), _run(4.4, sigs=70)],
        "malicious-server-alone": [_run(1.0), _run(2.0), _run(4.0)],
    }
    out = summarize(point, runs)
    m = out["variants"]["malicious"]
    # per-repetition ratios 1.5, 1.1, 1.1, not the ratio of medians (2.2 / 2.0)
    assert m["ratio"] == pytest.approx(1.1)
    assert (m["ratio_min"], m["ratio_max"]) == (pytest.approx(1.1), pytest.approx(1.5))
    assert m["signature_checks"] == 60 and m["total_cpu_s"] == 2.2
    assert out["variants"]["honest"]["ratio"] == 1.0


def _data(ratio: float, target: float) -> dict[str, Any]:
    point = MaliciousPoint(50, 1000, target)
    runs = {
        "honest": [_run(1.0)],
        "malicious": [_run(ratio, k=14, sigs=1000)],
        "malicious-server-alone": [_run(1.2, sigs=900)],
    }
    return {
        "command": "python -m benchmarks malicious --reps 1", "reps": 1, "git_commit": "abc",
        "primitives": {"ed25519_verify_us": 100.0, "ed25519_sign_us": 40.0, "x25519_us": 50.0},
        "points": [summarize(point, runs)],
    }  # fmt: skip


@pytest.mark.parametrize(("ratio", "verdict"), [(1.05, "met"), (1.6, "**not met**")])
def test_the_report_states_the_target_and_the_verdict(tmp_path: Path, ratio, verdict) -> None:
    path = tmp_path / "malicious.json"
    path.write_text(json.dumps(_data(ratio, 1.1)))
    text = "\n".join(_malicious_section(read_malicious(path), "x"))
    assert f"target 1.10\u00d7 {verdict}" in text
    assert "\u2264 1.10" in text and "k = 14 instead of 12" in text
    # 1000 verifications at 100 us: 0.1 s of the added time
    assert "about 0.100 s" in text


def test_an_absent_or_broken_file(tmp_path: Path) -> None:
    assert read_malicious(tmp_path / "none.json") is None
    assert "Not in this run" in "\n".join(_malicious_section(None, "x"))
    broken = tmp_path / "malicious.json"
    data = _data(1.0, 1.1)
    del data["points"][0]["variants"]["honest"]["total_cpu_s"]
    broken.write_text(json.dumps(data))
    with pytest.raises(ReportError, match="benchmarks malicious"):
        read_malicious(broken)


def test_a_smoke_run_in_fresh_processes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(malicious, "QUICK_POINTS", (MaliciousPoint(30, 200, 1.1),))
    out = tmp_path / "m.json"
    assert malicious.main(["--quick", "--reps", "1", "--out", str(out)]) == 0
    data = read_malicious(out)
    assert data is not None
    variants = data["points"][0]["variants"]
    assert set(variants) == {"honest", "malicious", "malicious-server-alone"}
    assert all(v["exact"] for v in variants.values())
    assert variants["honest"]["signature_checks"] == 0
    assert variants["malicious"]["signature_checks"] > 0
    assert variants["malicious-server-alone"]["max_corrupt"] == 0
    assert variants["malicious"]["max_corrupt"] == 30 // 20
