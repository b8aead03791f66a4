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

The tree is 4-ary: a path is 3 sibling hashes per level, but there are half as many
levels as in a binary tree, so a client hashes half as often (it checks k + 1 paths).
Leaf i (client id i, 1..n, then absent padding up to a power of four) hashes
``0x00 || "secagg/v1/key-leaf" || id u32 || (0x01 || c_pk || s_pk  or  0x00)``; an inner
node hashes ``0x01 || child 0 || child 1 || child 2 || child 3`` (the prefixes keep
leaves and nodes apart). A path is, from the leaf up, the 3 siblings of each level in
child order, ``depth`` levels of 96 bytes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence

HASH_BYTES = 32
ARITY = 4
LEVEL_BYTES = (ARITY - 1) * HASH_BYTES  # one level of a path
_LEAF, _NODE = b"\x00", b"\x01"
_LABEL = b"secagg/v1/key-leaf"

Keys = tuple[bytes, bytes]


def depth(num_clients: int) -> int:
    """Levels above the leaves: the smallest d with 4^d >= n."""
    return (max(num_clients - 1, 0).bit_length() + 1) // 2


def leaf(client: int, keys: Keys | None) -> bytes:
    """The leaf of ``client``: its (encryption, masking) keys, or None if it did not
    advertise."""
    body = b"\x00" if keys is None else b"\x01" + keys[0] + keys[1]
    return hashlib.sha256(_LEAF + _LABEL + struct.pack(">I", client) + body).digest()


def _node(children: list[bytes]) -> bytes:
    return hashlib.sha256(_NODE + b"".join(children)).digest()


class KeyTree:
    """The server's tree over every advertised key of a cohort of ``num_clients``."""

    def __init__(self, num_clients: int, keys: Mapping[int, Keys]) -> None:
        size = ARITY ** depth(num_clients)
        level = [leaf(i, keys.get(i)) for i in range(1, size + 1)]
        self._levels = [level]
        self._paths: dict[int, bytes] = {}
        while len(level) > 1:
            level = [_node(level[i : i + ARITY]) for i in range(0, len(level), ARITY)]
            self._levels.append(level)

    @property
    def root(self) -> bytes:
        return self._levels[-1][0]

    def path(self, client: int) -> bytes:
        """The sibling hashes from ``client``'s leaf up to the root (kept: the server
        sends each client's path to it and to each of its k neighbours)."""
        cached = self._paths.get(client)
        if cached is not None:
            return cached
        parts = []
        position = client - 1
        for level in self._levels[:-1]:
            first = position - position % ARITY
            parts += [level[i] for i in range(first, first + ARITY) if i != position]
            position //= ARITY
        self._paths[client] = path = b"".join(parts)
        return path


def root_of_path(client: int, keys: Keys | None, path: bytes) -> bytes:
    """The root that ``path`` leads to from ``client``'s leaf with ``keys``; compare it
    with the digest. ``path`` must hold whole levels (the caller checks its length)."""
    value = leaf(client, keys)
    position = client - 1
    sha256 = hashlib.sha256  # this loop runs per level of k + 1 paths: no calls in it
    for start in range(0, len(path) - len(path) % LEVEL_BYTES, LEVEL_BYTES):
        at = start + (position % ARITY) * HASH_BYTES  # where this node sits among them
        value = sha256(_NODE + path[start:at] + value + path[at : start + LEVEL_BYTES]).digest()
        position //= ARITY
    return value


def first_unproven(digest: bytes, claims: Sequence[tuple[int, Keys | None, bytes]]) -> int | None:
    """The first client of ``claims`` (client, keys or None, path) whose path does not
    lead from its leaf to ``digest``, or None when every one does.

    Exactly as if :func:`root_of_path` were compared with ``digest`` for each claim, but
    the paths of nearby clients meet below the root: once a path reaches a node that an
    earlier, verified path reached with the same value and the same bytes above it,
    its remaining hashes would repeat that path's, so they are skipped (any difference,
    in a sibling or in length, and the path is hashed on by itself)."""
    seen: dict[tuple[int, int], tuple[bytes, bytes, int]] = {}
    sha256 = hashlib.sha256
    for client, keys, path in claims:
        value = leaf(client, keys)
        position = client - 1
        starts = range(0, len(path) - len(path) % LEVEL_BYTES, LEVEL_BYTES)
        for level, start in enumerate(starts):
            earlier = seen.get((level, position))
            if earlier is None:
                seen[(level, position)] = (value, path, start)
            else:
                known, other, other_start = earlier
                if value == known and path[start:] == other[other_start:]:
                    break  # the rest is an earlier verified path's computation
            at = start + (position % ARITY) * HASH_BYTES
            value = sha256(_NODE + path[start:at] + value + path[at : start + LEVEL_BYTES]).digest()
            position //= ARITY
        else:
            if value != digest:
                return client
    return None
