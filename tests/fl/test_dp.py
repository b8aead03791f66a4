"""``python -m fl --dp``: validated flags, per-round epsilon in the table, results.json
and the plot, a noise multiplier picked for a target epsilon, and --compare against the
same secure backend without DP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fl.__main__ import main
from fl.config import parse_config
from fl.errors import ConfigError

FAST = ["--dataset", "digits", "--model", "mlp", "--rounds", "3", "--clients", "8",
        "--clients-per-round", "6", "--local-epochs", "1", "--dropout", "0", "--no-progress"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--noise-multiplier", "1.0"], "with --dp ddg or skellam only"),
        (["--dp", "ddg"], "exactly one of"),
        (["--dp", "ddg", "--noise-multiplier", "1", "--target-epsilon", "3"], "exactly one of"),
        (["--dp", "skellam", "--noise-multiplier", "1", "--backend", "plain"], "secure backend"),
        (["--dp", "ddg", "--noise-multiplier", "-1"], "noise_multiplier"),
        (["--dp", "ddg", "--noise-multiplier", "1", "--delta", "1.5"], "delta"),
    ],
)
def test_dp_flags_are_checked_before_anything_runs(flags: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(flags)


@pytest.mark.parametrize("mechanism", ["ddg", "skellam"])
def test_a_dp_run_reports_epsilon_every_round(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mechanism: str
) -> None:
    out = tmp_path / mechanism
    flags = [*FAST, "--dp", mechanism, "--noise-multiplier", "0.8", "--bits", "18",
             "--out", str(out)]
    assert main(flags) == 0
    printed = capsys.readouterr().out
    assert "epsilon" in printed and f"DP: {mechanism}" in printed
    doc = json.loads((out / "results.json").read_text())
    dp = doc["dp"]
    assert dp["mechanism"] == mechanism and dp["noise_multiplier"] == 0.8
    assert dp["sampling_rate"] == pytest.approx(6 / 8) and dp["bits"] == 18
    eps = [r["epsilon"] for r in doc["rounds"]]
    assert all(e is not None and e > 0 for e in eps)
    assert eps == sorted(eps) and eps[-1] == pytest.approx(dp["epsilon"])
    assert dp["delta"] <= dp["delta_with_sampler_slack"] < dp["delta"] + 1e-15


def test_target_epsilon_picks_the_noise(tmp_path: Path) -> None:
    out = tmp_path / "target"
    assert main([*FAST, "--dp", "ddg", "--target-epsilon", "4", "--bits", "20",
                 "--out", str(out)]) == 0
    dp = json.loads((out / "results.json").read_text())["dp"]
    assert dp["noise_multiplier_from_target_epsilon"] is True
    assert dp["epsilon"] <= 4.0 + 1e-9
    assert dp["noise_multiplier"] > 0


def test_compare_adds_the_same_backend_without_dp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    assert main([*FAST, "--dp", "skellam", "--noise-multiplier", "0.5", "--bits", "18",
                 "--compare", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "secagg+ skellam vs secagg+: final accuracy gap" in printed
    doc = json.loads((out / "results.json").read_text())
    assert doc["reference"]["backend"] == "secagg+" and "dp" not in doc["reference"]
    assert doc["backend"] == "secagg+ skellam"


def test_too_few_bits_are_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*FAST, "--dp", "ddg", "--noise-multiplier", "1", "--bits", "5"]) == 2
    err = capsys.readouterr().err
    assert "bits" in err and "at least" in err and "Traceback" not in err
