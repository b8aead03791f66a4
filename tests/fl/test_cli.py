"""``python -m fl``: flags and TOML merge, one-line errors with exit code 2, and the
files written to --out."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from fl.__main__ import main
from fl.config import FLConfig, parse_config
from fl.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
FAST = ["--dataset", "digits", "--model", "mlp", "--rounds", "2", "--clients", "6",
        "--clients-per-round", "4", "--local-epochs", "1", "--dropout", "0", "--no-progress"]


def test_defaults_are_the_demo() -> None:
    config = parse_config([])
    assert config == FLConfig()
    assert (config.backend, config.dataset, config.clients, config.clients_per_round) == (
        "secagg+", "mnist", 20, 10
    )


def test_toml_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('backend = "secagg"\nrounds = 7\nalpha = 1\ndropout-stage = "share"\n')
    config = parse_config(["--config", str(path), "--rounds", "3", "--seed", "5"])
    assert config.backend == "secagg"  # from the file
    assert config.alpha == 1.0 and config.dropout_stage == "share"
    assert config.rounds == 3 and config.seed == 5  # flags win


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("rounds = 'ten'\n", "'rounds' must be an int"),
        ("roundz = 3\n", "unknown setting 'roundz'"),
        ("rounds = 0\n", "rounds must be at least 1"),
        ("backend = 'rsa'\n", "backend must be one of"),
        ("dropout = 1.5\n", "dropout must be a probability"),
        ("compare = 1\n", "'compare' must be a bool"),
        ("rounds = [\n", "not valid TOML"),
        ("clients = 5\nclients_per_round = 6\n", "exceeds clients"),
        ("bits = 40\n", "quantization"),
    ],
)
def test_toml_errors_are_one_clear_line(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        parse_config(["--config", str(path)])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "rsa"], "invalid choice: 'rsa'"),
        (["--rounds", "many"], "invalid int value: 'many'"),
        (["--rounds", "-1"], "rounds must be at least 1"),
        (["--dropout-stage", "later"], "invalid choice"),
        (["--clip", "0"], "clip must be a positive number"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["--config", "/nonexistent/x.toml"], "not found"),
        (["--backend", "plain", "--compare"], "needs a secure backend"),
    ],
)
def test_cli_errors_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("python -m fl: error: ") and message in err
    assert "Traceback" not in err


def test_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("rounds = 'ten'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "fl", "--config", str(path)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"python -m fl: error: in '{path}', setting 'rounds' must be an int, got 'ten'"
    ]


def _check_rounds(rounds: list[dict[str, object]], n: int) -> None:
    assert [r["round"] for r in rounds] == list(range(1, n + 1))
    for r in rounds:
        assert isinstance(r["accuracy"], float) and 0.0 <= r["accuracy"] <= 1.0
        assert isinstance(r["loss"], float)
        assert isinstance(r["survivors"], int)
        for key in ("client_crypto_ms", "server_crypto_ms", "keyholder_crypto_ms",
                    "bytes_up_per_client", "overhead"):
            assert isinstance(r[key], float), key


def test_out_holds_json_csv_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res"
    assert main([*FAST, "--backend", "secagg+", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "client ms" in printed and "train s" in printed and "agg s" in printed  # the table
    assert "clipped" in printed
    doc = json.loads((out / "results.json").read_text())
    assert doc["backend"] == "secagg+" and doc["config"]["rounds"] == 2
    _check_rounds(doc["rounds"], 2)
    assert all(r["client_crypto_ms"] > 0 for r in doc["rounds"])
    rows = list(csv.DictReader((out / "rounds.csv").open()))
    assert [row["backend"] for row in rows] == ["secagg+", "secagg+"]
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_runs_plain_on_the_same_seed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    assert main([*FAST, "--backend", "secagg", "--compare", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "secagg vs plain: final accuracy gap" in printed
    doc = json.loads((out / "results.json").read_text())
    assert doc["reference"]["backend"] == "plain"
    _check_rounds(doc["reference"]["rounds"], 2)
    sampled = [r["sampled"] for r in doc["rounds"]]
    assert sampled == [r["sampled"] for r in doc["reference"]["rounds"]]
    assert doc["comparison"]["tolerance_pp"] == 0.5
    assert {row["backend"] for row in csv.DictReader((out / "rounds.csv").open())} == {
        "plain", "secagg"
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "plain", "--clip", "0.3"], "clip applies to the secure backends"),
        (["--backend", "plain", "--bits", "12"], "bits applies to the secure backends"),
        (["--backend", "plain", "--l2-clip", "1"], "l2_clip applies to the secure backends"),
        (["--backend", "plain", "--insecure-seed", "3"], "insecure_seed applies"),
        (["--backend", "secagg", "--key-bits", "3072"], "key_bits applies to paillier"),
        (["--backend", "secagg", "--neighbours", "4"], "secagg's graph is complete"),
        (["--backend", "paillier", "--threshold", "3"], "threshold applies to secagg"),
        (["--dropout", "0", "--dropout-stage", "share"], "dropout_stage applies"),
        (["--backend", "secagg+", "--neighbours", "12"], "neighbours"),
        (["--backend", "secagg", "--threshold", "11"], "threshold"),
        (["--backend", "secagg", "--clients-per-round", "2", "--clients", "5"], "at least 3"),
    ],
)
def test_flags_that_do_not_apply_or_cannot_work_are_refused_before_anything_prints(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    assert main([*argv, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""  # nothing printed, nothing run
    assert not out.exists()


def test_compare_reference_drops_what_plain_cannot_use(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    argv = [*FAST, "--backend", "secagg", "--clip", "0.3", "--bits", "12", "--compare",
            "--out", str(out)]
    assert main(argv) == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["reference"]["backend"] == "plain"


def test_l2_clip_scales_updates_and_is_counted(tmp_path: Path) -> None:
    out = tmp_path / "l2"
    assert main([*FAST, "--backend", "secagg", "--l2-clip", "1e-4", "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert all(r["l2_clipped"] == r["survivors"] for r in doc["rounds"])


def test_every_run_gets_a_new_directory_and_out_is_never_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime

    from fl.__main__ import output_dir

    monkeypatch.chdir(tmp_path)
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = output_dir(parse_config([]), now)
    (first / "results.json").write_text("{}")
    second = output_dir(parse_config([]), now)
    assert first == Path("out/run-20260102-030405") and second != first
    assert second.name == "run-20260102-030405-2"
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "results.json").write_text("keep me")
    assert main([*FAST, "--backend", "plain", "--out", str(taken)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (taken / "results.json").read_text() == "keep me"
    assert main([*FAST, "--backend", "plain", "--out", str(taken), "--force"]) == 0
    assert json.loads((taken / "results.json").read_text())["backend"] == "plain"
    assert main([*FAST, "--force"]) == 2  # --force without --out


def test_quiet_prints_the_summary_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*FAST, "--backend", "plain", "--quiet", "--out", str(tmp_path / "q")]) == 0
    printed = capsys.readouterr().out
    assert "round" not in printed.splitlines()[0] and "acc %" not in printed
    assert "final accuracy" in printed and "results:" in printed


def test_log_level_reaches_secagg_loggers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*FAST, "--backend", "secagg", "--clip", "1e-6", "--log-level", "info",
            "--out", str(tmp_path / "l")]
    assert main(argv) == 0
    assert "coordinates clipped" in capsys.readouterr().err


def test_no_progress_bar_off_a_terminal(tmp_path: Path) -> None:
    # stdout and stderr are pipes here: the bar must not appear in either.
    done = subprocess.run(
        [sys.executable, "-m", "fl", *FAST[:-1], "--backend", "plain", "--out",
         str(tmp_path / "p")],
        cwd=REPO, capture_output=True, text=True, check=True,
    )
    assert "round/s" not in done.stderr and "it/s" not in done.stderr and "\r" not in done.stderr
