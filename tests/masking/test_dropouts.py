"""Dropouts at every stage: survived up to the tolerable number, aborted one past it.

With the complete graph, n = 7 and t = 4, every survivor needs t live neighbours, so
n - t - 1 = 2 dropouts are tolerable at any stage and 3 abort the round. An abort must
reveal nothing individual: the server never receives both secrets' shares of a client.
"""

from __future__ import annotations

import numpy as np
import pytest

from secagg.errors import AbortError
from secagg.masking import Graph, UnmaskingResponse
from secagg.result import DropStage

N, T = 7, 4
TOLERABLE = N - T - 1


def _run_with_drops(r, stage: DropStage, dropped: set[int]):
    broadcasts = None
    if stage is DropStage.ADVERTISE_KEYS:
        r.gone |= dropped
    broadcasts = r.advertise()
    if stage is DropStage.SHARE_KEYS:
        r.gone |= dropped
    forwarded = r.share(broadcasts)
    if stage is DropStage.MASKED_INPUT:
        r.gone |= dropped
    requests = r.upload(forwarded)
    if stage is DropStage.UNMASKING:
        r.gone |= dropped
    return r.unmask(requests)


def _revealed(r) -> tuple[set[int], set[int]]:
    self_owners, key_owners = set(), set()
    for data in r.sent.get("unmask", {}).values():
        response = UnmaskingResponse.decode(data, r.config)
        self_owners |= {c for c, _ in response.self_mask_shares}
        key_owners |= {c for c, _ in response.key_shares}
    return self_owners, key_owners


@pytest.mark.parametrize("stage", list(DropStage))
@pytest.mark.parametrize("count", range(TOLERABLE + 1))
def test_tolerable_dropouts_give_the_exact_sum(make_round, stage: DropStage, count: int) -> None:
    r = make_round(n=N, threshold=T)
    dropped = set(range(N - count + 1, N + 1))  # the highest ids
    outcome = _run_with_drops(r, stage, dropped)
    expected_survivors = set(r.clients) - (dropped if stage is not DropStage.UNMASKING else set())
    assert set(outcome.survivors) == expected_survivors
    assert np.array_equal(outcome.aggregate, r.expected_sum(expected_survivors))


@pytest.mark.parametrize("stage", list(DropStage))
def test_one_dropout_past_the_tolerance_aborts_without_revealing(make_round, stage) -> None:
    r = make_round(n=N, threshold=T)
    with pytest.raises(AbortError):
        _run_with_drops(r, stage, set(range(1, TOLERABLE + 2)))
    self_owners, key_owners = _revealed(r)
    assert not self_owners & key_owners
    if stage is not DropStage.UNMASKING:
        assert "unmask" not in r.sent  # aborted before any share was requested


def test_dropouts_in_two_stages_at_once(make_round) -> None:
    r = make_round(n=9, threshold=5)
    broadcasts = r.advertise()
    r.gone.add(2)  # vanishes after AdvertiseKeys
    forwarded = r.share(broadcasts)
    r.gone.add(5)  # vanishes after ShareKeys: its pairwise masks must be removed
    requests = r.upload(forwarded)
    r.gone.add(8)  # uploads, then vanishes during Unmasking: its input still counts
    outcome = r.unmask(requests)
    assert set(outcome.survivors) == set(range(1, 10)) - {2, 5}
    assert np.array_equal(outcome.aggregate, r.expected_sum(outcome.survivors))


@pytest.mark.parametrize("stage", list(DropStage))
def test_secagg_plus_survives_a_few_dropouts_per_neighbourhood(make_round, stage) -> None:
    r = make_round(n=20, graph=Graph.HARARY)
    assert r.config.neighbours - 3 >= r.config.threshold
    dropped = {3, 11, 17}
    outcome = _run_with_drops(r, stage, dropped)
    survivors = set(r.clients) - (dropped if stage is not DropStage.UNMASKING else set())
    assert np.array_equal(outcome.aggregate, r.expected_sum(survivors))


def test_secagg_plus_aborts_when_a_neighbourhood_falls_below_t(make_round) -> None:
    r = make_round(n=20, graph=Graph.HARARY)
    broadcasts = r.advertise()
    forwarded = r.share(broadcasts)
    victim = 1
    neighbours = sorted(r.server.neighbours_of(victim))
    # Leave the victim fewer than t live neighbours.
    r.gone |= set(neighbours[: r.config.neighbours - r.config.threshold + 1])
    with pytest.raises(AbortError):
        r.upload(forwarded)
    assert "unmask" not in r.sent


@pytest.mark.parametrize("graph", [Graph.COMPLETE, Graph.HARARY])
def test_every_client_gone_before_upload_aborts(make_round, graph) -> None:
    r = make_round(n=N, graph=graph)
    forwarded = r.share(r.advertise())
    r.gone |= set(r.clients)
    with pytest.raises(AbortError, match="no masked input"):
        r.upload(forwarded)
    assert "unmask" not in r.sent


@pytest.mark.parametrize("protocol", ["secagg", "secagg+"])
def test_run_round_aborts_when_nobody_uploads(protocol: str) -> None:
    from secagg import run_round

    drops = dict.fromkeys(range(5), DropStage.MASKED_INPUT)
    with pytest.raises(AbortError):
        run_round(protocol, [np.zeros(4)] * 5, dropouts=drops)
