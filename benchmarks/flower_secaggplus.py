"""Baseline: Flower 1.42's own SecAgg+, driven in one process.

Flower's real server workflow (``flwr.server.workflow.SecAggPlusWorkflow``) talks to real
``ClientApp``s wrapped with Flower's client mod (``flwr.client.mod.secaggplus_mod``) through
:class:`MeteredGrid`: secagg's in-process Flower engine
(:class:`secagg.flower.InProcessGrid`, which runs each ClientApp synchronously from the
calling thread) with a meter on its wire. No Ray, network, SuperLink or subprocess is
involved, so the result's ``method`` is ``"workflow"``. Every message crosses the codec
Flower 1.42 uses on the wire: it is deflated into Flower's content-addressed object tree
(one ``bytes`` blob per object, each named by its SHA-256) and inflated again on the
other side. The blob sizes are the byte counts; the codec CPU is charged to the party
that runs it, and reported on its own (``codec_cpu_s``) so that the protocol's compute
can be read without Flower's transport.

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

import importlib.metadata
import logging
import random
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from unittest.mock import patch

import numpy as np
import numpy.typing as npt
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, RecordDict
from flwr.client import Client, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import FitRes, Parameters, Scalar, parameters_to_ndarrays
from flwr.common.secure_aggregation.ndarrays_arithmetic import parameters_multiply
from flwr.common.secure_aggregation.quantization import quantize
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key
from flwr.server.client_manager import SimpleClientManager
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat import LegacyContext
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.strategy import FedAvg
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects
from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents

from secagg.flower import grid as grid_module
from secagg.flower.grid import FIRST_NODE_ID, InProcessGrid

FLOWER_SERIES = "1.42."
# Flower's stage names -> the masking stage names of benchmarks/schema.py.
STAGE_NAMES = {
    "setup": "advertise",
    "share_keys": "share",
    "collect_masked_vectors": "upload",
    "unmask": "unmask",
}
DropoutStage = Literal["advertise", "share", "upload", "unmask"]
_STAGE_ORDER = ("advertise", "share", "upload", "unmask")
RUN_ID = 1


def flower_available() -> bool:
    """True if the installed flwr is the series this module drives (1.42.x).

    The module itself needs flwr (and ``secagg.flower``) to import; this checks that
    the installed release is the one whose internals it relies on."""
    try:
        version = importlib.metadata.version("flwr")
    except importlib.metadata.PackageNotFoundError:
        return False
    return version.startswith(FLOWER_SERIES)


def default_neighbours(clients: int) -> int:
    """secagg's SecAgg+ degree: the even number at or above 2*ceil(log2 n), capped at n - 1."""
    k = 2 * int(np.ceil(np.log2(max(clients, 2))))
    return min(k + (k % 2), clients - 1)


# ------------------------------------------------------------------------ the metered grid


@dataclass
class WireLedger:
    """What crossed a :class:`MeteredGrid`, in process CPU seconds and Flower-serialized bytes.

    ``client_cpu_s[node]`` is everything that node did: inflating the messages it
    received, its ClientApp (mods and app) and deflating its replies; ``app_cpu_s[node]``
    is its ClientApp calls alone. ``codec_cpu_s`` is every deflate and inflate, of both
    sides. ``grid_cpu_s`` is all the time spent inside ``push_messages`` and
    ``pull_messages`` (the nodes' whole work and the codec). ``bytes_down``/``bytes_up``
    are the serialized sizes of the messages a node received / sent.
    """

    codec_cpu_s: float = 0.0
    grid_cpu_s: float = 0.0
    client_cpu_s: dict[int, float] = field(default_factory=dict)
    app_cpu_s: dict[int, float] = field(default_factory=dict)
    bytes_up: dict[int, int] = field(default_factory=dict)
    bytes_down: dict[int, int] = field(default_factory=dict)

    @staticmethod
    def add(table: dict[int, Any], node: int, value: float) -> None:
        table[node] = table.get(node, 0) + value


class MeteredGrid(InProcessGrid):
    """:class:`secagg.flower.InProcessGrid` with a meter on its wire (:attr:`wire`).

    The grid copies every message through its module-level ``wire_copy`` (deflate, then
    inflate: what a deployment's sender and receiver do). While a push runs, that
    function is swapped for :meth:`_copy`, the same two steps timed apart, so the deflate
    is charged to the sender and the inflate to the receiver, and the blob sizes are the
    byte counts. A node's ClientApp runs between the copy of its instruction and the copy
    of its reply: that interval is its app time. ``traffic`` is emptied after each push
    (a benchmark keeps no messages).
    """

    def __init__(
        self,
        client_app: ClientApp,
        node_configs: Sequence[Mapping[str, object]],
        *,
        before_push: Callable[[InProcessGrid, Message], None] | None = None,
    ) -> None:
        super().__init__(client_app, node_configs, run_id=RUN_ID, before_push=before_push)
        self.wire = WireLedger()
        self._delivered_at = 0.0

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        start = time.process_time()
        try:
            with patch.object(grid_module, "wire_copy", self._copy):
                return list(super().push_messages(messages))
        finally:
            self.traffic.clear()
            self.wire.grid_cpu_s += time.process_time() - start

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        start = time.process_time()
        try:
            return list(super().pull_messages(message_ids))
        finally:
            self.wire.grid_cpu_s += time.process_time() - start

    def _copy(self, message: Message) -> Message:
        """``secagg.flower.grid.wire_copy``, metered."""
        start = time.process_time()
        contents = {oid: o.deflate() for oid, o in get_all_nested_objects(message).items()}
        deflated = time.process_time()
        size = sum(len(blob) for blob in contents.values())  # inflating empties contents
        copy = inflate_object_from_contents(message.object_id, contents)
        if not isinstance(copy, Message):
            raise TypeError("a message did not read back as a message")
        copy.metadata.__dict__["_message_id"] = message.metadata.message_id
        end = time.process_time()
        wire = self.wire
        wire.codec_cpu_s += end - start
        if message.metadata.reply_to_message_id:  # a node's reply: the node deflated it
            node = message.metadata.src_node_id
            wire.add(wire.bytes_up, node, size)
            wire.add(wire.app_cpu_s, node, start - self._delivered_at)
            wire.add(wire.client_cpu_s, node, deflated - self._delivered_at)
        else:  # the server's instruction: the node inflates it, then runs its app
            node = message.metadata.dst_node_id
            wire.add(wire.bytes_down, node, size)
            wire.add(wire.client_cpu_s, node, end - deflated)
            self._delivered_at = end
        return copy


# ------------------------------------------------------------------------ Flower's parts


class FixedUpdateClient(NumPyClient):
    """A NumPyClient whose fit returns ``arrays`` (whatever it received) with weight 1."""

    def __init__(self, arrays: list[npt.NDArray[np.float32]]) -> None:
        self.arrays = arrays

    def fit(
        self, parameters: list[npt.NDArray[Any]], config: dict[str, Any]
    ) -> tuple[list[npt.NDArray[np.float32]], int, dict[str, Any]]:
        return self.arrays, 1, {}


def _make_client_app(updates: Mapping[int, npt.NDArray[np.float32]]) -> ClientApp:
    """One ClientApp for every node, wrapped in secaggplus_mod: node ``nid``'s fit returns
    ``updates[nid]`` with weight 1."""

    def client_fn(context: Context) -> Client:
        return FixedUpdateClient([updates[int(context.node_id)]]).to_client()

    return ClientApp(client_fn=client_fn, mods=[secaggplus_mod])


class _TimedWorkflow(SecAggPlusWorkflow):
    """SecAggPlusWorkflow writing each stage's CPU seconds (all parties) to ``stage_cpu_s``."""

    def __init__(self, stage_cpu_s: dict[str, float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage_cpu_s = stage_cpu_s

    def _timed(self, name: str, stage: Callable[..., bool], *args: Any) -> bool:
        start = time.process_time()
        try:
            return stage(*args)
        finally:
            self.stage_cpu_s[name] = time.process_time() - start

    def setup_stage(self, *args: Any) -> bool:
        return self._timed("advertise", super().setup_stage, *args)

    def share_keys_stage(self, *args: Any) -> bool:
        return self._timed("share", super().share_keys_stage, *args)

    def collect_masked_vectors_stage(self, *args: Any) -> bool:
        return self._timed("upload", super().collect_masked_vectors_stage, *args)

    def unmask_stage(self, *args: Any) -> bool:
        return self._timed("unmask", super().unmask_stage, *args)


class _CapturingFedAvg(FedAvg):
    """FedAvg that samples every client and keeps the workflow's aggregate in ``sink``.

    SecAggPlusWorkflow hands every FitRes the same unmasked mean; FedAvg would only
    average identical copies of it, so that step is skipped (not SecAgg+ work).
    """

    def __init__(self, clients: int, sink: list[npt.NDArray[np.float64]]) -> None:
        super().__init__(
            fraction_fit=1.0,
            fraction_evaluate=0.0,
            min_fit_clients=clients,
            min_available_clients=clients,
        )
        self.sink = sink

    def aggregate_fit(
        self,
        server_round: int,
        results: list[tuple[ClientProxy, FitRes]],
        failures: list[tuple[ClientProxy, FitRes] | BaseException],
    ) -> tuple[Parameters | None, dict[str, Scalar]]:
        if not results:
            return None, {}
        parameters = results[0][1].parameters
        self.sink.extend(parameters_to_ndarrays(parameters))
        return parameters, {}


def stage_of(message: Message) -> str:
    """The masking stage name (benchmarks/schema.py) of a SecAggPlusWorkflow message."""
    return STAGE_NAMES[str(message.content.config_records[RECORD_KEY_CONFIGS][Key.STAGE])]


def _dropper(
    dropped: set[int], drop_from: str, rng_states: dict[int, Any]
) -> Callable[[InProcessGrid, Message], None]:
    """A ``before_push`` hook: a dropped node goes offline from ``drop_from`` on (it never
    answers again); before each upload, keep numpy's global RNG state (to replay the
    node's stochastic rounding in the exactness check)."""

    def before_push(grid: InProcessGrid, message: Message) -> None:
        node, stage = message.metadata.dst_node_id, stage_of(message)
        if node in dropped and _STAGE_ORDER.index(stage) >= _STAGE_ORDER.index(drop_from):
            grid.offline.add(node)
        elif stage == "upload":
            rng_states[node] = np.random.get_state()

    return before_push


@contextmanager
def seeded_global_random(seed: int) -> Iterator[None]:
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
def quiet_flower() -> Iterator[None]:
    """Silence Flower's and secagg.flower's per-stage INFO logging for a run."""
    loggers = [logging.getLogger(name) for name in ("flwr", "secagg.flower")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
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
    rng_states: dict[int, Any],
    bits: int,
    clip: float,
) -> dict[str, object]:
    """Compare Flower's output with the survivors' inputs, in integers and in floats."""
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
            np.random.set_state(rng_states[nid])
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


def _legacy_context(
    clients: int, grid: InProcessGrid, sink: list[npt.NDArray[np.float64]]
) -> LegacyContext:
    """The server's LegacyContext in round 1: every node registered, no global model."""
    manager = SimpleClientManager()
    for nid in grid.get_node_ids():
        manager.register(GridClientProxy(nid, grid, RUN_ID))
    server_state = RecordDict(
        {
            MAIN_CONFIGS_RECORD: ConfigRecord({WorkflowKey.CURRENT_ROUND: 1}),
            MAIN_PARAMS_RECORD: ArrayRecord(),
        }
    )
    base = Context(run_id=RUN_ID, node_id=0, node_config={}, state=server_state, run_config={})
    return LegacyContext(base, strategy=_CapturingFedAvg(clients, sink), client_manager=manager)


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
    """One round of Flower 1.42's SecAgg+ over random float32 vectors, in this process.

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
    clients that answered every stage, ``server_cpu_s``, ``total_cpu_s``, and of the
    total ``codec_cpu_s``, Flower's message deflate/inflate on both sides, and
    ``protocol_cpu_s``, the rest), ``wall_s``, median bytes per such client over the four
    stages (``bytes_up_per_client``, ``bytes_down_per_client``), ``expansion_vs_float32``
    and ``stage_<name>_s`` (CPU seconds of all parties in each stage, named as in
    benchmarks/schema.py).

    Raises
    ------
    NotImplementedError: for dropout stages before the upload ("advertise", "share").
        Flower cannot finish such a round: its unmask stage lists a client lost in
        setup or share_keys as a dead neighbour, and the survivors' secaggplus_mod fails
        (KeyError) looking up that client's key shares, which it never sent; the server
        also needs shares of every sampled client. Tried with this module: it raises.
    RuntimeError: if flwr 1.42 is missing or Flower's workflow halts.

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
        raise RuntimeError("flwr 1.42.x is not installed (pip install flwr==1.42.0)")
    if dropout_stage not in ("upload", "unmask"):
        raise NotImplementedError(
            f"dropouts at {dropout_stage!r}: Flower cannot finish a round with a "
            "client lost before it uploads (its unmask stage asks the survivors for "
            "key shares of that client, which they never received)"
        )
    k = default_neighbours(clients) if neighbours is None else neighbours
    t = k // 2 + 1 if threshold is None else threshold
    _check_args(clients, dim, dropout, bits, clip, k, t)

    import flwr

    rng = np.random.default_rng(seed)
    node_ids = [FIRST_NODE_ID + i for i in range(clients)]
    updates = {nid: rng.normal(0.0, 0.1, dim).astype(np.float32) for nid in node_ids}
    n_drop = round(dropout * clients)
    dropped = {int(x) for x in rng.choice(node_ids, size=n_drop, replace=False)}

    rng_states: dict[int, Any] = {}
    grid = MeteredGrid(
        _make_client_app(updates),
        [{} for _ in node_ids],
        before_push=_dropper(dropped, dropout_stage, rng_states),
    )
    aggregate: list[npt.NDArray[np.float64]] = []
    context = _legacy_context(clients, grid, aggregate)
    stage_cpu_s: dict[str, float] = {}
    workflow = _TimedWorkflow(
        stage_cpu_s,
        num_shares=k + 1,
        reconstruction_threshold=t,
        max_weight=1.0,
        clipping_range=float(clip),
        quantization_range=2**bits,
        modulus_range=2**32,
    )

    with seeded_global_random(seed), quiet_flower():
        wall0, cpu0 = time.perf_counter(), time.process_time()
        workflow(grid, context)
        total_cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if not aggregate:
            raise RuntimeError("Flower's SecAgg+ workflow halted without an aggregate")
        survivors = sorted(
            nid for nid in node_ids if nid not in dropped or dropout_stage == "unmask"
        )
        check = _exactness(aggregate[0], updates, survivors, rng_states, bits, clip)

    wire = grid.wire
    complete = [nid for nid in node_ids if nid not in dropped]
    client_cpu = [wire.client_cpu_s[nid] for nid in complete]
    bytes_up = statistics.median(wire.bytes_up[nid] for nid in complete)
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
        "server_cpu_s": total_cpu - sum(wire.client_cpu_s.values()),
        "total_cpu_s": total_cpu,
        "codec_cpu_s": wire.codec_cpu_s,
        "protocol_cpu_s": total_cpu - wire.codec_cpu_s,
        "wall_s": wall,
        "bytes_up_per_client": bytes_up,
        "bytes_down_per_client": statistics.median(wire.bytes_down[nid] for nid in complete),
        "expansion_vs_float32": bytes_up / (4 * dim),
        **{f"stage_{name}_s": stage_cpu_s.get(name) for name in _STAGE_ORDER},
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
