"""Cost reporting without timing code in the parties.

A party given an :class:`Observer` tells it how much of each kind of work it did (PRG
vectors expanded, key agreements, ciphertexts decrypted); the harness that wants CPU
seconds measures them around the party's calls. Parties never import the harness, and
nothing secret is ever reported: only counts.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from typing import Protocol, runtime_checkable


class Work(str, enum.Enum):
    """Kinds of work a party reports."""

    PRG_VECTORS = "prg_vectors"  # mask vectors of the protected length expanded
    KEY_AGREEMENTS = "key_agreements"  # X25519 exchanges
    ENCRYPTIONS = "encryptions"  # Paillier ciphertexts made
    DECRYPTIONS = "decryptions"  # Paillier ciphertexts decrypted
    SIGNATURE_CHECKS = "signature_checks"  # Ed25519 verifications (malicious mode)


@runtime_checkable
class Observer(Protocol):
    def count(self, party: int, stage: str, work: Work, amount: int) -> None:
        """``party`` (0 = server) did ``amount`` units of ``work`` in ``stage``."""
        ...


class WorkCounter:
    """An observer that adds up the counts by kind of work (and by party)."""

    def __init__(self) -> None:
        self.total: defaultdict[Work, int] = defaultdict(int)
        self.by_party: defaultdict[tuple[int, Work], int] = defaultdict(int)

    def count(self, party: int, stage: str, work: Work, amount: int) -> None:
        self.total[work] += amount
        self.by_party[party, work] += amount


def report(observer: Observer | None, party: int, stage: str, work: Work, amount: int) -> None:
    """Tell ``observer`` (if any) about some work."""
    if observer is not None and amount:
        observer.count(party, stage, work, amount)
