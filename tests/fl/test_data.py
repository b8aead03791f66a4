"""The offline datasets and the Dirichlet label split."""

from __future__ import annotations

import numpy as np
import pytest

from fl.data import MIN_CLIENT_SAMPLES, Dataset, dirichlet_partition, load_dataset
from fl.errors import ConfigError


def test_digits_split_is_stratified_and_disjoint(digits: Dataset) -> None:
    assert digits.image_shape == (1, 8, 8)
    assert digits.n_classes == 10
    assert len(digits.train_y) + len(digits.test_y) == 1797
    test_share = np.bincount(digits.test_y) / np.bincount(
        np.concatenate([digits.train_y, digits.test_y])
    )
    assert np.all(np.abs(test_share - 0.2) < 0.02)


def test_mnist_sample_ships_offline() -> None:
    data = load_dataset("mnist", test_fraction=0.2, seed=0)
    assert data.image_shape == (1, 28, 28)
    assert len(data.train_y) == 4000 and len(data.test_y) == 1000


@pytest.mark.parametrize("alpha", [0.1, 0.5, 100.0])
def test_partition_covers_every_sample_once(digits: Dataset, alpha: float) -> None:
    parts = dirichlet_partition(digits.train_y, 20, alpha, seed=3)
    joined = np.concatenate(parts)
    assert len(parts) == 20
    assert np.array_equal(np.sort(joined), np.arange(len(digits.train_y)))
    assert min(len(p) for p in parts) >= MIN_CLIENT_SAMPLES


def test_partition_is_seeded(digits: Dataset) -> None:
    a = dirichlet_partition(digits.train_y, 10, 0.5, seed=1)
    b = dirichlet_partition(digits.train_y, 10, 0.5, seed=1)
    c = dirichlet_partition(digits.train_y, 10, 0.5, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def _label_entropy(labels: np.ndarray, parts: list[np.ndarray]) -> float:
    """Mean entropy (bits) of the label distribution of each client."""
    out = []
    for p in parts:
        freq = np.bincount(labels[p], minlength=10) / len(p)
        freq = freq[freq > 0]
        out.append(float(-(freq * np.log2(freq)).sum()))
    return float(np.mean(out))


def test_small_alpha_is_non_iid(digits: Dataset) -> None:
    skewed = _label_entropy(digits.train_y, dirichlet_partition(digits.train_y, 10, 0.1, 0))
    iid = _label_entropy(digits.train_y, dirichlet_partition(digits.train_y, 10, 100.0, 0))
    assert skewed < 2.0 < iid  # log2(10) = 3.32 is perfectly balanced


def test_impossible_partition_is_a_config_error(digits: Dataset) -> None:
    with pytest.raises(ConfigError, match="cannot give"):
        dirichlet_partition(digits.train_y, 1000, 0.5, seed=0)
    with pytest.raises(ConfigError, match="alpha"):
        dirichlet_partition(digits.train_y, 10, 0.0, seed=0)
