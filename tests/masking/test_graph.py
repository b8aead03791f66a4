"""The neighbour graph and the sparse key lists built on it: a client computes its own
ring neighbours exactly as the server's one sort does, each key list holds only the
recipient and its neighbours, and a list naming anyone else is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.errors import KeyDigestError, UnknownClientError
from secagg.masking import ClientStage, Graph
from secagg.masking.graph import all_neighbourhoods, is_complete, ring_neighbours
from secagg.primitives.keyagreement import KeyPair

from .conftest import masking_config


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(3, 300),
    degree=st.integers(1, 30),
    session=st.binary(min_size=32, max_size=32),
    absent=st.sets(st.integers(1, 300), max_size=20),
)
def test_each_client_finds_the_neighbours_the_server_assigns(
    n: int, degree: int, session: bytes, absent: set[int]
) -> None:
    k = min(2 * degree, n - 1)
    config = masking_config(n=n, graph=Graph.HARARY, neighbours=k, threshold=k // 2 + 1)
    members = [c for c in range(1, n + 1) if c not in absent]
    graph = all_neighbourhoods(config, session, members)
    assert set(graph) == set(members)
    for c in members:
        mine = ring_neighbours(config, session, c)
        assert graph[c] == mine & set(members)
        assert c not in mine
        # Symmetric, and exactly k places on the ring (everyone else when complete).
        assert len(mine) == (n - 1 if is_complete(config) else k)
        assert all(c in ring_neighbours(config, session, v) for v in mine)


def test_the_ring_depends_on_the_session() -> None:
    config = masking_config(n=200, graph=Graph.HARARY, neighbours=8, threshold=5)
    views = {ring_neighbours(config, bytes([s]) * 32, 1) for s in range(5)}
    assert len(views) > 1


def test_a_key_list_holds_only_the_recipient_and_its_neighbours(make_round) -> None:
    r = make_round(n=40, graph=Graph.HARARY, neighbours=6, threshold=4)
    r.gone.add(3)  # vanishes before advertising: a neighbour that dropped
    broadcasts = r.advertise()
    digests = {b.key_digest for b in broadcasts.values()}
    assert len(digests) == 1  # one key set for the session
    session = r.server.session_id
    for c, b in broadcasts.items():
        listed = {cid for cid, _, _ in b.keys}
        assert listed == (ring_neighbours(r.config, session, c) - {3}) | {c}
        assert len(listed) <= 7
    outcome = r.unmask(r.upload(r.share(broadcasts)))
    survivors = [c for c in r.clients if c != 3]
    assert (outcome.aggregate == r.expected_sum(survivors)).all()


def test_a_key_list_naming_a_stranger_is_refused(make_round) -> None:
    r = make_round(n=30, graph=Graph.HARARY, neighbours=4, threshold=3)
    broadcasts = r.advertise()
    victim = 1
    mine = broadcasts[victim]
    listed = {cid for cid, _, _ in mine.keys}
    stranger = next(c for c in r.clients if c not in listed)
    extra = next(e for e in broadcasts[stranger].keys if e[0] == stranger)
    tampered = replace(mine, keys=tuple(sorted((*mine.keys, extra))))
    with pytest.raises(UnknownClientError):
        r.clients[victim].handle(tampered.encode())
    assert r.clients[victim].stage is ClientStage.ABORTED


def _harary_lists(make_round):
    r = make_round(n=40, graph=Graph.HARARY, neighbours=6, threshold=4)
    return r, r.advertise()


def _refused(r, client: int, broadcast) -> None:
    with pytest.raises(KeyDigestError):
        r.clients[client].handle(broadcast.encode())
    assert r.clients[client].stage is ClientStage.ABORTED


def test_a_substituted_neighbour_key_is_refused(make_round) -> None:
    r, lists = _harary_lists(make_round)
    b = lists[1]
    cid = next(c for c, _, _ in b.keys if c != 1)
    fresh = KeyPair.generate().public  # a key the server holds the private half of
    forged = tuple((c, e, fresh) if c == cid else (c, e, m) for c, e, m in b.keys)
    _refused(r, 1, replace(b, keys=forged))


def test_a_neighbour_that_advertised_cannot_be_shown_as_absent(make_round) -> None:
    r, lists = _harary_lists(make_round)
    b = lists[1]
    hidden = next(e for e in b.keys if e[0] != 1)
    _refused(r, 1, replace(b, keys=tuple(e for e in b.keys if e != hidden)))


def test_a_key_list_with_missing_or_foreign_paths_is_refused(make_round) -> None:
    r, lists = _harary_lists(make_round)
    b = lists[1]
    step = len(b.proofs) // 7  # the client and its 6 ring neighbours
    _refused(r, 1, replace(b, proofs=b.proofs[:-step]))
    _refused(r, 2, replace(lists[2], proofs=lists[3].proofs))


def test_a_complete_list_must_hash_to_its_digest(make_round) -> None:
    # SecAgg: every key is listed and the client rebuilds the tree; an old or made-up
    # digest (one that does not commit to this client's fresh keys) is refused.
    r = make_round(n=5)
    b = r.advertise()[1]
    _refused(r, 1, replace(b, key_digest=bytes(32)))
