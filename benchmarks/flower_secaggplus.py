"""Baseline: Flower 1.41's own SecAgg+, driven in one process.

Flower's real server workflow (``flwr.server.workflow.SecAggPlusWorkflow``) talks to real
``ClientApp``s wrapped with Flower's client mod (``flwr.client.mod.secaggplus_mod``) through
:class:`_LoopbackGrid`, a small in-memory ``Grid`` that delivers each message synchronously
from the calling thread. No Ray, gRPC, SuperLink or subprocess is involved, so the result's
``method`` is ``"workflow"``. Every message crosses the same codec Flower 1.41 uses on the
wire: it is deflated into Flower's content-addressed object tree (one ``bytes`` blob per
object, as pushed with ``PushObject``) and inflated again on the other side. The blob
sizes are the byte counts; the codec CPU is charged to the party that runs it.

This module imports only numpy, flwr and the standard library (never ``secagg``).

How the knobs map onto Flower's (``run_flower_secaggplus``):

- ``neighbours`` k: mask neighbours per client, not counting itself, as in secagg's
  ``MaskingConfig``. Flower's ``num_shares`` is k + 1 (each client keeps one share of its
  own secrets); an odd ``num_shares`` is what Flower's ring of neighbours needs.
- ``threshold`` t: Flower's ``reconstruction_threshold``, shares needed to rebuild a secret.
- ``bits`` b and ``clip`` c: ``quantization_range = 2**b`` and ``clipping_range = c``.
  Flower maps [-c, c] onto the integers 0..2**b (both ends included, step 2c / 2**b) with
  stochastic rounding drawn from numpy's *global* random state; ``modulus_range`` stays at
  Flower's default 2**32, so ``clients * 2**b`` must stay below 2**32.
- weights: every client reports ``num_examples = 1`` and ``max_weight = 1.0``, so Flower's
  weight factor is exactly 2**b and its output is the plain mean of the survivors' inputs.

Notes
-----
Flower seeds its masks from ``os.urandom``; the seed fixes the inputs, the choice of
dropped clients and (by seeding and then restoring Python's and numpy's global random
state) Flower's neighbour ring and stochastic rounding.

What is being timed, for fair reading: Flower expands every mask with numpy's MT19937
(``RandomState``) seeded by a 32-bit XOR fold of the 32-byte key, into int64 words, and
uploads int64 ``.npy`` blobs (8 bytes a coordinate), whatever the modulus; its Shamir
sharing (pycryptodome, GF(2^128) per 16-byte chunk) runs in a ThreadPoolExecutor.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import random
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

FLOWER_SERIES = "1.41."
# Flower's stage names -> the masking stage names of benchmarks/schema.py.
STAGE_NAMES = {
    "setup": "advertise",
    "share_keys": "share",
    "collect_masked_vectors": "upload",
    "unmask": "unmask",
}
DropoutStage = Literal["advertise", "share", "upload", "unmask"]
_STAGE_ORDER = ("advertise", "share", "upload", "unmask")
_RUN_ID = 1
_NODE_ID_BASE = 1_000


def flower_available() -> bool:
    """True if flwr 1.41.x is installed and its SecAgg+ workflow and client mod import."""
    try:
        version = importlib.metadata.version("flwr")
    except importlib.metadata.PackageNotFoundError:
        return False
    if not version.startswith(FLOWER_SERIES):
        return False
    try:
        for module in ("flwr.client.mod", "flwr.server.workflow"):
            importlib.import_module(module)
    except ImportError:
        return False
    return True


def default_neighbours(clients: int) -> int:
    """secagg's SecAgg+ degree: the even number at or above 2*ceil(log2 n), capped at n - 1."""
    k = 2 * int(np.ceil(np.log2(max(clients, 2))))
    return min(k + (k % 2), clients - 1)


class _Ledger:
    """What the loopback grid saw: per-client CPU seconds and bytes, per-stage CPU seconds."""

    def __init__(self) -> None:
        self.client_cpu_s: dict[int, float] = {}
        self.bytes_up: dict[int, int] = {}
        self.bytes_down: dict[int, int] = {}
        self.stage_cpu_s: dict[str, float] = {}
        # numpy global RNG state just before each client's masking call, to replay its
        # stochastic rounding in the exactness check.
        self.rng_state_before_upload: dict[int, Any] = {}

    def add(self, table: dict[int, Any], nid: int, value: float) -> None:
        table[nid] = table.get(nid, 0) + value


def _deflate(message: Any) -> tuple[str, dict[str, bytes]]:
    """Flower's wire form of a message: its object ID and every object's blob."""
    from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects

    message.metadata.__dict__["_message_id"] = message.object_id
    blobs = {oid: obj.deflate() for oid, obj in get_all_nested_objects(message).items()}
    return message.object_id, blobs


def _inflate(message_id: str, blobs: dict[str, bytes]) -> Any:
    """Rebuild a message from its blobs, as the receiving SuperNode or Grid does."""
    from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents

    message: Any = inflate_object_from_contents(message_id, blobs)
    message.metadata.__dict__["_message_id"] = message_id
    return message


def _make_grid(
    apps: dict[int, Any],
    contexts: dict[int, Any],
    dropped: set[int],
    drop_from: str,
    ledger: _Ledger,
) -> Any:
    """A Grid that hands each message to its node's ClientApp, in this thread, at once."""
    from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key
    from flwr.serverapp.grid import Grid
    from flwr.supercore.run import Run

    class _LoopbackGrid(Grid):
        """Synchronous in-memory delivery; a dropped client never answers from drop_from on."""

        def __init__(self) -> None:
            self._run = Run.create_empty(_RUN_ID)
            self._replies: dict[str, Any] = {}

        def set_run(self, run: Any) -> None:
            self._run = run

        @property
        def run(self) -> Any:
            return self._run

        def create_message(
            self,
            content: Any,
            message_type: str,
            dst_node_id: int,
            group_id: str,
            ttl: float | None = None,
        ) -> Any:
            from flwr.app import Message

            return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

        def get_node_ids(self) -> Iterable[int]:
            return list(apps)

        def push_messages(self, messages: Iterable[Any]) -> Iterable[str]:
            ids = []
            for msg in messages:
                msg_id = self._deliver(msg)
                ids.append(msg_id)
            return ids

        def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Any]:
            return [self._replies.pop(i) for i in message_ids if i in self._replies]

        def send_and_receive(
            self, messages: Iterable[Any], *, timeout: float | None = None
        ) -> Iterable[Any]:
            return self.pull_messages(self.push_messages(messages))

        def _deliver(self, msg: Any) -> str:
            nid = int(msg.metadata.dst_node_id)
            flower_stage = str(msg.content.config_records[RECORD_KEY_CONFIGS][Key.STAGE])
            stage = STAGE_NAMES[flower_stage]
            msg_id, blobs = _deflate(msg)  # server CPU
            ledger.add(ledger.bytes_down, nid, sum(len(b) for b in blobs.values()))
            if nid in dropped and _STAGE_ORDER.index(stage) >= _STAGE_ORDER.index(drop_from):
                return msg_id  # the client has vanished: no reply, ever
            if stage == "upload":
                ledger.rng_state_before_upload[nid] = np.random.get_state()
            with _task_identity(nid):
                start = time.process_time()
                reply = apps[nid](_inflate(msg_id, blobs), contexts[nid])
                reply_id, reply_blobs = _deflate(reply)
                ledger.add(ledger.client_cpu_s, nid, time.process_time() - start)
            ledger.add(ledger.bytes_up, nid, sum(len(b) for b in reply_blobs.values()))
            self._replies[msg_id] = _inflate(reply_id, reply_blobs)  # server CPU
            return msg_id

    return _LoopbackGrid()


def _make_client_app(update: npt.NDArray[np.float32]) -> Any:
    """A ClientApp whose fit returns ``update`` with weight 1, wrapped in secaggplus_mod."""
    from flwr.client import ClientApp, NumPyClient
    from flwr.client.mod import secaggplus_mod

    class _FixedUpdateClient(NumPyClient):
        def fit(
            self, parameters: list[Any], config: dict[str, Any]
        ) -> tuple[list[Any], int, dict[str, Any]]:
            return [update], 1, {}

    def client_fn(context: Any) -> Any:
        return _FixedUpdateClient().to_client()

    return ClientApp(client_fn=client_fn, mods=[secaggplus_mod])


def _make_workflow(ledger: _Ledger, **kwargs: Any) -> Any:
    """SecAggPlusWorkflow with each stage's CPU seconds (all parties) written to ledger."""
    from flwr.server.workflow import SecAggPlusWorkflow

    class _TimedWorkflow(SecAggPlusWorkflow):
        def _timed(self, name: str, stage: Callable[..., bool], *args: Any) -> bool:
            start = time.process_time()
            try:
                return stage(*args)
            finally:
                ledger.stage_cpu_s[name] = time.process_time() - start

        def setup_stage(self, *args: Any) -> bool:
            return self._timed("advertise", super().setup_stage, *args)

        def share_keys_stage(self, *args: Any) -> bool:
            return self._timed("share", super().share_keys_stage, *args)

        def collect_masked_vectors_stage(self, *args: Any) -> bool:
            return self._timed("upload", super().collect_masked_vectors_stage, *args)

        def unmask_stage(self, *args: Any) -> bool:
            return self._timed("unmask", super().unmask_stage, *args)

    return _TimedWorkflow(**kwargs)


def _make_strategy(clients: int, sink: list[npt.NDArray[np.float64]]) -> Any:
    """FedAvg that samples every client and keeps the workflow's aggregate in ``sink``.

    SecAggPlusWorkflow hands every FitRes the same unmasked mean; FedAvg would only
    average identical copies of it, so that step is skipped (not SecAgg+ work).
    """
    from flwr.common import parameters_to_ndarrays
    from flwr.server.strategy import FedAvg

    class _CapturingFedAvg(FedAvg):
        def aggregate_fit(
            self, server_round: int, results: list[Any], failures: list[Any]
        ) -> tuple[Any, dict[str, Any]]:
            if not results:
                return None, {}
            parameters = results[0][1].parameters
            sink.extend(parameters_to_ndarrays(parameters))
            return parameters, {}

    return _CapturingFedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=clients,
        min_available_clients=clients,
    )


@contextmanager
def _seeded_global_random(seed: int) -> Iterator[None]:
    """Seed Python's and numpy's global RNGs (Flower uses both), then restore them."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


@contextmanager
def _task_identity(node_id: int) -> Iterator[None]:
    """Act as Flower task ``node_id`` of run 1 (Flower keeps one identity per process)."""
    from flwr.supercore.task_identity import TaskIdentity

    saved = (TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id)
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = node_id, _RUN_ID, node_id
    try:
        yield
    finally:
        TaskIdentity._task_id, TaskIdentity._run_id, TaskIdentity._node_id = saved


@contextmanager
def _quiet_flower() -> Iterator[None]:
    """Silence Flower's per-stage INFO logging for the duration of a run."""
    logger = logging.getLogger("flwr")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _check_args(
    clients: int, dim: int, dropout: float, bits: int, clip: float, neighbours: int, threshold: int
) -> None:
    if clients < 3:
        raise ValueError(f"Flower's SecAgg+ needs at least 3 clients, got {clients}")
    if dim < 1:
        raise ValueError(f"dim must be positive, got {dim}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a fraction in [0, 1), got {dropout}")
    if bits < 1 or clients * 2**bits >= 2**32:
        raise ValueError(f"{clients} clients at {bits} bits overflow Flower's modulus 2**32")
    if not (np.isfinite(clip) and clip > 0):
        raise ValueError(f"clip must be positive and finite, got {clip}")
    if not 2 <= neighbours <= clients - 1:
        raise ValueError(f"neighbours must be in 2..{clients - 1}, got {neighbours}")
    if not 2 <= threshold <= neighbours:
        raise ValueError(f"threshold must be in 2..{neighbours}, got {threshold}")


def _exactness(
    aggregate: npt.NDArray[np.float64],
    updates: dict[int, npt.NDArray[np.float32]],
    survivors: list[int],
    ledger: _Ledger,
    bits: int,
    clip: float,
) -> dict[str, object]:
    """Compare Flower's output with the survivors' inputs, in integers and in floats."""
    from flwr.common.secure_aggregation.ndarrays_arithmetic import parameters_multiply
    from flwr.common.secure_aggregation.quantization import quantize

    n, target = len(survivors), 2**bits
    step = 2 * clip / target
    # Invert Flower's dequantization: mean = (sum_q * step - n * clip) / n.
    recovered = (aggregate.astype(np.float64) * n + n * clip) / step
    sum_q = np.rint(recovered)
    rounding_gap = float(np.max(np.abs(recovered - sum_q)))
    # Replay each survivor's quantization with the numpy RNG state it started from
    # (the weight factor is 1.0 here, as in secaggplus_mod).
    expected = np.zeros(aggregate.shape, dtype=np.int64)
    saved = np.random.get_state()
    try:
        for nid in survivors:
            np.random.set_state(ledger.rng_state_before_upload[nid])
            scaled = parameters_multiply([updates[nid]], 1.0)
            expected += quantize(scaled, clip, target)[0].astype(np.int64)
    finally:
        np.random.set_state(saved)
    integers_equal = rounding_gap < 1e-3 and bool(np.array_equal(sum_q.astype(np.int64), expected))
    plain = np.zeros(aggregate.shape, dtype=np.float64)
    for nid in survivors:
        plain += np.clip(updates[nid], -clip, clip)
    max_abs_error = float(np.max(np.abs(aggregate * n - plain)))
    bound = n * step
    return {
        "exact": integers_equal and max_abs_error <= bound,
        "exact_integers": integers_equal,
        "max_abs_error": max_abs_error,
        "error_bound": bound,
    }


def run_flower_secaggplus(
    clients: int,
    dim: int,
    dropout: float = 0.0,
    *,
    bits: int = 16,
    clip: float = 1.0,
    neighbours: int | None = None,
    threshold: int | None = None,
    dropout_stage: DropoutStage = "upload",
    seed: int = 0,
) -> dict[str, object]:
    """One round of Flower 1.41's SecAgg+ over random float32 vectors, in this process.

    Parameters
    ----------
    clients: number of clients n (>= 3).
    dim: coordinates per client update.
    dropout: fraction of clients that vanish; ``round(dropout * n)`` of them, chosen by seed.
    bits, clip: Flower's ``quantization_range = 2**bits`` and ``clipping_range = clip``.
    neighbours: mask neighbours per client, excluding itself (Flower's num_shares - 1);
        ``None`` is secagg's default, the even number >= 2*ceil(log2 n), capped at n - 1.
    threshold: Flower's reconstruction_threshold; ``None`` is neighbours // 2 + 1.
    dropout_stage: ``"upload"`` (dropped clients never send a masked vector, so the server
        rebuilds their pairwise masks) or ``"unmask"`` (they upload, then send no shares).
    seed: fixes the inputs (normal, sd 0.1, float32), the dropped set, Flower's ring and
        its stochastic rounding.

    Returns
    -------
    A dict: ``method`` ("workflow"), ``flwr_version``, the configuration (``num_shares`` is
    what Flower used), ``survivors`` (clients whose masked vector is in the sum), ``exact``
    (see Notes), CPU seconds (``client_cpu_s`` median and ``client_cpu_s_max`` over the
    clients that answered every stage, ``server_cpu_s``, ``total_cpu_s``), ``wall_s``,
    median bytes per such client over the four stages (``bytes_up_per_client``,
    ``bytes_down_per_client``), ``expansion_vs_float32`` and ``stage_<name>_s`` (CPU
    seconds of all parties in each stage, named as in benchmarks/schema.py).

    Raises
    ------
    NotImplementedError: for dropout stages before the upload ("advertise", "share").
        Flower 1.41 cannot finish such a round: its unmask stage lists a client lost in
        setup or share_keys as a dead neighbour, and the survivors' secaggplus_mod fails
        (KeyError) looking up that client's key shares, which it never sent; the server
        also needs shares of every sampled client. Tried with this module: it raises.
    RuntimeError: if flwr 1.41 is missing or Flower's workflow halts.

    Notes
    -----
    ``exact`` holds when (1) Flower's float output, run back through its own
    dequantization, is an integer vector equal to the sum of the survivors' quantized
    inputs, recomputed by replaying Flower's ``quantize`` from the numpy RNG state each
    client started from; and (2) n times Flower's mean is within n quantization steps
    (n * 2 clip / 2**bits) of the float64 sum of the survivors' clipped inputs.

    CPU is ``time.process_time``, not thread time: Flower's Shamir sharing runs in a
    ThreadPoolExecutor, and the caller blocks on it, so the process's CPU during one
    party's call is that party's CPU. Client CPU covers inflating the incoming message,
    the ClientApp with secaggplus_mod (including the trivial fit) and deflating the
    reply. Server CPU is the workflow's CPU minus all client CPU: the stages, the codec on
    its side, the unmasking and dequantization. The global model is not broadcast (the
    FitIns carry no arrays), so bytes down are the protocol's own.
    """
    if not flower_available():
        raise RuntimeError("flwr 1.41.x is not installed (pip install flwr==1.41.0)")
    if dropout_stage not in ("upload", "unmask"):
        raise NotImplementedError(
            f"dropouts at {dropout_stage!r}: Flower 1.41 cannot finish a round with a "
            "client lost before it uploads (its unmask stage asks the survivors for "
            "key shares of that client, which they never received)"
        )
    k = default_neighbours(clients) if neighbours is None else neighbours
    t = k // 2 + 1 if threshold is None else threshold
    _check_args(clients, dim, dropout, bits, clip, k, t)

    import flwr
    from flwr.app import ArrayRecord, ConfigRecord, Context, RecordDict
    from flwr.common.constant import SUPERLINK_NODE_ID
    from flwr.server.client_manager import SimpleClientManager
    from flwr.server.compat import LegacyContext
    from flwr.server.compat.grid_client_proxy import GridClientProxy
    from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
    from flwr.server.workflow.constant import Key as WorkflowKey

    rng = np.random.default_rng(seed)
    node_ids = [_NODE_ID_BASE + i for i in range(clients)]
    updates = {nid: rng.normal(0.0, 0.1, dim).astype(np.float32) for nid in node_ids}
    n_drop = round(dropout * clients)
    dropped = {int(x) for x in rng.choice(node_ids, size=n_drop, replace=False)}

    ledger = _Ledger()
    apps = {nid: _make_client_app(updates[nid]) for nid in node_ids}
    contexts = {
        nid: Context(run_id=_RUN_ID, node_id=nid, node_config={}, state=RecordDict(), run_config={})
        for nid in node_ids
    }
    grid = _make_grid(apps, contexts, dropped, dropout_stage, ledger)
    manager = SimpleClientManager()
    for nid in node_ids:
        manager.register(GridClientProxy(nid, grid, _RUN_ID))
    aggregate: list[npt.NDArray[np.float64]] = []
    server_state = RecordDict(
        {
            MAIN_CONFIGS_RECORD: ConfigRecord({WorkflowKey.CURRENT_ROUND: 1}),
            MAIN_PARAMS_RECORD: ArrayRecord(),
        }
    )
    base = Context(run_id=_RUN_ID, node_id=0, node_config={}, state=server_state, run_config={})
    context = LegacyContext(
        base, strategy=_make_strategy(clients, aggregate), client_manager=manager
    )
    workflow = _make_workflow(
        ledger,
        num_shares=k + 1,
        reconstruction_threshold=t,
        max_weight=1.0,
        clipping_range=float(clip),
        quantization_range=2**bits,
        modulus_range=2**32,
    )

    server_identity = _task_identity(SUPERLINK_NODE_ID)
    with _seeded_global_random(seed), _quiet_flower(), server_identity:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        workflow(grid, context)
        total_cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if not aggregate:
            raise RuntimeError("Flower's SecAgg+ workflow halted without an aggregate")
        survivors = sorted(
            nid for nid in node_ids if nid not in dropped or dropout_stage == "unmask"
        )
        check = _exactness(aggregate[0], updates, survivors, ledger, bits, clip)

    complete = [nid for nid in node_ids if nid not in dropped]
    client_cpu = [ledger.client_cpu_s[nid] for nid in complete]
    bytes_up = statistics.median(ledger.bytes_up[nid] for nid in complete)
    return {
        "protocol": "flower-secagg+",
        "method": "workflow",
        "flwr_version": flwr.__version__,
        "clients": clients,
        "neighbours": k,
        "num_shares": k + 1,
        "threshold": t,
        "dim": dim,
        "bits": bits,
        "clip": clip,
        "dropout": dropout,
        "dropout_stage": dropout_stage,
        "dropped": len(dropped),
        "survivors": len(survivors),
        **check,
        "client_cpu_s": statistics.median(client_cpu),
        "client_cpu_s_max": max(client_cpu),
        "server_cpu_s": total_cpu - sum(ledger.client_cpu_s.values()),
        "total_cpu_s": total_cpu,
        "wall_s": wall,
        "bytes_up_per_client": bytes_up,
        "bytes_down_per_client": statistics.median(ledger.bytes_down[nid] for nid in complete),
        "expansion_vs_float32": bytes_up / (4 * dim),
        **{f"stage_{name}_s": ledger.stage_cpu_s.get(name) for name in _STAGE_ORDER},
    }


def _main() -> None:
    """Print one JSON result: ``python -m benchmarks.flower_secaggplus N DIM [DROPOUT]``."""
    import json
    import sys

    args = sys.argv[1:]
    result = run_flower_secaggplus(
        int(args[0]), int(args[1]), float(args[2]) if len(args) > 2 else 0.0
    )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    _main()
