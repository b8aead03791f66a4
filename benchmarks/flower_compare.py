"""Our SecAgg+ against Flower's SecAgg+ in the same Flower engine::

    python -m benchmarks flower [--quick] [--reps N] [--out PATH]

Both systems run one FedAvg round of the same legacy app in the same in-process Flower
engine (:class:`benchmarks.flower_secaggplus.MeteredGrid`, i.e. secagg's
``InProcessGrid`` with every message serialized by Flower's own codec and metered):

- ``ours``: ``ClientApp(client_fn, mods=[secagg_mod])`` and
  ``DefaultWorkflow(fit_workflow=SecAggWorkflow(SecAggSettings(backend="secagg+",
  clip=c, bits=16, max_weight=1)))``, the library's default degree k and threshold t;
- ``flower``: ``ClientApp(client_fn, mods=[secaggplus_mod])`` and
  ``DefaultWorkflow(fit_workflow=SecAggPlusWorkflow(num_shares=k + 1,
  reconstruction_threshold=t, clipping_range=c, quantization_range=2**16,
  max_weight=1))``, the same k and t.

The app is a NumPyClient whose fit returns the parameters it received plus a fixed
update, with ``num_examples = 1`` on every client; the model is one float32 array of
``dim`` parameters and the legacy FedAvg starts from known parameters. Initial
parameters and updates are uniform in [-c/4, c/4], so neither system clips (Flower
clips the returned parameters, ours the update). Points: 10 and 50 clients, d = 1e5
and 1e6; each repetition runs both systems, each in a fresh process, in alternating
order. What one run reports (:func:`run_system`):

- protocol compute: the clients' time inside the mod minus their time inside the app
  (``call_next``), summed over clients, plus the server's: the fit workflow's CPU
  minus its time inside grid push/pull (which runs the clients and Flower's codec)
  and minus the legacy strategy's own ``configure_fit``/``aggregate_fit`` (FedAvg,
  the same app code on both sides, not secure aggregation);
- the whole round: process CPU of the ``DefaultWorkflow`` call, Flower's message
  serialization on both sides included, and its wall time;
- bytes up and down per client: the Flower-serialized sizes of the messages each node
  sent and received over the round (the model broadcast included);
- the aggregate's largest error against the plain mean of the clients' updates, and
  whether it is within one quantization step of that system.

It also measures, with the sweep's own Flower harness
(:func:`benchmarks.flower_secaggplus.run_flower_secaggplus`) at the sweep's Flower
points (50 clients, d = 1e4, 1e5, 1e6), how much of that harness's CPU is Flower's
codec (``baseline_codec``): docs/benchmarks.md uses it to state the sweep's comparison
as protocol compute alone on both sides. Writes ``benchmarks/results/flower_compare.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from flwr.app import Context, Message, RecordDict
from flwr.client import Client, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable, Mod
from flwr.common import (
    FitIns,
    FitRes,
    Parameters,
    Scalar,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.compat.common import recorddict_compat as compat
from flwr.server import LegacyContext, ServerConfig
from flwr.server.client_manager import ClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_PARAMS_RECORD
from flwr.serverapp import Grid

from benchmarks.flower_secaggplus import (
    RUN_ID,
    MeteredGrid,
    quiet_flower,
    run_flower_secaggplus,
    seeded_global_random,
)
from benchmarks.sweep import git_commit, machine
from secagg.flower import SecAggSettings, secagg_mod
from secagg.flower.grid import FIRST_NODE_ID, SERVER_NODE_ID
from secagg.flower.strategy import SecAggWorkflow
from secagg.masking.config import default_neighbours, default_threshold, neighbours_for_dropout
from secagg.quantize import QuantizationConfig, quantization_error_bound

OUT = Path("benchmarks/results/flower_compare.json")
SYSTEMS = ("ours", "flower")
CLIP = 1.0
BITS = 16
# What the issue asks of ours at d = 1e6: Flower's protocol compute / ours, Flower's
# whole-round CPU / ours (at least), our upload bytes / Flower's (at most).
TARGETS = {"protocol_speedup": 6.0, "round_speedup": 3.0, "upload_ratio": 0.4}


@dataclass(frozen=True)
class ComparePoint:
    """A cohort size and a model size."""

    clients: int
    dim: int


POINTS = tuple(ComparePoint(n, d) for n in (10, 50) for d in (100_000, 1_000_000))
TARGET_DIM = 1_000_000
QUICK_POINTS = (ComparePoint(5, 300), ComparePoint(10, 1_000))
QUICK_TARGET_DIM = 1_000
# The sweep's Flower points (benchmarks/sweep.py: 50 clients, no dropout).
CODEC_POINTS = tuple(ComparePoint(50, d) for d in (10_000, 100_000, 1_000_000))
QUICK_CODEC_POINTS = (ComparePoint(5, 300),)


# ------------------------------------------------------------------------ one run


@dataclass
class ModMeter:
    """A mod wrapping ``mod``: per node, process CPU seconds inside the mod
    (``inside``) and inside the app it calls (``app``)."""

    mod: Mod
    inside: dict[int, float] = field(default_factory=dict)
    app: dict[int, float] = field(default_factory=dict)

    def __call__(self, msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
        node = int(context.node_id)

        def timed_next(message: Message, ctx: Context) -> Message:
            start = time.process_time()
            try:
                return call_next(message, ctx)
            finally:
                self.app[node] = self.app.get(node, 0.0) + time.process_time() - start

        start = time.process_time()
        try:
            return self.mod(msg, context, timed_next)
        finally:
            self.inside[node] = self.inside.get(node, 0.0) + time.process_time() - start

    def protocol_cpu_s(self) -> float:
        """Time inside the mod minus time inside the app, summed over nodes."""
        return sum(self.inside.values()) - sum(self.app.values())


class UpdateClient(NumPyClient):
    """The app: fit returns the parameters it received plus a fixed update, weight 1."""

    def __init__(self, update: npt.NDArray[np.float32]) -> None:
        self.update = update

    def fit(
        self, parameters: list[npt.NDArray[Any]], config: dict[str, Scalar]
    ) -> tuple[list[npt.NDArray[np.float32]], int, dict[str, Scalar]]:
        return [(parameters[0] + self.update).astype(np.float32)], 1, {}


def _no_metrics(metrics: list[tuple[int, dict[str, Scalar]]]) -> dict[str, Scalar]:
    return {}


class TimedFedAvg(FedAvg):
    """Legacy FedAvg over the whole cohort, from ``initial``; ``cpu_s`` is the process
    CPU of its configure_fit and aggregate_fit (the app's strategy, not the protocol)."""

    def __init__(self, clients: int, initial: npt.NDArray[np.float32]) -> None:
        super().__init__(
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=clients,
            min_available_clients=clients,
            initial_parameters=ndarrays_to_parameters([initial]),
            fit_metrics_aggregation_fn=_no_metrics,
        )
        self.cpu_s = 0.0

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: ClientManager
    ) -> list[tuple[ClientProxy, FitIns]]:
        start = time.process_time()
        try:
            return super().configure_fit(server_round, parameters, client_manager)
        finally:
            self.cpu_s += time.process_time() - start

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        start = time.process_time()
        try:
            return super().aggregate_fit(server_round, results, failures)
        finally:
            self.cpu_s += time.process_time() - start


@dataclass
class TimedFit:
    """A fit workflow wrapped: its process CPU and, of that, the time inside the grid."""

    workflow: Callable[[Grid, LegacyContext], None]
    grid: MeteredGrid
    cpu_s: float = 0.0
    grid_cpu_s: float = 0.0

    def __call__(self, grid: Grid, context: Context) -> None:
        if not isinstance(context, LegacyContext):
            raise TypeError("a fit workflow runs inside a legacy DefaultWorkflow")
        in_grid, start = self.grid.wire.grid_cpu_s, time.process_time()
        try:
            self.workflow(grid, context)
        finally:
            self.cpu_s += time.process_time() - start
            self.grid_cpu_s += self.grid.wire.grid_cpu_s - in_grid


def degree(clients: int) -> tuple[int, int]:
    """Our SecAgg+ defaults for the cohort: neighbours k and threshold t."""
    k = default_neighbours(clients)
    return k, default_threshold(k)


def inputs(
    clients: int, dim: int, seed: int
) -> tuple[npt.NDArray[np.float32], dict[int, npt.NDArray[np.float32]]]:
    """The initial model and each node's fixed update, uniform in [-c/4, c/4]."""
    rng = np.random.default_rng(seed)
    model = rng.uniform(-CLIP / 4, CLIP / 4, dim).astype(np.float32)
    updates = {
        FIRST_NODE_ID + i: rng.uniform(-CLIP / 4, CLIP / 4, dim).astype(np.float32)
        for i in range(clients)
    }
    return model, updates


def _fit_workflow(system: str, clients: int) -> tuple[Callable[[Grid, LegacyContext], None], float]:
    """The system's fit workflow and its quantization step."""
    k, t = degree(clients)
    if system == "ours":
        settings = SecAggSettings(backend="secagg+", clip=CLIP, bits=BITS, max_weight=1)
        quantization = QuantizationConfig(clip=CLIP, bits=BITS, max_clients=clients, max_weight=1)
        return SecAggWorkflow(settings), quantization_error_bound(quantization)
    if system == "flower":
        flower = SecAggPlusWorkflow(
            num_shares=k + 1,
            reconstruction_threshold=t,
            max_weight=1.0,
            clipping_range=CLIP,
            quantization_range=2**BITS,
            modulus_range=2**32,
        )
        return flower, 2 * CLIP / 2**BITS
    raise ValueError(f"unknown system {system!r}")


def run_system(system: str, clients: int, dim: int, seed: int = 0) -> dict[str, Any]:
    """One FedAvg round of the app with ``system``'s secure aggregation, in this process
    (see the module docstring for what is measured)."""
    model, updates = inputs(clients, dim, seed)
    meter = ModMeter(secagg_mod if system == "ours" else secaggplus_mod)

    def client_fn(context: Context) -> Client:
        return UpdateClient(updates[int(context.node_id)]).to_client()

    grid = MeteredGrid(ClientApp(client_fn=client_fn, mods=[meter]), [{}] * clients)
    workflow, step = _fit_workflow(system, clients)
    fit = TimedFit(workflow, grid)
    strategy = TimedFedAvg(clients, model)
    server = Context(
        run_id=RUN_ID, node_id=SERVER_NODE_ID, node_config={}, state=RecordDict(), run_config={}
    )
    context = LegacyContext(server, config=ServerConfig(num_rounds=1), strategy=strategy)
    with seeded_global_random(seed), quiet_flower():
        wall, cpu = time.perf_counter(), time.process_time()
        DefaultWorkflow(fit_workflow=fit)(grid, context)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    final = parameters_to_ndarrays(
        compat.arrayrecord_to_parameters(context.state.array_records[MAIN_PARAMS_RECORD], True)
    )[0]
    base = model.astype(np.float64)
    expected = np.mean([(model + u).astype(np.float32) - base for u in updates.values()], axis=0)
    error = float(np.max(np.abs((final.astype(np.float64) - base) - expected)))
    client_protocol = meter.protocol_cpu_s()
    server_protocol = fit.cpu_s - fit.grid_cpu_s - strategy.cpu_s
    k, t = degree(clients)
    wire = grid.wire
    return {
        "system": system,
        "clients": clients,
        "dim": dim,
        "seed": seed,
        "neighbours": k,
        "threshold": t,
        "protocol_cpu_s": client_protocol + server_protocol,
        "client_protocol_cpu_s": client_protocol,
        "server_protocol_cpu_s": server_protocol,
        "round_cpu_s": cpu,
        "wall_s": wall,
        "fit_cpu_s": fit.cpu_s,
        "codec_cpu_s": wire.codec_cpu_s,
        "app_cpu_s": sum(meter.app.values()),
        "strategy_cpu_s": strategy.cpu_s,
        "bytes_up_per_client": statistics.median(wire.bytes_up.values()),
        "bytes_down_per_client": statistics.median(wire.bytes_down.values()),
        "max_abs_error": error,
        "step": step,
        "within_step": error <= step,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_baseline_codec(clients: int, dim: int, seed: int = 0) -> dict[str, Any]:
    """The sweep's Flower harness at a sweep point: its CPU and, of that, Flower's codec."""
    report = run_flower_secaggplus(
        clients, dim, bits=BITS, neighbours=neighbours_for_dropout(clients, 0.0), seed=seed
    )
    return {
        key: report[key]
        for key in ("clients", "dim", "neighbours", "total_cpu_s", "codec_cpu_s", "exact")
    }


# ------------------------------------------------------------------------ the benchmark


def run_in_subprocess(kind: str, point: ComparePoint, seed: int) -> dict[str, Any]:
    """``kind`` ("ours", "flower" or "baseline-codec") at ``point`` in a fresh process.
    Raises RuntimeError when the run fails."""
    spec = json.dumps({"kind": kind, "clients": point.clients, "dim": point.dim, "seed": seed})
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.flower_compare", "--one", spec],
        cwd=Path(__file__).resolve().parents[1],  # the checkout: benchmarks is not installed
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} at {point}: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _one(spec: str) -> dict[str, Any]:
    args = json.loads(spec)
    kind, clients, dim, seed = args["kind"], args["clients"], args["dim"], args["seed"]
    if kind == "baseline-codec":
        return run_baseline_codec(clients, dim, seed)
    return run_system(kind, clients, dim, seed)


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


MEDIANS = (
    "protocol_cpu_s",
    "client_protocol_cpu_s",
    "server_protocol_cpu_s",
    "round_cpu_s",
    "wall_s",
    "codec_cpu_s",
    "app_cpu_s",
    "strategy_cpu_s",
    "bytes_up_per_client",
    "bytes_down_per_client",
    "max_abs_error",
)


def summarize(
    point: ComparePoint, runs: dict[str, list[dict[str, Any]]], target_dim: int
) -> dict[str, Any]:
    """Medians per system and per-repetition ratios (each repetition's two runs paired)."""
    ours, flower = runs["ours"], runs["flower"]
    pairs = list(zip(ours, flower, strict=True))
    systems = {}
    for name, rows in runs.items():
        systems[name] = {
            **{key: statistics.median(r[key] for r in rows) for key in MEDIANS},
            "step": rows[0]["step"],
            "within_step": all(r["within_step"] for r in rows),
            "runs": rows,
        }
    return {
        "clients": point.clients,
        "dim": point.dim,
        "neighbours": ours[0]["neighbours"],
        "threshold": ours[0]["threshold"],
        "target": point.dim == target_dim,
        "systems": systems,
        "ratios": {
            "protocol_speedup": _spread(
                [f["protocol_cpu_s"] / o["protocol_cpu_s"] for o, f in pairs]
            ),
            "round_speedup": _spread([f["round_cpu_s"] / o["round_cpu_s"] for o, f in pairs]),
            "wall_speedup": _spread([f["wall_s"] / o["wall_s"] for o, f in pairs]),
            "upload_ratio": _spread(
                [o["bytes_up_per_client"] / f["bytes_up_per_client"] for o, f in pairs]
            ),
            "download_ratio": _spread(
                [o["bytes_down_per_client"] / f["bytes_down_per_client"] for o, f in pairs]
            ),
        },
    }


def summarize_codec(point: ComparePoint, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the harness's total and codec CPU, and the codec's share per repetition."""
    return {
        "clients": point.clients,
        "dim": point.dim,
        "neighbours": rows[0]["neighbours"],
        "total_cpu_s": statistics.median(r["total_cpu_s"] for r in rows),
        "codec_cpu_s": statistics.median(r["codec_cpu_s"] for r in rows),
        "codec_share": _spread([r["codec_cpu_s"] / r["total_cpu_s"] for r in rows]),
        "runs": rows,
    }


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(reps: int, *, quick: bool) -> dict[str, Any]:
    """Every point, both systems per repetition (alternating which goes first), then the
    harness's codec share at the sweep's Flower points."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    target_dim = QUICK_TARGET_DIM if quick else TARGET_DIM
    points = []
    for point in QUICK_POINTS if quick else POINTS:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SYSTEMS}
        for rep in range(reps):
            order = SYSTEMS if rep % 2 == 0 else SYSTEMS[::-1]
            for name in order:
                runs[name].append(run_in_subprocess(name, point, seed=rep))
                row = runs[name][-1]
                _log(
                    f"{point.clients} x {point.dim} rep {rep + 1}/{reps} {name}: protocol "
                    f"{row['protocol_cpu_s']:.2f} s, round {row['round_cpu_s']:.2f} s"
                )
        points.append(summarize(point, runs, target_dim))
    codec = []
    for point in QUICK_CODEC_POINTS if quick else CODEC_POINTS:
        rows = [run_in_subprocess("baseline-codec", point, seed=rep) for rep in range(reps)]
        _log(f"harness codec {point.clients} x {point.dim}: {rows[-1]['codec_cpu_s']:.2f} s")
        codec.append(summarize_codec(point, rows))
    return {
        "command": "python -m benchmarks flower"
        + (" --quick" if quick else "")
        + f" --reps {reps}",
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "machine": machine(),
        "reps": reps,
        "quick": quick,
        "clip": CLIP,
        "bits": BITS,
        "target_dim": target_dim,
        "targets": TARGETS,
        "points": points,
        "baseline_codec": codec,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks flower",
        description="our SecAgg+ against Flower's SecAgg+ in the same in-process Flower engine",
    )
    parser.add_argument("--reps", type=int, default=3, help="repetitions per system and point")
    parser.add_argument("--quick", action="store_true", help="tiny points, for a smoke run")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one run, in this process
    args = parser.parse_args(argv)
    if args.one is not None:
        print(json.dumps(_one(args.one)))
        return 0
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    data = run(args.reps, quick=args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
