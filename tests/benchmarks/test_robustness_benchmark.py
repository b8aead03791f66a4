"""python -m benchmarks robustness: the run plan, one tiny real run, and the doc tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import robustness


def test_the_plan_covers_every_attack_setup_and_seed() -> None:
    specs = robustness.configs(rounds=30, quick=False)
    plain = [s for s in robustness.SETUPS if s[1] == "plain"]
    secure = [s for s in robustness.SETUPS if s[1] != "plain"]
    per_setup = 1 + len(robustness.FRACTIONS) * len(robustness.ATTACKS)
    expected = len(robustness.SEEDS) * (
        len(plain) * (per_setup - len(robustness.FRACTIONS))  # no ring attack on plain
        + len(secure) * per_setup
    )
    assert len(specs) == expected
    assert not any(s["attack"] == "ring" and s["backend"] == "plain" for s in specs)
    assert {s["groups"] for s in specs} == {None, 5, 10}


def test_one_quick_run_reports_accuracy_and_costs() -> None:
    spec = next(s for s in robustness.configs(rounds=1, quick=True)
                if s["groups"] and s["attack"] == "ring")
    row = robustness.run_one(spec)
    assert 0.0 <= row["final_accuracy"] <= 1.0
    assert row["rounds_completed"] in (0, 1)


def _fake() -> dict:
    runs = []
    for spec in robustness.configs(rounds=30, quick=False):
        acc = 0.9 if spec["byzantine"] == 0 else 0.5 + 0.1 * spec["seed"]
        runs.append({**spec, "final_accuracy": acc, "client_crypto_ms": 2.0,
                     "server_crypto_ms": 10.0, "bytes_up_per_client": 4096.0})
    return {
        "command": "x", "git_commit": "abc", "runs": runs,
        "config": {"dataset": "mnist", "model": "mlp", "rounds": 30, "clients": 50,
                   "clients_per_round": 30, "local_epochs": 1, "alpha": 1.0, "clip": 0.5,
                   "robust_fraction": 0.2, "secure_backend": "secagg", "seeds": 3},
    }


def test_the_tables_render_means_spreads_and_costs(tmp_path: Path) -> None:
    text = "\n".join(robustness.table(_fake()))
    assert "**10% Byzantine clients**" in text and "**20% Byzantine clients**" in text
    assert "| ring | n/a |" in text
    dash = "\u2013"
    assert f"60.0 (50.0{dash}70.0)" in text
    assert f"| none (0% Byzantine) | 90.0 (90.0{dash}90.0)" in text
    assert "| secure + median, g = 5 | 2.0 | 10.0 | 4.0 |" in text
    doc = tmp_path / "robustness.md"
    doc.write_text(f"intro\n{robustness.START}\nstale table\n{robustness.END}\noutro\n")
    robustness.write_doc(_fake(), doc)
    written = doc.read_text()
    assert "stale table" not in written and "intro" in written and "outro" in written
    doc.write_text("no markers")
    with pytest.raises(SystemExit):
        robustness.write_doc(_fake(), doc)
