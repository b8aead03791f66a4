"""The FedAvg loop on the digits data: it learns, secure backends track plain, NaN clients
and dropouts are handled, and rounds with too few survivors are skipped."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from fl.aggregator import SecureAggregator
from fl.data import Dataset
from fl.rounds import RunResult, run_fedavg

TOLERANCE_PP = 0.5


def _acc(run: RunResult) -> list[float]:
    return [r.accuracy for r in run.rounds]


def test_accuracy_improves_over_rounds(digits: Dataset, make_config) -> None:
    run = run_fedavg(make_config(rounds=6), dataset=digits)
    assert run.initial.accuracy < 0.2  # ten classes, untrained
    assert run.rounds[-1].accuracy > 0.8
    assert run.rounds[-1].loss < run.rounds[0].loss
    assert all(0.0 <= a <= 1.0 for a in _acc(run))


@pytest.mark.parametrize("backend", ["secagg", "secagg+"])
def test_secure_backend_tracks_plain(
    digits: Dataset, make_config, make_entropy, backend: str
) -> None:
    config = make_config(rounds=6, dropout=0.1, clients=20, clients_per_round=10)
    plain = run_fedavg(config, dataset=digits)
    secure = run_fedavg(
        config, dataset=digits, aggregator=SecureAggregator(backend, clip=0.5,
                                                            entropy=make_entropy(0))
    )
    # Same clients and dropouts every round: the seed fixes everything but the crypto.
    assert [r.sampled for r in plain.rounds] == [r.sampled for r in secure.rounds]
    assert [r.dropped for r in plain.rounds] == [r.dropped for r in secure.rounds]
    assert not any(r.skipped for r in secure.rounds)
    for r in secure.rounds:
        assert r.max_error_vs_plain <= r.quantization_bound
        assert r.client_crypto_ms > 0 and r.server_crypto_ms > 0 and r.overhead > 1
    gap_pp = 100 * abs(secure.final_accuracy - plain.final_accuracy)
    assert gap_pp <= TOLERANCE_PP, (_acc(plain), _acc(secure))


@pytest.mark.slow
def test_paillier_tracks_plain(digits: Dataset, make_config, make_entropy) -> None:
    config = make_config(rounds=4, dropout=0.1, clients=20, clients_per_round=10)
    plain = run_fedavg(config, dataset=digits)
    secure = run_fedavg(
        config, dataset=digits, aggregator=SecureAggregator("paillier", clip=0.5,
                                                            entropy=make_entropy(0))
    )
    assert 100 * abs(secure.final_accuracy - plain.final_accuracy) <= TOLERANCE_PP


def test_non_finite_client_is_excluded_and_nothing_else_changes(
    digits: Dataset, make_config, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(rounds=3)
    clean = run_fedavg(config, dataset=digits)
    victim = clean.rounds[1].sampled[2]

    def poison(round_number: int, client: int, delta: np.ndarray) -> np.ndarray:
        if round_number == 2 and client == victim:
            delta = delta.copy()
            delta[::7] = np.nan
        return delta

    with caplog.at_level(logging.WARNING, logger="fl"):
        run = run_fedavg(config, dataset=digits, update_hook=poison)
    bad = run.rounds[1]
    assert list(bad.excluded) == [victim]
    assert "NaN/Inf" in bad.excluded[victim]
    assert victim in bad.dropped
    assert bad.survivors == config.clients_per_round - 1
    assert not bad.skipped
    assert f"round 2: client {bad.sampled.index(victim)} excluded" in caplog.text
    assert np.isfinite(bad.loss)
    # the round before is untouched; the others still aggregate normally
    first, first_clean = run.rounds[0], clean.rounds[0]
    assert (first.accuracy, first.loss, first.survivors) == (
        first_clean.accuracy, first_clean.loss, first_clean.survivors
    )
    assert all(not r.excluded for r in (run.rounds[0], run.rounds[2]))
    assert run.rounds[2].survivors == config.clients_per_round


def test_round_with_too_few_survivors_is_skipped(
    digits: Dataset, make_config, make_entropy, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(rounds=4, dropout=0.7, dropout_stage="upload")
    with caplog.at_level(logging.WARNING, logger="fl"):
        run = run_fedavg(
            config, dataset=digits,
            aggregator=SecureAggregator("secagg+", clip=0.5, entropy=make_entropy(1)),
        )
    skipped = [r for r in run.rounds if r.skipped]
    assert skipped, "dropout 0.7 of 5 clients should abort at least one round"
    for r in skipped:
        assert f"round {r.round} skipped" in caplog.text
        before = run.rounds[r.round - 2] if r.round > 1 else None
        want = run.initial.accuracy if before is None else before.accuracy
        assert r.accuracy == want  # the model did not move
        assert r.client_crypto_ms == 0.0


def test_skip_rounds_keeps_the_model(digits: Dataset, make_config) -> None:
    run = run_fedavg(make_config(rounds=3), dataset=digits, skip_rounds={2})
    assert [r.skipped for r in run.rounds] == [False, True, False]
    assert run.rounds[1].accuracy == run.rounds[0].accuracy


def test_insecure_seed_makes_a_secure_run_reproducible_and_warns(
    digits: Dataset, make_config
) -> None:
    from secagg.errors import InsecureEntropyWarning

    config = make_config(rounds=2, backend="secagg+", insecure_seed=11)
    with pytest.warns(InsecureEntropyWarning):
        first = run_fedavg(config, dataset=digits)
    with pytest.warns(InsecureEntropyWarning):
        second = run_fedavg(config, dataset=digits)
    assert [r.accuracy for r in first.rounds] == [r.accuracy for r in second.rounds]
    assert [r.loss for r in first.rounds] == [r.loss for r in second.rounds]


def test_without_the_insecure_seed_no_warning_is_raised(digits: Dataset, make_config) -> None:
    import warnings

    from secagg.errors import InsecureEntropyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", InsecureEntropyWarning)
        run_fedavg(make_config(rounds=1, backend="secagg+"), dataset=digits)


def test_your_own_model_and_loaders(digits: Dataset, make_config) -> None:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from fl.errors import ConfigError

    x = torch.from_numpy(digits.train_x.reshape(len(digits.train_x), -1))
    y = torch.from_numpy(digits.train_y)
    parts = np.array_split(np.arange(len(y)), 6)
    loaders = [DataLoader(TensorDataset(x[p], y[p]), batch_size=16, shuffle=False) for p in parts]
    test = DataLoader(TensorDataset(
        torch.from_numpy(digits.test_x.reshape(len(digits.test_x), -1)),
        torch.from_numpy(digits.test_y)), batch_size=64)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    config = make_config(clients=6, clients_per_round=4, rounds=5, backend="secagg")
    run = run_fedavg(config, model=model, client_loaders=loaders, test_loader=test)
    assert run.model is model  # trained in place and handed back
    assert run.final_accuracy > 0.7 > run.initial.accuracy
    counts = [r for r in run.rounds if not r.skipped]
    assert counts and all(r.survivors == 4 for r in counts)
    with pytest.raises(ConfigError, match="one loader per client"):
        run_fedavg(make_config(clients=5), model=model, client_loaders=loaders, test_loader=test)
    with pytest.raises(ConfigError, match="test_loader"):
        run_fedavg(config, model=model, client_loaders=loaders)


def test_save_model_writes_a_loadable_state_dict(tmp_path) -> None:  # noqa: ANN001
    import torch

    from fl.__main__ import main

    out = tmp_path / "m"
    assert main(["--dataset", "digits", "--model", "mlp", "--rounds", "1", "--clients", "6",
                 "--clients-per-round", "4", "--backend", "plain", "--save-model",
                 "--no-progress", "--out", str(out)]) == 0
    state = torch.load(out / "model.pt")
    assert all(isinstance(v, torch.Tensor) for v in state.values()) and state


def test_a_skipped_round_names_clients_by_their_job_ids(digits: Dataset, make_config) -> None:
    import re

    config = make_config(backend="secagg+", clients=10, clients_per_round=10, rounds=1,
                         dropout=0.6, neighbours=4, seed=3)
    run = run_fedavg(config, dataset=digits)
    (record,) = run.rounds
    assert record.skipped
    named = [int(m) for m in re.findall(r"\bclient (\d+)\b", record.skip_reason)]
    assert named and all(c in record.sampled for c in named)
    assert "position" not in record.skip_reason
