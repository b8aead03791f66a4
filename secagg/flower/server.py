"""The ServerApp side: one secure-aggregation round over a Flower Grid.

:class:`SecureRound` maps the sampled Flower node ids to protocol ids 1..n, sends each
node the app's training message with its :class:`~secagg.flower.spec.RoundSpec`, then
drives secagg's server party stage by stage: it pushes the stage's messages, pulls
replies until every node asked has answered or the stage's deadline passes (a node
that has not answered by then counts as dropped), and closes the stage. A refused
message drops its node, with the reason logged; an abort skips the round. The result
is the dequantized weighted mean of the survivors' model updates: nothing else about
any node's update is ever in this process.

Flower's own ``send_and_receive`` polls every 3 s in a deployment; the round pushes
and pulls itself, every ``poll_interval`` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid

from secagg.errors import AbortError, ConfigurationError, DecodeError, InputError, MessageError
from secagg.flower.records import (
    DEFAULT_WEIGHT_KEY,
    REPLY_KEY,
    ROUND_KEY,
    STEP_KEY,
    get_int,
    get_payload,
    put_payload,
)
from secagg.flower.spec import RoundSpec
from secagg.masking import MaskingConfig, MaskingServer
from secagg.masking import ServerStage as MaskingStage
from secagg.paillier import PaillierConfig, PaillierServer
from secagg.paillier.protocol import ServerStage as PaillierStage
from secagg.plain import PlainServer
from secagg.protocol.party import ServerParty
from secagg.quantize import QuantizationConfig
from secagg.result import Backend
from secagg.validation import require_int, require_real
from secagg.weighting import decode_weighted

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class SecAggSettings:
    """How the ServerApp runs secure aggregation.

    Parameters
    ----------
    backend: ``secagg``, ``secagg+`` (default), ``paillier`` or ``plain`` (no
        protection, the reference).
    clip: bound on each coordinate of a node's model update (trained minus received
        parameters), in the parameters' own units; larger values are clipped.
    bits: quantization bits per coordinate.
    max_weight: the largest integer weight (``num-examples``) a node may report; a
        node reporting more is refused and counts as dropped.
    neighbours, threshold: SecAgg+/SecAgg graph degree and Shamir threshold (None:
        the library's defaults for the cohort).
    key_bits, min_uploads: Paillier modulus size and the fewest uploads decrypted.
    stage_timeout: seconds one protocol stage waits for the nodes it asked.
    train_timeout: seconds the first stage (local training included) waits; None:
        ``stage_timeout``.
    poll_interval: seconds between two pulls of replies.
    weight_key: the MetricRecord key FedAvg weights by.

    Raises ConfigurationError for impossible values.
    """

    backend: Backend | str = Backend.SECAGG_PLUS
    clip: float = 1.0
    bits: int = 16
    max_weight: int = 2**16 - 1
    neighbours: int | None = None
    threshold: int | None = None
    key_bits: int = 2048
    min_uploads: int | None = None
    stage_timeout: float = 600.0
    train_timeout: float | None = None
    poll_interval: float = 0.05
    weight_key: str = DEFAULT_WEIGHT_KEY

    def __post_init__(self) -> None:
        object.__setattr__(self, "backend", Backend.parse(self.backend))
        for name in ("stage_timeout", "poll_interval"):
            if require_real(name, getattr(self, name)) <= 0:
                raise ConfigurationError(f"{name} must be positive")
        if (
            self.train_timeout is not None
            and require_real("train_timeout", self.train_timeout) <= 0
        ):
            raise ConfigurationError("train_timeout must be positive")
        require_int("max_weight", self.max_weight, 1, 2**63)
        if not isinstance(self.weight_key, str) or not self.weight_key:
            raise ConfigurationError("weight_key must be a non-empty string")


@dataclass
class RoundReport:
    """What one round did. Node ids are Flower's; ``mean_update`` is the weighted mean
    of the survivors' updates (None when the round was skipped)."""

    round_number: int
    nodes: dict[int, int]  # protocol id -> node id
    survivors: tuple[int, ...] = ()
    dropped: dict[int, str] = field(default_factory=dict)  # node id -> why
    mean_update: npt.NDArray[np.float64] | None = None
    total_weight: int = 0
    aborted: str | None = None
    server_cpu_s: float = 0.0
    bytes_up: int = 0  # protocol payload bytes received from nodes
    bytes_down: int = 0  # protocol payload bytes sent to nodes (the model not included)
    stage_wall_s: dict[str, float] = field(default_factory=dict)


class SecureRound:
    """One round for the nodes ``nodes`` (protocol id i + 1 is ``nodes[i]``; for
    Paillier the first is the key holder). Raises ConfigurationError when the cohort
    cannot run the backend (e.g. too few nodes)."""

    def __init__(
        self, settings: SecAggSettings, nodes: Sequence[int], dim: int, round_number: int
    ) -> None:
        if len(set(nodes)) != len(nodes) or not nodes:
            raise ConfigurationError("the sampled nodes must be distinct, and at least one")
        self.settings = settings
        self.nodes = {pid: node for pid, node in enumerate(nodes, start=1)}
        self._pid = {node: pid for pid, node in self.nodes.items()}
        self.quantization = QuantizationConfig(
            clip=settings.clip,
            bits=settings.bits,
            max_clients=len(nodes),
            max_weight=settings.max_weight,
        )
        self._base = RoundSpec(
            Backend.parse(settings.backend),
            round_number,
            1,
            len(nodes),
            dim,
            self.quantization,
            settings.neighbours or 0,
            settings.threshold or 0,
            settings.key_bits,
            settings.min_uploads or 0,
        )
        self.server = _server_for(self._base)
        self.report = RoundReport(round_number, dict(self.nodes))
        self._sent: dict[str, int] = {}  # message id -> node id, this stage
        self._content: RecordDict | Mapping[int, RecordDict] = RecordDict()
        self._message_type = "train"

    # -- the first stage: training ---------------------------------------------------

    def training_messages(
        self, content: RecordDict | Mapping[int, RecordDict], message_type: str = "train"
    ) -> list[Message]:
        """Each node's round spec, the first message of the round. The app's training
        ``content`` (one for all, or one per node id) goes with the message whose reply is
        the node's upload (the plain backend's first; SecAgg's forwarded shares;
        Paillier's key): the node trains then, and keeps no update in its saved state
        while the protocol's earlier stages run."""
        self._content = content
        self._message_type = message_type
        out = []
        for pid, node in self.nodes.items():
            spec = replace(self._base, client=pid)
            record = ConfigRecord({"spec": spec.encode(), "weight-key": self.settings.weight_key})
            own = self._app_content(node) if self._trains_first else {}
            mine = RecordDict({**own, ROUND_KEY: record})
            out.append(
                Message(mine, dst_node_id=node, message_type=message_type, group_id=self._group)
            )
        return out

    @property
    def _group(self) -> str:
        return str(self._base.round_number)

    @property
    def _trains_first(self) -> bool:
        """The plain backend's first message is its upload: it trains at once."""
        return self._base.backend is Backend.PLAIN

    def _app_content(self, node: int) -> dict[str, ArrayRecord | MetricRecord | ConfigRecord]:
        content = self._content
        own = content if isinstance(content, RecordDict) else content[node]
        return dict(own.items())

    def _upload_stage(self) -> bool:
        """Whether the server's current stage collects the uploads: the messages that
        open it carry the app's content."""
        return self.server.stage in (MaskingStage.COLLECTING_INPUTS, PaillierStage.COLLECTING)

    def run(
        self,
        grid: Grid,
        content: RecordDict | Mapping[int, RecordDict],
        message_type: str = "train",
    ) -> RoundReport:
        """The whole round: training messages, then every protocol stage."""
        messages = self.training_messages(content, message_type)
        timeout = self.settings.train_timeout or self.settings.stage_timeout
        self._exchange(grid, messages, timeout, "train")
        return self.finish(grid)

    def take_replies(self, sent: Iterable[Message], replies: Iterable[Message]) -> None:
        """Feed the server the replies to ``sent`` (messages someone else pushed, e.g.
        a Flower strategy's ``start``); ``sent`` must carry their message ids."""
        self._sent = {m.metadata.message_id: m.metadata.dst_node_id for m in sent}
        for reply in replies:
            self._take(reply)

    # -- the protocol stages ---------------------------------------------------------

    def finish(self, grid: Grid) -> RoundReport:
        """Close stages and exchange messages until the server has its result or
        aborts; returns the report (``aborted`` set and no mean on abort)."""
        report = self.report
        try:
            while True:
                outbox = self._timed(self.server.close)
                if self.server.finished:
                    break
                stage = self.server.stage.name.lower()  # the stage the replies belong to
                training = self._upload_stage() and not self._trains_first
                messages = [self._step_message(pid, data, training) for pid, data in outbox.items()]
                timeout = self.settings.stage_timeout
                if training:
                    timeout = self.settings.train_timeout or timeout
                self._exchange(grid, messages, timeout, stage)
        except AbortError as exc:
            report.aborted = f"{type(exc).__name__}: {exc}"
            log.warning("secagg round %s skipped: %s", report.round_number, report.aborted)
            return report
        outcome = self.server.result
        try:
            mean = decode_weighted(outcome.aggregate, self.quantization)
        except InputError as exc:
            # Only a node that protected a value outside its budget makes the sum fail
            # the range check: release nothing, skip the round.
            report.aborted = f"the unmasked sum fails its range check: {exc}"
            log.warning("secagg round %s skipped: %s", report.round_number, report.aborted)
            return report
        report.mean_update = mean.mean
        report.total_weight = mean.total_weight
        report.survivors = tuple(self.nodes[pid] for pid in outcome.survivors)
        for pid in outcome.dropped:
            report.dropped.setdefault(self.nodes[pid], "dropped")
        return report

    def _step_message(self, pid: int, data: bytes, training: bool = False) -> Message:
        node = self.nodes[pid]
        own = self._app_content(node) if training else {}
        content = RecordDict({**own, STEP_KEY: ConfigRecord({"round": self._base.round_number})})
        put_payload(content, data)
        self.report.bytes_down += len(data)
        kind = self._message_type if training else "train"
        return Message(content, dst_node_id=node, message_type=kind, group_id=self._group)

    def _exchange(self, grid: Grid, messages: list[Message], timeout: float, stage: str) -> None:
        """Push ``messages``; take replies until all are in, the server waits for
        nobody, or ``timeout`` seconds pass."""
        start = time.monotonic()
        ids = list(grid.push_messages(messages))
        self._sent = dict(zip(ids, (m.metadata.dst_node_id for m in messages), strict=True))
        pending = set(ids)
        deadline = start + timeout
        while pending:
            for reply in grid.pull_messages(list(pending)):
                pending.discard(reply.metadata.reply_to_message_id)
                self._take(reply)
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(self.settings.poll_interval)
        for mid in pending:
            node = self._sent[mid]
            self.report.dropped.setdefault(node, f"no reply in the {stage} stage by the deadline")
        self.report.stage_wall_s[stage] = time.monotonic() - start

    def _take(self, reply: Message) -> None:
        node = self._sent.get(reply.metadata.reply_to_message_id)
        if node is None:
            return  # a late reply to an earlier stage: the server has moved on
        pid = self._pid[node]
        if reply.has_error():
            reason = f"error {reply.error.code}: {reply.error.reason}"
            self._drop(node, reason)
            return
        try:
            round_number = get_int(reply.content, REPLY_KEY, "round")
            if round_number != self._base.round_number:
                raise DecodeError(f"a reply for round {round_number}")
            data = get_payload(reply.content)
        except DecodeError as exc:
            self._drop(node, f"malformed reply: {exc}")
            return
        if data is None:
            return  # this node has nothing to say at this stage (a Paillier client)
        self.report.bytes_up += len(data)
        try:
            self._timed(lambda: self.server.receive(pid, data))
        except MessageError as exc:
            self._drop(node, f"refused: {type(exc).__name__}: {exc}")

    def _drop(self, node: int, reason: str) -> None:
        log.warning("secagg round %s: node %s dropped: %s", self.report.round_number, node, reason)
        self.report.dropped.setdefault(node, reason)

    def _timed(self, fn: Callable[[], T]) -> T:
        start = time.thread_time()
        try:
            return fn()
        finally:
            self.report.server_cpu_s += time.thread_time() - start


def _server_for(spec: RoundSpec) -> ServerParty:
    config = spec.config()
    if isinstance(config, MaskingConfig):
        return MaskingServer(config)
    if isinstance(config, PaillierConfig):
        return PaillierServer(config)
    return PlainServer(config)


def updated_arrays(
    layout_arrays: Sequence[npt.NDArray[np.floating]], mean_update: npt.NDArray[np.float64]
) -> list[npt.NDArray[np.floating]]:
    """The global model's arrays plus the mean update, each in its own dtype."""
    out, start = [], 0
    for array in layout_arrays:
        size = array.size
        step = mean_update[start : start + size].reshape(array.shape)
        out.append(np.add(array, step, dtype=np.float64).astype(array.dtype))
        start += size
    if start != mean_update.size:
        raise ConfigurationError("the mean update does not fit the model")
    return out
