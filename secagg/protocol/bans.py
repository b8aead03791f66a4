"""Which senders a server has dropped for a refused message, and why.

Security property: a refusal only ever drops the *transport's* sender (never a client
another message names), never removes what that sender had sent and the server had
accepted before, and is never triggered by harmless messages: a late or early message
of another stage, one from another session or round, or an exact copy of an accepted
one. Those are refused and change nothing, so replaying a client's authentic traffic
can never get it dropped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from secagg.codec import Header, MessageType, peek_header
from secagg.errors import (
    AbortError,
    ReplayedMessageError,
    SecAggError,
    SessionMismatchError,
    StageError,
    UnexpectedMessageError,
    UnknownClientError,
)

# Refusals that say nothing against the sender: late, stale or copied messages, and
# errors that are not about the message at all.
HARMLESS = (
    UnexpectedMessageError,
    SessionMismatchError,
    ReplayedMessageError,
    StageError,
    AbortError,
)


class Bans:
    """Senders dropped for the rest of the round, with the reason."""

    def __init__(self) -> None:
        self._why: dict[int, str] = {}

    def __contains__(self, sender: object) -> bool:
        return sender in self._why

    @property
    def reasons(self) -> Mapping[int, str]:
        return dict(self._why)

    def check(self, sender: int) -> None:
        """Raise UnknownClientError if ``sender`` was dropped earlier this round."""
        if sender in self._why:
            raise UnknownClientError(
                f"client {sender} was dropped: {self._why[sender]}", sender=sender
            )

    @contextmanager
    def judging(self, sender: int) -> Iterator[None]:
        """Drop ``sender`` when the receiving step refuses its message for a reason
        that counts against it; let every refusal propagate."""
        try:
            yield
        except HARMLESS:
            raise
        except SecAggError as exc:
            self._why.setdefault(sender, f"{type(exc).__name__}: {exc}")
            raise


def check_sender(sender: object, cohort: range | tuple[int, ...] | frozenset[int]) -> int:
    """The transport's sender id, which must be a client of the round. Raises
    UnknownClientError (and drops nobody: the id is not a client)."""
    if isinstance(sender, bool) or not isinstance(sender, int) or sender not in cohort:
        raise UnknownClientError(f"sender {sender!r} is not a client of this round")
    return sender


def screen(
    data: object, expected: MessageType, *, session: bytes | None, round_number: int
) -> Header:
    """The header of a message, checked before its body is read: a well-formed message
    of another type (UnexpectedMessageError) or from another session or round
    (SessionMismatchError; ``session`` None skips the session check) is refused here,
    as harmless, whatever its body holds, so an authentic message of an earlier round
    (whose body may not fit this round's configuration) never counts against its
    sender. Raises DecodeError for bytes that are not a message."""
    header = peek_header(data)
    if header.type is not expected:
        raise UnexpectedMessageError(
            f"expected a {expected.name} message, got {header.type.name}", sender=header.sender
        )
    if header.round != round_number or (session is not None and header.session_id != session):
        raise SessionMismatchError("message from another session or round", sender=header.sender)
    return header
