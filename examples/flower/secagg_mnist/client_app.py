"""The ClientApp: plain Flower Message API training, with secagg_mod added.

The mod does everything secure aggregation needs: it lets ``train`` run, turns the
trained model into a quantized update, and answers the protocol's stages. The model and
the metrics returned here never leave the node.
"""

from __future__ import annotations

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from secagg.flower import secagg_mod
from secagg_mnist.task import new_model, train

app = ClientApp(mods=[secagg_mod])


@app.train()
def fit(msg: Message, context: Context) -> Message:
    model = new_model(str(context.run_config["model"]))
    model.load_state_dict(msg.content.array_records["arrays"].to_torch_state_dict())
    examples = train(
        model,
        int(context.node_config["partition-id"]),
        int(context.node_config["num-partitions"]),
        dict(context.run_config),
    )
    reply = RecordDict(
        {
            "arrays": ArrayRecord(model.state_dict()),
            "metrics": MetricRecord({"num-examples": examples}),
        }
    )
    return Message(reply, reply_to=msg)
