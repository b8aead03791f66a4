"""The key tree: a Merkle tree over the cohort's advertised keys. Its root is the key
digest that every session id hashes.

Security property: a client that sees only its neighbours' keys can still check that
the digest commits to its own fresh keys and to exactly the keys (or the absence) it
was shown for each ring neighbour, from one inclusion path per client it checks. The
session id is therefore unique to this execution of the round: the client's keys are
drawn fresh each time, so a signature or share from another execution never verifies
in this one. It is also common to every honest client: a client cannot be shown a
stale or substituted key, or a neighbour that advertised shown as absent, without its
digest, and hence its session, differing from the others'.

Leaf i (client id i, 1..n, then absent padding up to a power of two) hashes
``0x00 || "secagg/v1/key-leaf" || id u32 || (0x01 || c_pk || s_pk  or  0x00)``; an inner
node hashes ``0x01 || left || right`` (the prefixes keep leaves and nodes apart). A path
is the sibling hashes from the leaf up, ``depth`` of them, 32 bytes each.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping

HASH_BYTES = 32
_LEAF, _NODE = b"\x00", b"\x01"
_LABEL = b"secagg/v1/key-leaf"

Keys = tuple[bytes, bytes]


def depth(num_clients: int) -> int:
    """Levels above the leaves: the smallest d with 2^d >= n."""
    return max(num_clients - 1, 0).bit_length()


def leaf(client: int, keys: Keys | None) -> bytes:
    """The leaf of ``client``: its (encryption, masking) keys, or None if it did not
    advertise."""
    body = b"\x00" if keys is None else b"\x01" + keys[0] + keys[1]
    return hashlib.sha256(_LEAF + _LABEL + struct.pack(">I", client) + body).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


class KeyTree:
    """The server's tree over every advertised key of a cohort of ``num_clients``."""

    def __init__(self, num_clients: int, keys: Mapping[int, Keys]) -> None:
        size = 1 << depth(num_clients)
        level = [leaf(i, keys.get(i)) for i in range(1, size + 1)]
        self._levels = [level]
        while len(level) > 1:
            level = [_node(level[i], level[i + 1]) for i in range(0, len(level), 2)]
            self._levels.append(level)

    @property
    def root(self) -> bytes:
        return self._levels[-1][0]

    def path(self, client: int) -> bytes:
        """The sibling hashes from ``client``'s leaf up to the root."""
        position = client - 1
        return b"".join(
            level[(position >> height) ^ 1] for height, level in enumerate(self._levels[:-1])
        )


def root_of_path(client: int, keys: Keys | None, path: bytes) -> bytes:
    """The root that ``path`` leads to from ``client``'s leaf with ``keys``; compare it
    with the digest. ``path`` must hold whole hashes (the caller checks its length)."""
    value = leaf(client, keys)
    position = client - 1
    sha256 = hashlib.sha256  # this loop runs k log n times per client: no calls in it
    for start in range(0, len(path) - len(path) % HASH_BYTES, HASH_BYTES):
        sibling = path[start : start + HASH_BYTES]
        if position & 1:
            value = sha256(_NODE + sibling + value).digest()
        else:
            value = sha256(_NODE + value + sibling).digest()
        position >>= 1
    return value
