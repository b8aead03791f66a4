"""The one state-machine idiom every party uses: a stage enum, an explicit transition
table, a read-only stage, and a per-stage record holding exactly the state that exists
from that stage on.

Security property: a party is one-shot and ordered. An operation outside its stage
raises :class:`~secagg.errors.StageError`; a refusal inside ``Machine._refusing``
moves the party to its aborted stage through the table and drops the stage record (and
the secrets in it), so a refused message never leaves the party able to accept a second
try. State is committed only by ``Machine._advance``, after every check passed.

A party bound to a :class:`~secagg.protocol.state.RestoreGuard` (``Machine._bind``)
records every step it takes in the guard as it takes it, before its reply leaves: a
saved copy of an earlier step can then never be restored and driven a second way.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from secagg.errors import SecAggError, StageError

if TYPE_CHECKING:
    from secagg.protocol.state import RestoreGuard

S = TypeVar("S", bound=enum.Enum)
R = TypeVar("R")


class Machine(Generic[S]):
    """Base of every party.

    Subclasses set ``_TRANSITIONS`` (stage -> the stages it may move to) and ``_ABORTED``
    (the aborted stage, reachable from every stage that lists it). The stage record is
    any object (a frozen dataclass per stage, or None where a stage holds nothing).
    """

    _TRANSITIONS: ClassVar[Mapping[Any, frozenset[Any]]] = {}
    _ABORTED: ClassVar[Any]

    def __init__(self, start: S, record: object = None) -> None:
        self.__stage = start
        self.__record = record
        self.__lineage = b""
        self.__guard: RestoreGuard | None = None

    @property
    def progress(self) -> int:
        """How far the party has got, as the index of its stage in the stage enum. Only
        grows (the aborted stage is last), so it orders any two saved copies."""
        stage = self.__stage
        return list(type(stage)).index(stage)

    def _bind(self, lineage: bytes, guard: RestoreGuard | None) -> None:
        """Record this party's progress under ``lineage`` in ``guard`` from now on.
        Raises StateRollbackError if the guard has seen a later step of the lineage (a
        restored copy behind the client's progress)."""
        self.__lineage, self.__guard = lineage, guard
        if guard is not None:
            guard.claim(lineage, self.progress, taking=False)

    def _on_progress(self) -> None:
        """Called after every step; claims the new progress in the bound guard."""
        if self.__guard is not None:
            self.__guard.claim(self.__lineage, self.progress)

    @property
    def stage(self) -> S:
        """The current stage, read-only (only the transition table moves it)."""
        return self.__stage

    @property
    def aborted(self) -> bool:
        return self.__stage is self._ABORTED

    def _require(self, *stages: S) -> None:
        if self.__stage not in stages:
            wanted = " or ".join(s.name for s in stages)
            raise StageError(f"{type(self).__name__} is {self.__stage.name}, not {wanted}")

    def _record(self, kind: type[R]) -> R:
        """The current stage's record, which must be a ``kind``."""
        record = self.__record
        if not isinstance(record, kind):
            raise StageError(
                f"{type(self).__name__} holds no {kind.__name__} in {self.__stage.name}"
            )
        return record

    def _advance(self, to: S, record: object = None) -> None:
        """Commit: move to ``to`` with its record (the previous record is dropped)."""
        if to not in self._TRANSITIONS.get(self.__stage, frozenset()):
            raise StageError(f"no transition {self.__stage.name} -> {to.name}")
        self.__stage = to
        self.__record = record
        self._on_progress()

    def _update(self, record: object) -> None:
        """Replace the current stage's record without a transition (an input supplied
        late): not a step, so the guard records nothing."""
        self.__record = record

    def abort(self) -> None:
        """Move to the aborted stage and forget the stage record (and its secrets).

        Idempotent; a party that already finished stays finished.
        """
        if self._ABORTED in self._TRANSITIONS.get(self.__stage, frozenset()):
            self.__stage = self._ABORTED
            self.__record = None
            # An aborted party is its lineage's last step: no saved copy comes back.
            with suppress(SecAggError):
                self._on_progress()

    @contextmanager
    def _refusing(self) -> Iterator[None]:
        """Run a step; any SecAggError inside aborts the party, then propagates."""
        try:
            yield
        except SecAggError:
            self.abort()
            raise


def transitions(
    order: list[S], aborted: S, *, extra: Mapping[S, frozenset[S]] | None = None
) -> dict[S, frozenset[S]]:
    """A linear table: each stage moves to the next in ``order`` or to ``aborted``.

    The last stage of ``order`` is terminal; ``extra`` adds further edges.
    """
    table: dict[S, frozenset[S]] = {
        stage: frozenset({nxt, aborted}) for stage, nxt in itertools.pairwise(order)
    }
    for stage, more in (extra or {}).items():
        table[stage] = table.get(stage, frozenset()) | more
    return table
