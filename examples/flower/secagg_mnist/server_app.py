"""The ServerApp: Flower's FedAvg with secure aggregation (SecureFedAvg).

Every round the sampled nodes train, then secagg's protocol aggregates their updates;
the ServerApp only ever sees the weighted mean. The global model is evaluated on the
held-out test set after each round; with ``results`` set in the run config, a JSON
report is written there after every round (accuracy, survivors, dropped nodes, crypto
cost).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from flwr.app import ArrayRecord, ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp

from secagg.flower import SecAggSettings
from secagg.flower.strategy import SecureFedAvg
from secagg_mnist.task import new_model, test_accuracy

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = context.run_config
    rounds = int(config["num-server-rounds"])
    settings = SecAggSettings(
        backend=str(config["backend"]),
        clip=float(config["clip"]),
        bits=int(config["bits"]),
        stage_timeout=float(config["stage-timeout"]),
    )
    min_nodes = int(config["min-nodes"])
    strategy = SecureFedAvg(
        settings,
        fraction_train=1.0,
        fraction_evaluate=0.0,
        min_train_nodes=min_nodes,
        min_available_nodes=min_nodes,
    )
    out = Path(str(config["results"])) if config["results"] else None
    kind = str(config["model"])
    started = time.monotonic()
    history: list[dict[str, object]] = []

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model = new_model(kind)
        model.load_state_dict(arrays.to_torch_state_dict())
        result = test_accuracy(model)
        entry: dict[str, object] = {
            "round": server_round,
            "accuracy": result.accuracy,
            "loss": result.loss,
            "elapsed_s": time.monotonic() - started,
        }
        if server_round > 0 and len(strategy.reports) >= server_round:
            report = strategy.reports[server_round - 1]
            entry.update(
                survivors=len(report.survivors),
                dropped={str(node): why for node, why in report.dropped.items()},
                aborted=report.aborted,
                server_cpu_s=report.server_cpu_s,
                bytes_up=report.bytes_up,
                bytes_down=report.bytes_down,
                stage_wall_s=report.stage_wall_s,
            )
        history.append(entry)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            report_json = {"backend": str(config["backend"]), "rounds": history}
            out.write_text(json.dumps(report_json, indent=1) + "\n", encoding="utf-8")
        return MetricRecord({"accuracy": result.accuracy, "loss": result.loss})

    initial = ArrayRecord(new_model(kind).state_dict())
    strategy.start(
        grid=grid,
        initial_arrays=initial,
        num_rounds=rounds,
        timeout=float(config["train-timeout"]),
        train_config=ConfigRecord({}),
        evaluate_fn=evaluate,
    )
