"""A small Flower app for the secagg.flower tests: each node's update is known, so the
aggregate FedAvg receives can be checked against the plain weighted mean."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt
import pytest

pytest.importorskip("flwr")

from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict  # noqa: E402
from flwr.clientapp import ClientApp  # noqa: E402

from secagg.flower import InProcessGrid, secagg_mod  # noqa: E402
from secagg.flower.grid import FIRST_NODE_ID  # noqa: E402
from secagg.flower.records import PAYLOAD_KEY  # noqa: E402

SHAPES = {"w": (4, 5), "b": (5,)}
DIM = 25
CLIP = 0.5


def update_of(partition: int) -> npt.NDArray[np.float64]:
    """The model update node ``partition`` computes (inside the clip)."""
    return np.random.default_rng(partition).uniform(-CLIP / 2, CLIP / 2, DIM)


def weight_of(partition: int) -> int:
    return 3 * partition + 1


def initial_model() -> ArrayRecord:
    rng = np.random.default_rng(99)
    return ArrayRecord(
        {name: Array(rng.normal(0, 1, shape).astype(np.float32)) for name, shape in SHAPES.items()}
    )


def model_content() -> RecordDict:
    return RecordDict({"arrays": initial_model(), "config": ConfigRecord({"lr": 0.1})})


def _split(vector: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[np.float64]]:
    out, start = {}, 0
    for name, shape in SHAPES.items():
        size = int(np.prod(shape))
        out[name] = vector[start : start + size].reshape(shape)
        start += size
    return out


def make_app() -> ClientApp:
    """A Message-API ClientApp with secagg_mod: adds its known update to the model."""
    app = ClientApp(mods=[secagg_mod])

    @app.train()
    def train(msg: Message, context) -> Message:  # noqa: ANN001
        partition = int(context.node_config["partition-id"])
        received = msg.content["arrays"]
        step = _split(update_of(partition))
        new = {
            name: Array((received[name].numpy().astype(np.float64) + step[name]).astype(np.float32))
            for name in SHAPES
        }
        metrics = MetricRecord({"num-examples": weight_of(partition), "loss": 0.25})
        return Message(RecordDict({"arrays": ArrayRecord(new), "metrics": metrics}), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context) -> Message:  # noqa: ANN001
        del context
        metrics = MetricRecord({"num-examples": 1, "accuracy": 0.5})
        return Message(RecordDict({"metrics": metrics}), reply_to=msg)

    return app


def expected_mean(partitions: Iterable[int]) -> npt.NDArray[np.float64]:
    """The plain weighted mean of these nodes' updates (float32 model arithmetic aside)."""
    parts = list(partitions)
    weights = np.array([weight_of(p) for p in parts], dtype=np.float64)
    updates = np.stack([update_of(p) for p in parts])
    return (weights[:, None] * updates).sum(axis=0) / weights.sum()


def partition(node: int) -> int:
    return node - FIRST_NODE_ID


class StageDropper:
    """Takes a node offline when it is sent the ``stage``-th message of the round
    (0: training, 1: the first protocol step, ...)."""

    def __init__(self, node: int, stage: int) -> None:
        self.node, self.stage, self.seen = node, stage, 0

    def __call__(self, grid: InProcessGrid, message: Message) -> None:
        if message.metadata.dst_node_id != self.node:
            return
        if self.seen == self.stage:
            grid.offline.add(self.node)
        self.seen += 1


def garbling(node: int, at: int) -> Callable[[InProcessGrid, Message], None]:
    """A hook that makes ``node`` answer its ``at``-th message with flipped payload bytes,
    by wrapping the node's ClientApp call."""
    state = {"seen": 0}

    def hook(grid: InProcessGrid, message: Message) -> None:
        if message.metadata.dst_node_id != node:
            return
        state["seen"] += 1
        if state["seen"] - 1 != at:
            return
        original = grid.client_app

        def corrupt(msg: Message, context) -> Message:  # noqa: ANN001
            grid.client_app = original
            reply = original(msg, context)
            if reply.has_content() and PAYLOAD_KEY in reply.content.config_records:
                data = reply.content.config_records[PAYLOAD_KEY]["data"]
                assert isinstance(data, bytes)
                reply.content.config_records[PAYLOAD_KEY]["data"] = data[:40] + bytes(
                    b ^ 0xFF for b in data[40:80]
                ) + data[80:]
            return reply

        grid.client_app = corrupt  # type: ignore[assignment]

    return hook


@pytest.fixture
def app() -> ClientApp:
    return make_app()


def grid_of(n: int, hook=None) -> InProcessGrid:  # noqa: ANN001
    return InProcessGrid(make_app(), [{"partition-id": i} for i in range(n)], before_push=hook)
