"""Local training on one client, and evaluation on the held-out test set.

A client starts from the global model, runs ``epochs`` of minibatch SGD on its own data
and returns the difference (local - global) as a flat float32 vector: the update that
the aggregation protects.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from fl.flatten import flatten


@dataclass(frozen=True)
class LocalUpdate:
    """One client's contribution to a round."""

    delta: npt.NDArray[np.float32]  # local model - global model, flattened
    n_samples: int  # the FedAvg weight
    train_loss: float  # mean loss over the last local epoch


@dataclass(frozen=True)
class Evaluation:
    accuracy: float  # fraction in [0, 1]
    loss: float  # mean cross-entropy


def local_update(
    global_model: nn.Module,
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.int64],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> LocalUpdate:
    """Train a copy of ``global_model`` on (x, y) with SGD and return the delta.

    ``seed`` fixes the batch order, so a client given the same model and seed produces
    the same update (what lets ``--compare`` run two backends on identical work).
    """
    model = copy.deepcopy(global_model)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    n = len(ys)
    last_loss = float("nan")
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        total, seen = 0.0, 0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xs[idx]), ys[idx])
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        last_loss = total / seen
    delta = flatten(model, include_buffers=False) - flatten(global_model, include_buffers=False)
    return LocalUpdate(delta=delta, n_samples=n, train_loss=last_loss)


def evaluate(
    model: nn.Module, x: npt.NDArray[np.float32], y: npt.NDArray[np.int64]
) -> Evaluation:
    """Accuracy and mean cross-entropy of ``model`` on (x, y)."""
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x))
        target = torch.from_numpy(y)
        loss = float(F.cross_entropy(logits, target))
        accuracy = float((logits.argmax(dim=1) == target).float().mean())
    return Evaluation(accuracy=accuracy, loss=loss)


def local_update_from(
    global_model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    *,
    epochs: int,
    lr: float,
) -> LocalUpdate:
    """:func:`local_update` for your own data: ``batches`` (re-iterable, e.g. a torch
    DataLoader; not a generator, which would be empty from the second epoch) is
    iterated once per epoch and yields (inputs, integer labels); the sample count (the
    FedAvg weight) is the number of labels seen in one epoch. Raises ValueError for
    a loader that yields nothing."""
    model = copy.deepcopy(global_model)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    last_loss, n = float("nan"), 0
    for _ in range(epochs):
        total, seen = 0.0, 0
        for xb, yb in batches:
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach()) * len(yb)
            seen += len(yb)
        if seen == 0:
            raise ValueError("a client's data loader yielded no batch")
        last_loss, n = total / seen, seen
    delta = flatten(model, include_buffers=False) - flatten(global_model, include_buffers=False)
    return LocalUpdate(delta=delta, n_samples=n, train_loss=last_loss)


def evaluate_on(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]
) -> Evaluation:
    """:func:`evaluate` over your own test loader (weighted by batch size)."""
    model.eval()
    correct, total_loss, seen = 0, 0.0, 0
    with torch.no_grad():
        for xb, yb in batches:
            logits = model(xb)
            total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(dim=1) == yb).sum())
            seen += len(yb)
    if seen == 0:
        raise ValueError("the test loader yielded no batch")
    return Evaluation(accuracy=correct / seen, loss=total_loss / seen)
