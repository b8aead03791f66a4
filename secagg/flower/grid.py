"""A Flower Grid that runs ClientApps in this process: no Ray, no network.

Flower 1.42's simulation engine needs Ray. :class:`InProcessGrid` gives a ServerApp
(or a strategy, or :class:`~secagg.flower.server.SecureRound`) a grid whose nodes are
ClientApps called in this process, each with its own persistent ``Context``. Every
message is serialized and deserialized as on the wire (Flower's own object encoding),
so a node never shares an object with the server and what a test sees is what a
deployment would send. ``offline`` nodes never answer (a dropout); ``traffic`` keeps
every message that crossed the grid, for tests that check what the server received.

It relies on Flower internals (message-id and task-identity plumbing) of the pinned
release, flwr 1.42.0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from uuid import uuid4

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects
from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

SERVER_NODE_ID = 1  # Flower's SuperLink node id: error replies come "from" it
CLIENT_APP_ERROR = 2  # Flower's code for an exception raised in a ClientApp
FIRST_NODE_ID = 1000


def wire_copy(message: Message) -> Message:
    """``message`` serialized and read back, as a deployment would deliver it."""
    contents = {oid: obj.deflate() for oid, obj in get_all_nested_objects(message).items()}
    copy = inflate_object_from_contents(message.object_id, contents)
    if not isinstance(copy, Message):
        raise TypeError("a message did not read back as a message")
    copy.metadata.__dict__["_message_id"] = message.metadata.message_id
    return copy


class InProcessGrid(Grid):
    """Nodes ``FIRST_NODE_ID + i`` run ``client_app`` with ``node_configs[i]``.

    ``before_push``, when given, is called with every message before its node sees
    it and may mark nodes offline (to drop a node at a chosen stage).
    """

    def __init__(
        self,
        client_app: ClientApp,
        node_configs: Sequence[Mapping[str, object]],
        *,
        run_id: int = 1,
        run_config: Mapping[str, object] | None = None,
        before_push: Callable[[InProcessGrid, Message], None] | None = None,
    ) -> None:
        # Message() takes the run and node ids of the process it is made in.
        TaskIdentity.run_id = run_id
        TaskIdentity.node_id = SERVER_NODE_ID
        TaskIdentity.task_id = 1
        self._run = Run.create_empty(run_id)
        self.client_app = client_app
        self.contexts = {
            FIRST_NODE_ID + i: Context(
                run_id=run_id,
                node_id=FIRST_NODE_ID + i,
                node_config=dict(config),  # type: ignore[arg-type]
                state=RecordDict(),
                run_config=dict(run_config or {}),  # type: ignore[arg-type]
            )
            for i, config in enumerate(node_configs)
        }
        self.offline: set[int] = set()
        self.before_push = before_push
        self.traffic: list[Message] = []  # every instruction and reply, as delivered
        self._replies: dict[str, Message] = {}

    # -- Grid -----------------------------------------------------------------------

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return [node for node in self.contexts if node not in self.offline]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver each message to its node now; its reply waits to be pulled."""
        ids = []
        for message in messages:
            metadata = message.metadata
            if metadata.dst_node_id not in self.contexts or metadata.reply_to_message_id:
                raise ValueError(f"cannot push a message to node {metadata.dst_node_id}")
            metadata.__dict__["_message_id"] = str(uuid4())
            ids.append(metadata.message_id)
            if self.before_push is not None:
                self.before_push(self, message)
            if metadata.dst_node_id in self.offline:
                continue
            delivered = wire_copy(message)
            self.traffic.append(delivered)
            try:
                reply = self.client_app(delivered, self.contexts[metadata.dst_node_id])
            except Exception as exc:  # as a SuperNode reports a ClientApp that raised
                error = Error(code=CLIENT_APP_ERROR, reason=f"{type(exc).__name__}: {exc}")
                reply = Message(error, reply_to=delivered)
            reply.metadata.__dict__["_message_id"] = str(uuid4())
            back = wire_copy(reply)
            self.traffic.append(back)
            self._replies[metadata.message_id] = back
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(mid) for mid in list(message_ids) if mid in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Push, then pull until every reply is in or ``timeout`` seconds pass (an
        offline node never answers: with no timeout, return what arrived)."""
        pending = set(self.push_messages(messages))
        deadline = time.monotonic() + (timeout or 0.0)
        replies: list[Message] = []
        while pending:
            got = list(self.pull_messages(pending))
            replies += got
            pending -= {m.metadata.reply_to_message_id for m in got}
            if not pending or timeout is None or time.monotonic() >= deadline:
                break
            time.sleep(0.001)
        return replies
