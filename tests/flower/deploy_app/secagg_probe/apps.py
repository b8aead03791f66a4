"""ClientApp and ServerApp of the probe: one SecAgg+ round, the mean written as JSON.

Node ``partition-id`` i adds ``update(i)`` to the model and reports weight ``i + 1``;
the deployment test compares the mean the ServerApp got with the plain weighted mean.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp

from secagg.flower import SecAggSettings, secagg_mod
from secagg.flower.strategy import SecureFedAvg

DIM = 1000
CLIP = 0.5

client = ClientApp(mods=[secagg_mod])
server = ServerApp()


def update(partition: int) -> np.ndarray:
    return np.random.default_rng(partition).uniform(-CLIP / 2, CLIP / 2, DIM)


@client.train()
def train(msg: Message, context: Context) -> Message:
    partition = int(context.node_config["partition-id"])
    w = msg.content.array_records["arrays"]["w"].numpy().astype(np.float64) + update(partition)
    reply = RecordDict(
        {
            "arrays": ArrayRecord({"w": Array(w.astype(np.float32))}),
            "metrics": MetricRecord({"num-examples": partition + 1}),
        }
    )
    return Message(reply, reply_to=msg)


@server.main()
def main(grid: Grid, context: Context) -> None:
    nodes = int(context.run_config["nodes"])
    strategy = SecureFedAvg(
        SecAggSettings(backend="secagg+", clip=CLIP, stage_timeout=60.0),
        min_train_nodes=nodes,
        min_available_nodes=nodes,
        fraction_evaluate=0.0,
    )
    start = ArrayRecord({"w": Array(np.zeros(DIM, np.float32))})
    result = strategy.start(grid=grid, initial_arrays=start, num_rounds=1, timeout=120.0)
    report = strategy.reports[0]
    mean = result.arrays["w"].numpy() if report.mean_update is not None else None
    out = {
        "survivors": len(report.survivors),
        "aborted": report.aborted,
        "total_weight": report.total_weight,
        "mean": None if mean is None else mean.astype(float).tolist(),
    }
    Path(str(context.run_config["results"])).write_text(json.dumps(out), encoding="utf-8")
