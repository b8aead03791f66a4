"""Splitting a round's sampled clients into groups by a public seed.

The robust secure mode runs one secure aggregation per group, so the server learns one
sum per group instead of one for the round. The split must be public (every client can
check it) and not chosen by anyone who knows which clients are Byzantine: it is a
SHA-256 permutation of the positions keyed by a public seed and the round number, fixed
before the cohort is known.
"""

from __future__ import annotations

import hashlib
import struct

from secagg.errors import ConfigurationError

MIN_GROUP_SIZE = 2  # a group of one would release that client's update in the clear

_DOMAIN = b"secagg/robust/groups/v1"


def assign_groups(
    clients: int, groups: int, *, seed: bytes = b"", round_number: int = 0,
    min_size: int = MIN_GROUP_SIZE,
) -> tuple[tuple[int, ...], ...]:
    """Positions 0..clients-1 split into ``groups`` groups whose sizes differ by at most
    one, each sorted, by a permutation derived from ``seed`` and ``round_number``.

    Raises ConfigurationError when a group would have fewer than ``min_size`` clients
    (``min_size`` itself must be at least 2: the server learns every group's sum).
    """
    for name, value, low in (("clients", clients, 1), ("groups", groups, 1),
                             ("min_size", min_size, MIN_GROUP_SIZE),
                             ("round_number", round_number, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigurationError(f"{name} must be an integer of at least {low}, got {value!r}")
    if not isinstance(seed, bytes):
        raise ConfigurationError("the group seed must be bytes")
    if clients // groups < min_size:
        raise ConfigurationError(
            f"{clients} clients in {groups} groups leave a group of {clients // groups}; "
            f"each group needs at least {min_size} clients (the server learns each "
            f"group's sum)"
        )
    key = hashlib.sha256(_DOMAIN + struct.pack(">Q", round_number) + seed).digest()
    order = sorted(
        range(clients),
        key=lambda i: hashlib.sha256(key + struct.pack(">Q", i)).digest(),
    )
    base, extra = divmod(clients, groups)
    out = []
    start = 0
    for g in range(groups):
        size = base + (g < extra)
        out.append(tuple(sorted(order[start : start + size])))
        start += size
    return tuple(out)
