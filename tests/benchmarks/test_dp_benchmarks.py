"""python -m benchmarks dp / dp-utility: smoke runs at tiny sizes and their report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import dp_cost, dp_utility
from benchmarks.report import ReportError, _dp_section, read_dp


def test_dp_cost_measures_both_mechanisms(tmp_path: Path) -> None:
    out = tmp_path / "dp_cost.json"
    assert dp_cost.main(["--reps", "1", "--dim", "5000", "--out", str(out)]) == 0
    data = read_dp(out)
    assert data is not None
    for point in data["points"]:
        assert point["ddg"]["encode_s"] > 0 and point["skellam"]["encode_s"] > 0
        assert point["bytes"]["padded_dim"] == 8192
        # the padding to a power of two is the only growth: same modulus bits
        assert point["bytes"]["dp_modulus_bits"] == point["bytes"]["plain_modulus_bits"]
        assert 1.0 < point["bytes"]["ratio"] < 8192 / 5000 + 0.05
    text = "\n".join(_dp_section(data, "x"))
    assert "Distributed DP on a client" in text and "bytes at most 1.50" in text


def test_a_broken_dp_json_is_a_report_error(tmp_path: Path) -> None:
    path = tmp_path / "dp_cost.json"
    path.write_text(json.dumps({"points": [{}]}))
    with pytest.raises(ReportError, match="benchmarks dp"):
        read_dp(path)
    assert read_dp(tmp_path / "absent.json") is None


def test_the_utility_table_renders(tmp_path: Path) -> None:
    runs = [
        {"backend": "plain", "dp": "none", "bits": 16, "target_epsilon": None,
         "final_accuracy": 0.9},
        {"backend": "secagg+", "dp": "none", "bits": 16, "target_epsilon": None,
         "final_accuracy": 0.89},
    ]  # fmt: skip
    for mechanism in dp_utility.MECHANISMS:
        for bits in dp_utility.BITS:
            for eps in dp_utility.EPSILONS:
                row = {"backend": "secagg+", "dp": mechanism, "bits": bits, "target_epsilon": eps}
                if bits == 16 and eps == 1.0:
                    row["error"] = "dp: ... use at least 18 bits"
                else:
                    row.update(final_accuracy=0.5, noise_multiplier=2.0)
                runs.append(row)
    data = {
        "command": "x", "git_commit": "abc", "runs": runs,
        "config": {"dataset": "mnist", "model": "mlp", "rounds": 30, "clients": 20,
                   "clients_per_round": 10, "dropout": 0.1, "l2_clip": 1.0, "delta": 1e-5},
    }  # fmt: skip
    text = "\n".join(dp_utility.table(data))
    assert "needs 18 bits" in text and "50.0 (z = 2.00)" in text and "89.0" in text
    doc = tmp_path / "dp.md"
    doc.write_text(f"a\n{dp_utility.START}\nold\n{dp_utility.END}\nb\n")
    dp_utility.write_doc(data, doc)
    assert "old" not in doc.read_text() and "needs 18 bits" in doc.read_text()
    dp_utility.plot(data, tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
