"""CPU-time accounting for simulated rounds: per party and per stage.

Thread CPU time (``time.thread_time``) rather than wall time, so that a simulation of
many parties in one process charges each party only for its own work, and a busy
machine inflates the numbers less.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

_T = TypeVar("_T")

SERVER = "server"
KEY_HOLDER = "keyholder"


class CpuLedger:
    """Accumulates CPU seconds by party (a client id, SERVER or KEY_HOLDER) and stage."""

    def __init__(self) -> None:
        self.by_party: defaultdict[int | str, float] = defaultdict(float)
        self.by_stage: defaultdict[str, float] = defaultdict(float)

    @contextmanager
    def charge(self, party: int | str, stage: str) -> Iterator[None]:
        start = time.thread_time()
        try:
            yield
        finally:
            self.add(party, stage, time.thread_time() - start)

    def run(self, party: int | str, stage: str, fn: Callable[[], _T]) -> _T:
        """Call ``fn`` and charge its thread CPU time; returns what it returns."""
        with self.charge(party, stage):
            return fn()

    def add(self, party: int | str, stage: str, seconds: float) -> None:
        """Charge ``seconds`` measured elsewhere (e.g. in a worker process)."""
        self.by_party[party] += seconds
        self.by_stage[stage] += seconds

    def merge(self, other: CpuLedger) -> None:
        """Add every charge of ``other`` to this ledger."""
        for party, seconds in other.by_party.items():
            self.by_party[party] += seconds
        for stage, seconds in other.by_stage.items():
            self.by_stage[stage] += seconds

    def clients(self) -> list[float]:
        return [v for p, v in self.by_party.items() if isinstance(p, int)]

    def client_median(self) -> float:
        values = self.clients()
        return statistics.median(values) if values else 0.0

    def client_max(self) -> float:
        return max(self.clients(), default=0.0)
