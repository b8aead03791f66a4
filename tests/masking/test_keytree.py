"""The key tree: every client's path leads to the root from its own leaf, and from no
other leaf, keys or absence; the root commits to every key."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.masking.keytree import (
    LEVEL_BYTES,
    KeyTree,
    depth,
    first_unproven,
    leaf,
    root_of_path,
)


def _keys(n: int, absent: set[int]) -> dict[int, tuple[bytes, bytes]]:
    return {
        c: (bytes([c % 256]) * 32, bytes([(c * 7) % 256, 1]) * 16)
        for c in range(1, n + 1)
        if c not in absent
    }


@pytest.mark.parametrize(
    ("n", "levels"), [(1, 0), (2, 1), (4, 1), (5, 2), (16, 2), (17, 3), (10_000, 7)]
)
def test_depth_is_the_smallest_power_of_four_cover(n: int, levels: int) -> None:
    assert depth(n) == levels


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 70), absent=st.sets(st.integers(1, 70), max_size=10), data=st.data())
def test_every_path_leads_to_the_root_and_nothing_else_does(n, absent, data) -> None:
    keys = _keys(n, absent)
    tree = KeyTree(n, keys)
    for c in range(1, n + 1):
        path = tree.path(c)
        assert len(path) == depth(n) * LEVEL_BYTES
        assert root_of_path(c, keys.get(c), path) == tree.root
    c = data.draw(st.integers(1, n))
    path = tree.path(c)
    other = (bytes(32), bytes(32))
    # Other keys, absence instead of presence (or the reverse), another position.
    assert root_of_path(c, other, path) != tree.root
    assert root_of_path(c, None if c in keys else other, path) != tree.root
    if n > 1:
        d = data.draw(st.integers(1, n).filter(lambda x: x != c))
        assert root_of_path(d, keys.get(c), path) != tree.root
    if path:  # a flipped bit anywhere in the path
        i = data.draw(st.integers(0, len(path) - 1))
        flipped = path[:i] + bytes([path[i] ^ 1]) + path[i + 1 :]
        assert root_of_path(c, keys.get(c), flipped) != tree.root


def test_the_root_commits_to_every_key_and_to_absence() -> None:
    keys = _keys(9, {4})
    root = KeyTree(9, keys).root
    changed = dict(keys)
    changed[7] = (keys[7][0], bytes(32))
    assert KeyTree(9, changed).root != root
    assert KeyTree(9, {**keys, 4: (bytes(32), bytes(32))}).root != root
    assert leaf(4, None) != leaf(5, None)  # absent leaves are bound to their position


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(2, 300),
    absent=st.sets(st.integers(1, 300), max_size=20),
    data=st.data(),
)
def test_checking_paths_together_finds_what_checking_each_finds(n, absent, data) -> None:
    """Paths that meet below the root share their upper hashes: the batch check must
    still refuse exactly the claims that fail alone (the first of them), whatever is
    tampered with: a key, absence, a position, a bit of a path below or above the
    meeting point, or a whole path swapped for a neighbour's."""
    keys = _keys(n, absent)
    tree = KeyTree(n, keys)
    clients = sorted(data.draw(st.sets(st.integers(1, n), min_size=1, max_size=min(n, 30))))
    claims = [(c, keys.get(c), tree.path(c)) for c in clients]
    assert first_unproven(tree.root, claims) is None
    assert first_unproven(bytes(32), claims) == clients[0]
    i = data.draw(st.integers(0, len(claims) - 1))
    c, k, path = claims[i]
    tampering = data.draw(st.sampled_from(["keys", "absence", "bit", "swap", "position"]))
    if tampering == "keys":
        claims[i] = (c, (bytes(32), bytes(32)), path)
    elif tampering == "absence":
        claims[i] = (c, None if k is not None else (bytes(32), bytes(32)), path)
    elif tampering == "bit" and path:
        j = data.draw(st.integers(0, len(path) - 1))
        claims[i] = (c, k, path[:j] + bytes([path[j] ^ 0x80]) + path[j + 1 :])
    elif tampering == "swap" and len(claims) > 1:
        other = claims[(i + 1) % len(claims)][2]
        claims[i] = (c, k, other)
    elif tampering == "position" and len(clients) < n:
        d = data.draw(st.sampled_from([x for x in range(1, n + 1) if x not in clients]))
        claims[i] = (d, k, path)
    alone = [x for x, kk, p in claims if root_of_path(x, kk, p) != tree.root]
    assert first_unproven(tree.root, claims) == (alone[0] if alone else None)


def test_paths_of_other_lengths_are_each_checked_in_full() -> None:
    """Two claims that meet at a node but whose remaining bytes differ (a longer path,
    trailing bytes) are each hashed on by themselves: the result is root_of_path's."""
    keys = _keys(20, set())
    tree = KeyTree(20, keys)
    path = tree.path(5)
    claims = [(5, keys[5], path), (5, keys[5], path + bytes(7)), (6, keys[6], tree.path(6))]
    assert first_unproven(tree.root, claims) is None
    claims.append((6, keys[6], tree.path(6) + bytes(LEVEL_BYTES)))  # one level too many
    expected = [c for c, k, p in claims if root_of_path(c, k, p) != tree.root]
    assert expected == [6] and first_unproven(tree.root, claims) == 6
