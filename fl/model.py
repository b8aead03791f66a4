"""The small models FedAvg trains here: a two-block CNN and a one-hidden-layer MLP.

Both are kept small on purpose: every parameter is one coordinate that each client
quantizes, masks or encrypts every round, so the model size is the crypto cost.
"""

from __future__ import annotations

import torch
from torch import nn

MODELS = ("cnn", "mlp")


class SmallCNN(nn.Module):
    """conv(8) - pool - conv(16) - pool - fc(32) - fc(classes); no batch norm, so the
    model has no buffers and FedAvg averages parameters only."""

    def __init__(self, image_shape: tuple[int, int, int], n_classes: int) -> None:
        super().__init__()
        channels, height, width = image_shape
        self.features = nn.Sequential(
            nn.Conv2d(channels, 8, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        flat = 16 * (height // 4) * (width // 4)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, 32), nn.ReLU(), nn.Linear(32, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.classifier(self.features(x))
        return out


class MLP(nn.Module):
    """flatten - fc(64) - fc(classes)."""

    def __init__(self, image_shape: tuple[int, int, int], n_classes: int) -> None:
        super().__init__()
        channels, height, width = image_shape
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * height * width, 64), nn.ReLU(),
            nn.Linear(64, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


def build_model(
    kind: str, image_shape: tuple[int, int, int], n_classes: int, *, seed: int
) -> nn.Module:
    """A freshly initialised ``kind`` model; the same seed gives the same weights."""
    # A private generator state: the initial weights depend on ``seed`` only, not on
    # whatever ran before in this process.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "cnn":
            return SmallCNN(image_shape, n_classes)
        if kind == "mlp":
            return MLP(image_shape, n_classes)
    raise ValueError(f"unknown model {kind!r}; choose one of {', '.join(MODELS)}")
