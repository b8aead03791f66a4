"""The neighbour graph: complete (SecAgg) or a randomly relabelled Harary graph (SecAgg+).

Each client shares its secrets with, and masks against, its neighbours only. The
SecAgg+ graph places clients on a ring in a pseudorandom order and links each to the
k/2 nearest on either side (Bell et al., CCS 2020).

- Honest mode: the ring holds the clients that advertised keys, ordered from the
  session id. No single party picks the order: it depends on every advertised key.
- Malicious mode: the ring holds the whole cohort (1..n, the whole roster), ordered
  from the roster's digest alone, which commits to a ring seed the roster's issuer drew
  after every identity key was enrolled. The ring is fixed before any round: colluding
  clients re-drawing keys cannot move it, a server cannot grind it by choosing round
  numbers or other parameters, and a server leaving honest clients out of the key list
  cannot make anyone else a victim's neighbour (a client that did not advertise is a
  neighbour that dropped).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

from secagg.masking.config import Graph, MaskingConfig
from secagg.primitives.keyagreement import hkdf_sha256
from secagg.primitives.prg import expand


def _order(config: MaskingConfig, session: bytes, members: Iterable[int]) -> list[int] | None:
    """The members in ring order, or None when the graph is complete over them."""
    ordered = sorted(members)
    if config.graph is Graph.COMPLETE or len(ordered) - 1 <= config.neighbours:
        return None
    if config.malicious:
        # The roster's digest only (it commits to the issuer's ring seed): nothing a
        # server chooses per round (round number, degree, dimension) moves the ring.
        seed = hashlib.sha256(b"secagg/v2/graph-roster" + config.roster_digest).digest()
        context = b"secagg/v2/graph-roster"
    else:
        seed = hkdf_sha256(session, salt=None, info=b"secagg/v1/graph", length=32)
        context = session
    keys = expand(seed, len(ordered), 64, context)
    return [ordered[i] for i in np.argsort(keys, kind="stable")]


def _ring_members(config: MaskingConfig, members: Iterable[int]) -> list[int]:
    return list(range(1, config.num_clients + 1)) if config.malicious else sorted(members)


def _around(ring: list[int], position: int, half: int) -> frozenset[int]:
    n = len(ring)
    return frozenset(ring[(position + j) % n] for j in range(-half, half + 1) if j != 0)


def neighbourhood(
    config: MaskingConfig, session: bytes, members: Iterable[int], client: int
) -> frozenset[int]:
    """Neighbours of ``client`` among ``members`` (the clients that advertised keys).

    If the ring has no more than degree + 1 places, everyone is everyone's neighbour.
    """
    present = frozenset(members)
    everyone = _ring_members(config, present)
    ring = _order(config, session, everyone)
    if ring is None:
        return present - {client}
    return _around(ring, ring.index(client), config.neighbours // 2) & present


def all_neighbourhoods(
    config: MaskingConfig, session: bytes, members: Iterable[int]
) -> dict[int, frozenset[int]]:
    """Every member's neighbourhood, computing the ring once (the server's view)."""
    present = frozenset(members)
    ring = _order(config, session, _ring_members(config, present))
    if ring is None:
        return {c: present - {c} for c in present}
    half = config.neighbours // 2
    return {c: _around(ring, p, half) & present for p, c in enumerate(ring) if c in present}
