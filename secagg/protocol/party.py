"""The interface every party offers a transport: bytes in, bytes out.

A transport (the in-process simulator, Flower, sockets) owns timing, retries and who
sent what; the parties own the protocol and every check::

    for client in clients:                      # clients that speak first
        if (message := client.start()) is not None:
            server.receive(client.id, message)
    while not server.finished:
        # ... deliver client replies with server.receive(sender, data) until
        # server.waiting().can_close, or a deadline passes: a client that has not
        # answered by then counts as dropped ...
        for recipient, data in server.close().items():
            reply = clients[recipient].handle(data)   # bytes or None
            if reply is not None:
                server.receive(recipient, reply)
    result = server.result                      # the survivors' sum, nothing else

``sender`` in :meth:`ServerParty.receive` is the id the *transport* vouches for (an
authenticated channel); a message whose header names anyone else is refused, so no
client can speak, or get banned, in another's name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Waiting:
    """What a server's current stage is waiting for, so a transport can close it on a
    deadline.

    ``pending``: clients that may still send a message this stage (asked, not yet
    answered, not dropped). ``received``: clients whose message of this stage was
    accepted. ``needed``: how many more accepted messages closing needs (0 when
    ``can_close``). ``can_close``: :meth:`ServerParty.close` would succeed now rather
    than abort. Close as soon as ``pending`` is empty; close on a deadline otherwise.
    """

    stage: str
    pending: frozenset[int]
    received: frozenset[int]
    needed: int
    can_close: bool

    @property
    def complete(self) -> bool:
        """Nobody is left to wait for."""
        return not self.pending


@dataclass(frozen=True, eq=False)
class Outcome:
    """A finished round: the sum over ``survivors`` of their protected vectors in Z_{2^k}
    (layout of :mod:`secagg.weighting`), and the clients whose input is not in it."""

    aggregate: npt.NDArray[np.unsignedinteger]
    survivors: tuple[int, ...]
    dropped: tuple[int, ...]


@runtime_checkable
class ClientParty(Protocol):
    """A client (or key holder) of one round, driven one message at a time."""

    @property
    def id(self) -> int: ...

    @property
    def stage(self) -> enum.Enum: ...

    def start(self) -> bytes | None:
        """The client's first message, or None when it speaks only when spoken to."""
        ...

    def handle(self, data: bytes) -> bytes | None:
        """Answer one server message: the reply bytes, or None when none is due.

        Any refusal raises a SecAggError and aborts the client for good.
        """
        ...

    def abort(self) -> None: ...

    def save(self, *, key: bytes | None = None) -> bytes:
        """The client's whole state as bytes (it holds secrets: see secagg.protocol.state)."""
        ...


@runtime_checkable
class ServerParty(Protocol):
    """The server of one round: it collects, closes stages and returns the sum."""

    @property
    def stage(self) -> enum.Enum: ...

    @property
    def finished(self) -> bool:
        """True once the result is available (or the round aborted)."""
        ...

    def receive(self, sender: int, data: bytes) -> None:
        """Check and keep one message from the transport-authenticated ``sender``.

        Raises a MessageError subclass on refusal; a refused message never changes an
        accepted one.
        """
        ...

    def waiting(self) -> Waiting: ...

    def close(self) -> dict[int, bytes]:
        """End the current stage; return the messages to send, by recipient id.

        Raises AbortError (and aborts) when too few clients are left.
        """
        ...

    def abort(self) -> None: ...

    @property
    def result(self) -> Outcome: ...
