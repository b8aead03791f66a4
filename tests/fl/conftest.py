"""Shared fixtures: the digits data (loaded once), a small-run config factory and a
deterministic entropy factory."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from fl.config import FLConfig
from fl.data import Dataset, load_dataset

EntropyFactory = Callable[[int], Callable[[int], bytes]]
ConfigFactory = Callable[..., FLConfig]


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset("digits", test_fraction=0.2, seed=0)


@pytest.fixture
def make_entropy() -> EntropyFactory:
    """Seeded, reproducible bytes for the protocols' randomness (tests only)."""

    def factory(seed: int) -> Callable[[int], bytes]:
        counter = itertools.count()

        def entropy(n: int) -> bytes:
            return hashlib.shake_256(f"fl-tests:{seed}:{next(counter)}".encode()).digest(n)

        return entropy

    return factory


@pytest.fixture
def make_config() -> ConfigFactory:
    """A digits run of a few rounds that takes well under a second per round."""

    def factory(**overrides: Any) -> FLConfig:
        settings: dict[str, Any] = {
            "dataset": "digits",
            "backend": "plain",
            "rounds": 4,
            "clients": 10,
            "clients_per_round": 5,
            "model": "mlp",
            "local_epochs": 2,
            "batch_size": 16,
            "dropout": 0.0,
            "progress": False,
            "lr": 0.1,
        }
        settings.update(overrides)
        return FLConfig(**settings)

    return factory
