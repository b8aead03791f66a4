"""The neighbour graph: complete (SecAgg) or a randomly relabelled Harary graph (SecAgg+).

Each client shares its secrets with, and masks against, its neighbours only. The
SecAgg+ graph places the whole cohort (ids 1..n) on a ring in a pseudorandom order and
links each client to the k/2 nearest on either side (Bell et al., CCS 2020). A client
that did not advertise keys keeps its place: it is a neighbour that dropped.

The ring order sorts the ids by a 64-bit key, a 32-bit PRG word per id in the high half
and the id itself in the low half, so no two keys tie and a client finds its own k
neighbours with a linear pass over n words (no sort, no list of keys): both sides
compute the same graph from the seed alone, and the key list the server sends each
client holds its neighbours only.

- Honest mode: the seed comes from the session id, which commits to every advertised
  key (through the server's key digest): the order is fixed only once every client
  has drawn its keys, so no client can aim for a place next to a victim.
- Malicious mode: the seed comes from the roster's digest alone, which commits to a
  ring seed the roster's issuer drew after every identity key was enrolled. The ring is
  fixed before any round: colluding clients re-drawing keys cannot move it, a server
  cannot grind it by choosing round numbers or other parameters, and a server leaving
  honest clients out of the key lists cannot make anyone else a victim's neighbour.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from secagg.masking.config import Graph, MaskingConfig
from secagg.primitives.keyagreement import hkdf_sha256
from secagg.primitives.prg import expand


def is_complete(config: MaskingConfig) -> bool:
    """True when everyone is everyone's neighbour: SecAgg, or a ring with no more than
    degree + 1 places."""
    return config.graph is Graph.COMPLETE or config.num_clients - 1 <= config.neighbours


def _ring_keys(config: MaskingConfig, session: bytes) -> npt.NDArray[np.uint64]:
    """Client id i's sort key at index i - 1: PRG word << 32 | id (distinct for ids < 2^32)."""
    if config.malicious:
        # The roster's digest only (it commits to the issuer's ring seed): nothing a
        # server chooses per round (round number, degree, dimension) moves the ring.
        seed = hashlib.sha256(b"secagg/v2/graph-roster" + config.roster_digest).digest()
        context = b"secagg/v2/graph-roster"
    else:
        seed = hkdf_sha256(session, salt=None, info=b"secagg/v1/graph", length=32)
        context = session
    n = config.num_clients
    words = expand(seed, n, 32, context).astype(np.uint64)
    return (words << np.uint64(32)) | np.arange(1, n + 1, dtype=np.uint64)


def ring_neighbours(config: MaskingConfig, session: bytes, client: int) -> frozenset[int]:
    """The ``config.neighbours`` places around ``client`` on the ring of the whole
    cohort, whether or not they advertised keys (everyone else for a complete graph).
    O(n) vectorized words, no sort: what one client computes."""
    n = config.num_clients
    if is_complete(config):
        return frozenset(range(1, n + 1)) - {client}
    keys = _ring_keys(config, session)
    mine = keys[client - 1]
    half = config.neighbours // 2
    found: set[int] = set()
    # Distance to each key going up the ring, then going down; both wrap mod 2^64, so
    # the ring's end joins its start. Own distance is 0: take half + 1, drop self.
    for distance in (keys - mine, mine - keys):
        nearest = np.argpartition(distance, half)[: half + 1]
        found.update(int(i) + 1 for i in nearest)
    found.discard(client)
    return frozenset(found)


def neighbourhood(
    config: MaskingConfig, session: bytes, members: Iterable[int], client: int
) -> frozenset[int]:
    """Neighbours of ``client`` among ``members`` (the clients that advertised keys)."""
    return ring_neighbours(config, session, client) & frozenset(members)


def all_ring_neighbours(config: MaskingConfig, session: bytes) -> dict[int, frozenset[int]]:
    """Every client's :func:`ring_neighbours`, sorting the ring once (the server's view)."""
    n = config.num_clients
    if is_complete(config):
        everyone = frozenset(range(1, n + 1))
        return {c: everyone - {c} for c in everyone}
    ring = [int(i) + 1 for i in np.argsort(_ring_keys(config, session))]
    half = config.neighbours // 2
    return {
        c: frozenset(ring[(p + j) % n] for j in range(-half, half + 1) if j != 0)
        for p, c in enumerate(ring)
    }


def all_neighbourhoods(
    config: MaskingConfig, session: bytes, members: Iterable[int]
) -> dict[int, frozenset[int]]:
    """Every member's neighbourhood (the server's view); equal to :func:`neighbourhood`
    for each member."""
    present = frozenset(members)
    if is_complete(config):  # no ring of n sets of n - 1 to intersect
        return {c: present - {c} for c in present}
    ring = all_ring_neighbours(config, session)
    return {c: ring[c] & present for c in present}
