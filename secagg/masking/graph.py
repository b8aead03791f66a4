"""The neighbour graph: complete (SecAgg) or a randomly relabelled Harary graph (SecAgg+).

Each client shares its secrets with, and masks against, its neighbours only. The
SecAgg+ graph places the clients that advertised keys on a ring in an order derived
from the session id, and links each to the k/2 nearest on either side (Bell et al.,
CCS 2020). No single party picks the order: it depends on every advertised key.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from secagg.masking.config import Graph, MaskingConfig
from secagg.primitives.keyagreement import hkdf_sha256
from secagg.primitives.prg import expand


def _ring(config: MaskingConfig, session: bytes, members: Iterable[int]) -> list[int] | None:
    """Members in ring order, or None when the graph is complete."""
    ordered = sorted(members)
    if config.graph is Graph.COMPLETE or len(ordered) - 1 <= config.neighbours:
        return None
    seed = hkdf_sha256(session, salt=None, info=b"secagg/v1/graph", length=32)
    keys = expand(seed, len(ordered), 64, session)
    return [ordered[i] for i in np.argsort(keys, kind="stable")]


def neighbourhood(
    config: MaskingConfig, session: bytes, members: Iterable[int], client: int
) -> frozenset[int]:
    """Neighbours of ``client`` among ``members`` (the clients that advertised keys).

    If fewer than degree + 1 members remain, everyone is everyone's neighbour.
    """
    ring = _ring(config, session, members)
    if ring is None:
        return frozenset(members) - {client}
    pos = ring.index(client)
    half = config.neighbours // 2
    n = len(ring)
    return frozenset(ring[(pos + j) % n] for j in range(-half, half + 1) if j != 0)


def all_neighbourhoods(
    config: MaskingConfig, session: bytes, members: Iterable[int]
) -> dict[int, frozenset[int]]:
    """Every member's neighbourhood, computing the ring once (the server's view)."""
    ring = _ring(config, session, members)
    if ring is None:
        everyone = frozenset(members)
        return {c: everyone - {c} for c in everyone}
    half, n = config.neighbours // 2, len(ring)
    return {
        c: frozenset(ring[(p + j) % n] for j in range(-half, half + 1) if j != 0)
        for p, c in enumerate(ring)
    }
