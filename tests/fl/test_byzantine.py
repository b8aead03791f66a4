"""Byzantine clients in the FedAvg job: attacks hurt plain FedAvg, robust rules bound
them, the robust secure mode reports its groups, and flags that cannot work are
refused."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest

from fl.__main__ import main
from fl.byzantine import (
    Attack,
    alie_z,
    flip_labels,
    forgeries,
    malicious_clients,
    poison,
    ring_forgery,
)
from fl.data import Dataset
from fl.errors import ConfigError
from fl.rounds import run_fedavg
from secagg.quantize import QuantizationConfig

BYZ = {"clients": 20, "clients_per_round": 10, "rounds": 6, "lr": 0.1}


def test_the_byzantine_set_is_fixed_by_the_seed() -> None:
    a = malicious_clients(50, 0.2, seed=3)
    assert len(a) == 10 and a == malicious_clients(50, 0.2, seed=3)
    assert a != malicious_clients(50, 0.2, seed=4)
    assert all(0 <= c < 50 for c in a)


def test_poisoned_updates() -> None:
    rng = np.random.default_rng(0)
    deltas = [rng.normal(size=8).astype(np.float32) for _ in range(10)]
    flipped = poison(Attack.SIGN_FLIP, deltas, [2], scale=100.0, seed=0)
    assert np.array_equal(flipped[2], -deltas[2])
    assert all(np.array_equal(flipped[i], deltas[i]) for i in range(10) if i != 2)
    scaled = poison(Attack.SCALE, deltas, [2, 5], scale=7.0, seed=0)
    assert np.allclose(scaled[5], 7.0 * deltas[5])
    alie = poison(Attack.ALIE, deltas, [0, 1], scale=1.0, seed=0)
    honest = np.stack(deltas[2:]).astype(np.float64)
    expected = honest.mean(axis=0) - alie_z(10, 2) * honest.std(axis=0)
    assert np.allclose(alie[0], expected, atol=1e-6) and np.array_equal(alie[0], alie[1])
    gauss = poison(Attack.GAUSSIAN, deltas, [3], scale=100.0, seed=0)
    assert np.std(gauss[3]) > 10 * honest.std(axis=0).mean()
    # label-flip and ring act in training and in the protocol, not on the update
    assert poison(Attack.LABEL_FLIP, deltas, [2], scale=1.0, seed=0)[2] is deltas[2]


def test_alie_z_follows_baruch_et_al() -> None:
    # n = 50, f = 12: s = 26 - 12 = 14, z = Phi^-1(36 / 50) ~ 0.583
    assert alie_z(50, 12) == pytest.approx(statistics.NormalDist().inv_cdf(36 / 50))
    assert alie_z(3, 0) == pytest.approx(statistics.NormalDist().inv_cdf(1 / 3))


def test_label_flip_and_ring_forgery() -> None:
    assert flip_labels(np.array([0, 3, 9]), 10).tolist() == [9, 6, 0]
    q = QuantizationConfig(max_clients=10, max_weight=5)
    honest = np.array([1, 2, 3, 4], dtype=np.uint32)
    forged = ring_forgery(honest, q)
    v = int(forged[0])
    assert forged[:-1].tolist() == [v] * 3 and forged[-1] == 4
    ring = 1 << q.k
    # however many forgers meet in one sum, their total stays away from 0 mod 2^k
    assert all(min(m * v % ring, ring - m * v % ring) > ring // 40 for m in range(1, 13))
    assert set(forgeries(Attack.RING, [1, 4])) == {1, 4}
    assert forgeries(Attack.SCALE, [1, 4]) == {}


def test_attacks_hurt_plain_fedavg_and_median_bounds_them(digits: Dataset, make_config) -> None:
    clean = run_fedavg(make_config(**BYZ), dataset=digits).final_accuracy
    for attack in ("scale", "gaussian"):
        hurt = run_fedavg(make_config(**BYZ, byzantine=0.2, attack=attack), dataset=digits)
        assert hurt.final_accuracy < clean - 0.3, (attack, clean, hurt.final_accuracy)
        assert sum(len(r.byzantine) for r in hurt.rounds) > 0
        robust = run_fedavg(
            make_config(**BYZ, byzantine=0.2, attack=attack, robust="median"), dataset=digits
        )
        assert robust.final_accuracy > clean - 0.15, (attack, clean, robust.final_accuracy)


def test_sign_flip_at_forty_percent_hurts(digits: Dataset, make_config) -> None:
    clean = run_fedavg(make_config(**BYZ), dataset=digits).final_accuracy
    hurt = run_fedavg(make_config(**BYZ, byzantine=0.4, attack="sign-flip"), dataset=digits)
    assert hurt.final_accuracy < clean - 0.1


def test_robust_secure_mode_reports_groups_and_tracks_the_clear_rule(
    digits: Dataset, make_config
) -> None:
    settings = {**BYZ, "clients": 24, "clients_per_round": 12, "rounds": 3,
                "byzantine": 0.2, "attack": "sign-flip", "robust": "median", "groups": 4}
    secure = run_fedavg(make_config(**settings, backend="secagg"), dataset=digits)
    clear = run_fedavg(make_config(**settings, backend="plain"), dataset=digits)
    for s, c in zip(secure.rounds, clear.rounds, strict=True):
        assert s.robust is not None and s.robust["groups"] == 4
        assert s.robust["group_sizes"] == [3, 3, 3, 3] and s.robust["inputs"] == 4
        assert "4 group sums" in s.robust["server_learns"]
        assert s.byzantine == c.byzantine
    # Same groups and updates (none beyond the clip): the secure median of group means
    # differs from the clear one by quantization only.
    assert all(r.clipped == 0 for r in secure.rounds)
    assert abs(secure.final_accuracy - clear.final_accuracy) < 0.02


def test_ring_attack_needs_a_ring_and_is_caught_or_outvoted(digits: Dataset, make_config) -> None:
    with pytest.raises(ConfigError, match="secure backend"):
        make_config(byzantine=0.2, attack="ring")
    settings = {**BYZ, "clients": 24, "clients_per_round": 12, "rounds": 3,
                "byzantine": 0.2, "attack": "ring", "backend": "secagg"}
    bare = run_fedavg(make_config(**settings), dataset=digits)
    grouped = run_fedavg(make_config(**settings, robust="median", groups=4), dataset=digits)
    hit = [r for r in bare.rounds if r.byzantine]
    assert hit
    # Without groups a forged sum either fails the range check (the round is skipped)
    # or lands far from the plain mean.
    assert all(r.skipped or r.max_error_vs_plain > 0.05 for r in hit)
    assert not any(r.skipped for r in grouped.rounds)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--byzantine", "0.2"], "go together"),
        (["--attack", "scale"], "go together"),
        (["--byzantine", "1.5", "--attack", "scale"], "fraction"),
        (["--byzantine", "0.2", "--attack", "sign-flip", "--attack-scale", "3"],
         "scale and gaussian"),
        (["--groups", "3"], "--robust only"),
        (["--norm-bound", "1"], "--robust only"),
        (["--robust-fraction", "0.3"], "--robust only"),
        (["--robust", "median", "--backend", "secagg"], "needs --groups"),
        (["--robust", "median", "--backend", "secagg", "--groups", "5"], "group of 2"),
        (["--robust", "multi-krum", "--backend", "secagg", "--groups", "2"], "at least 3"),
        (["--robust", "median", "--robust-fraction", "0.5"], "robust_fraction"),
        (["--robust", "median", "--norm-bound", "2"], "norm-bound only"),
        (["--robust", "median", "--dp", "ddg", "--noise-multiplier", "1", "--backend",
          "secagg", "--groups", "2"], "--dp"),
        (["--byzantine", "0.2", "--attack", "ring", "--backend", "plain"], "secure backend"),
    ],
)
def test_flags_that_cannot_work_are_refused(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*flags, "--dataset", "digits", "--rounds", "1", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert not (tmp_path / "results.json").exists()


def test_cli_table_and_json_show_the_attack_and_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([
        "--dataset", "digits", "--model", "mlp", "--rounds", "2", "--clients", "24",
        "--clients-per-round", "12", "--backend", "secagg", "--byzantine", "0.25",
        "--attack", "sign-flip", "--robust", "trimmed-mean", "--groups", "4",
        "--robust-fraction", "0.25",
        "--dropout", "0", "--no-progress", "--out", str(tmp_path),
    ])
    assert code == 0
    out = capsys.readouterr().out
    assert "byz" in out and "robust rule" in out and "4/4 groups" in out
    assert "the server learns 4 group sums per round" in out
    doc = json.loads((tmp_path / "results.json").read_text())
    summary = doc["robustness"]
    assert summary["attack"] == "sign-flip" and summary["rule"] == "trimmed-mean"
    assert summary["groups"] == 4 and "4 group sums" in summary["server_learns"]
    assert all(r["robust"]["groups"] == 4 for r in doc["rounds"])


def test_the_clear_rule_reports_rejections_as_client_ids(digits: Dataset, make_config) -> None:
    run = run_fedavg(make_config(**BYZ, byzantine=0.2, attack="scale", robust="multi-krum",
                                 robust_fraction=0.3), dataset=digits)
    rejected = [c for r in run.rounds if r.robust for c in r.robust["rejected"]]
    assert rejected
    for r in run.rounds:
        if r.robust:
            assert set(r.robust["rejected"]) <= set(r.sampled)
    # the scaled Byzantine updates are what Multi-Krum leaves out
    byz = {c for r in run.rounds for c in r.byzantine}
    assert byz and byz <= set(rejected)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--delta", "1e-3"], "delta applies"),
        (["--robust", "median", "--robust-fraction", "0.3"], "trimmed-mean and multi-krum"),
        (["--backend", "secagg", "--robust", "trimmed-mean", "--groups", "3"],
         "withstands no Byzantine input"),
        (["--backend", "paillier", "--robust", "median", "--groups", "5"], "at least 3"),
        (["--backend", "secagg+", "--clients", "20", "--clients-per-round", "20",
          "--dropout", "0.1", "--threshold", "6"], "threshold"),
    ],
)
def test_more_flags_that_cannot_work_are_refused_before_anything_prints(
    flags: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*flags, "--dataset", "digits", "--rounds", "1", "--out", str(tmp_path / "x")])
    assert code == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
    assert not (tmp_path / "x").exists()
