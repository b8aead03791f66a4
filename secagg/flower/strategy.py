"""Flower strategies and workflows whose training rounds aggregate securely.

- :class:`SecureFedAvg`: Flower's Message-API ``FedAvg`` (``strategy.start(grid=...)``)
  with each round's training aggregated by :class:`~secagg.flower.server.SecureRound`.
- :class:`SecAggWorkflow`: the ``fit_workflow`` of a legacy ``DefaultWorkflow`` app
  (the style Flower's own ``SecAggPlusWorkflow`` uses), with any legacy strategy.

Both hand FedAvg the dequantized weighted mean of the survivors' updates added to the
global model, and skip a round cleanly (the model unchanged) when it aborts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.compat.common import recorddict_compat as compat
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg

from secagg.errors import ConfigurationError
from secagg.flower.records import model_arrays
from secagg.flower.server import RoundReport, SecAggSettings, SecureRound, updated_arrays

log = logging.getLogger(__name__)


def report_metrics(report: RoundReport) -> MetricRecord:
    """What a round tells FedAvg's history: totals only, nothing per node."""
    return MetricRecord(
        {
            "num-examples": report.total_weight,
            "secagg-survivors": len(report.survivors),
            "secagg-dropped": len(report.dropped),
            "secagg-server-cpu-s": report.server_cpu_s,
            "secagg-bytes-up": report.bytes_up,
            "secagg-bytes-down": report.bytes_down,
        }
    )


class SecureFedAvg(FedAvg):
    """FedAvg whose training aggregate comes from secure aggregation.

    ``settings`` picks the protocol and its parameters; every other argument is
    FedAvg's. ``start(timeout=...)`` bounds the training stage; ``settings.stage_timeout``
    each protocol stage after it. ``reports`` keeps each round's :class:`RoundReport`.
    """

    def __init__(self, settings: SecAggSettings | None = None, **fedavg: Any) -> None:
        super().__init__(**fedavg)
        self.settings = settings if settings is not None else SecAggSettings()
        self.reports: list[RoundReport] = []
        self._pending: tuple[Grid, SecureRound, list[Message], ArrayRecord] | None = None

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        sampled = list(super().configure_train(server_round, arrays, config, grid))
        if not sampled:
            return []
        nodes = [m.metadata.dst_node_id for m in sampled]
        layout, _ = model_arrays(sampled[0].content)
        secure = SecureRound(self.settings, nodes, layout.dim, server_round)
        messages = secure.training_messages(sampled[0].content)
        self._pending = (grid, secure, messages, arrays)
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        if self._pending is None:
            return None, None
        grid, secure, messages, arrays = self._pending
        self._pending = None
        secure.take_replies(messages, replies)
        report = secure.finish(grid)
        self.reports.append(report)
        if report.mean_update is None:
            return None, None
        names = list(arrays.keys())
        current = [arrays[name].numpy() for name in names]
        new = updated_arrays(current, report.mean_update)
        record = ArrayRecord({name: Array(value) for name, value in zip(names, new, strict=True)})
        return record, report_metrics(report)


class SecAggWorkflow:
    """The fit workflow of a legacy ``DefaultWorkflow``:
    ``DefaultWorkflow(fit_workflow=SecAggWorkflow(settings))``.

    Samples with the legacy strategy's ``configure_fit``, runs one secure round and
    passes the new parameters to ``aggregate_fit`` (as identical results of the
    survivors, the way Flower's own SecAgg+ workflow does). ``reports`` keeps each
    round's :class:`RoundReport`.
    """

    def __init__(self, settings: SecAggSettings | None = None) -> None:
        self.settings = settings if settings is not None else SecAggSettings()
        self.reports: list[RoundReport] = []

    def __call__(self, grid: Grid, context: LegacyContext) -> None:
        if not isinstance(context, LegacyContext):
            raise ConfigurationError("SecAggWorkflow runs inside a legacy DefaultWorkflow")
        current_round = context.state.config_records[MAIN_CONFIGS_RECORD][WorkflowKey.CURRENT_ROUND]
        if isinstance(current_round, bool) or not isinstance(current_round, int):
            raise ConfigurationError("the workflow state holds no current round")
        parameters = compat.arrayrecord_to_parameters(
            context.state.array_records[MAIN_PARAMS_RECORD], keep_input=True
        )
        sampled = context.strategy.configure_fit(current_round, parameters, context.client_manager)
        if not sampled:
            log.info("secagg: no clients sampled in round %s", current_round)
            return
        proxies = {proxy.node_id: proxy for proxy, _ in sampled}
        contents = {proxy.node_id: compat.fitins_to_recorddict(ins, True) for proxy, ins in sampled}
        current = parameters_to_ndarrays(parameters)
        dim = sum(int(a.size) for a in current)
        secure = SecureRound(self.settings, list(proxies), dim, current_round)
        report = secure.run(grid, contents)
        self.reports.append(report)
        if report.mean_update is None:
            return
        new = ndarrays_to_parameters(updated_arrays(current, report.mean_update))
        results = [
            (proxies[node], FitRes(Status(Code.OK, ""), new, 1, {})) for node in report.survivors
        ]
        failures: list[tuple[ClientProxy, FitRes] | BaseException] = [
            ConnectionError(f"node {node}: {why}") for node, why in report.dropped.items()
        ]
        aggregated, metrics = context.strategy.aggregate_fit(current_round, results, failures)
        if aggregated is not None:
            context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
                aggregated, True
            )
            ours = {
                key: value
                for key, value in report_metrics(report).items()
                if isinstance(value, int | float)
            }
            context.history.add_metrics_distributed_fit(
                server_round=current_round, metrics={**metrics, **ours}
            )
