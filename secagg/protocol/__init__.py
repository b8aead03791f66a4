"""What every party shares: the transport interface (bytes in, bytes out), the one
state-machine idiom, saved state, and cost observers.

- :mod:`.party`: :class:`ClientParty` / :class:`ServerParty`, :class:`Waiting`,
  :class:`Outcome` (see docs/transport.md for a round over sockets).
- :mod:`.machine`: the transition-table :class:`Machine` every party is built on.
- :mod:`.state`: the versioned saved-state encoding and :class:`RestoreGuard`.
- :mod:`.observer`: :class:`Observer` for cost counts (no timing in the parties).
"""

from secagg.protocol.machine import Machine
from secagg.protocol.observer import Observer, Work, WorkCounter
from secagg.protocol.party import ClientParty, Outcome, ServerParty, Waiting
from secagg.protocol.state import PartyKind, RestoreGuard

__all__ = [
    "ClientParty",
    "Machine",
    "Observer",
    "Outcome",
    "PartyKind",
    "RestoreGuard",
    "ServerParty",
    "Waiting",
    "Work",
    "WorkCounter",
]
