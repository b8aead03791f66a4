"""A client refuses any unmasking request that could expose an individual input."""

from __future__ import annotations

from dataclasses import replace

import pytest

from secagg.errors import (
    AlreadyDroppedError,
    BothSharesRequestedError,
    DuplicateIdError,
    IncompleteRequestError,
    SelfShareRequestedError,
    StageError,
    TooFewSurvivorsError,
    UnknownNeighbourError,
)
from secagg.masking import ClientStage, Graph


def _requests(r, drop_before_shares=(), drop_before_upload=()):
    broadcasts = r.advertise()
    r.gone |= set(drop_before_shares)
    forwarded = r.share(broadcasts)
    r.gone |= set(drop_before_upload)
    return r.upload(forwarded)


def test_honest_request_is_answered(make_round) -> None:
    r = make_round()
    requests = _requests(r, drop_before_upload=[7])
    response = r.clients[1].unmask(requests[1])
    assert [c for c, _ in response.key_shares] == [7]
    assert [c for c, _ in response.self_mask_shares] == [2, 3, 4, 5, 6]


def test_both_shares_of_one_client(make_round) -> None:
    r = make_round()
    request = _requests(r, drop_before_upload=[7])[1]
    bad = replace(request, survivors=(*request.survivors, 7))
    with pytest.raises(BothSharesRequestedError):
        r.clients[1].unmask(bad)
    assert r.clients[1].stage is ClientStage.ABORTED
    with pytest.raises(StageError):
        r.clients[1].unmask(request)  # an aborted client answers nothing


def test_request_naming_the_client_itself(make_round) -> None:
    r = make_round()
    request = _requests(r)[1]
    with pytest.raises(SelfShareRequestedError):
        r.clients[1].unmask(replace(request, dropped=(1,)))


def test_duplicate_ids(make_round) -> None:
    r = make_round()
    request = _requests(r)[1]
    with pytest.raises(DuplicateIdError):
        r.clients[1].unmask(replace(request, survivors=(*request.survivors, request.survivors[0])))


def test_unknown_id(make_round) -> None:
    r = make_round(n=20, graph=Graph.HARARY)
    request = _requests(r)[1]
    stranger = min(set(r.clients) - r.server.neighbours_of(1) - {1})
    with pytest.raises(UnknownNeighbourError):
        r.clients[1].unmask(replace(request, dropped=(stranger,)))


def test_client_that_dropped_in_an_earlier_round_called_alive(make_round) -> None:
    r = make_round()
    request = _requests(r, drop_before_shares=[7])[1]
    assert 7 not in request.survivors + request.dropped
    with pytest.raises(AlreadyDroppedError):
        r.clients[1].unmask(replace(request, survivors=(*request.survivors, 7)))


def test_incomplete_request(make_round) -> None:
    r = make_round()
    request = _requests(r)[1]
    with pytest.raises(IncompleteRequestError):
        r.clients[1].unmask(replace(request, survivors=request.survivors[:-1]))


def test_too_few_survivors(make_round) -> None:
    r = make_round()  # n = 7, t = 4
    request = _requests(r)[1]
    everyone = request.survivors
    with pytest.raises(TooFewSurvivorsError):
        r.clients[1].unmask(replace(request, survivors=everyone[:2], dropped=everyone[2:]))


def test_rounds_must_run_in_order_and_a_step_out_of_order_aborts(make_round) -> None:
    r = make_round()
    client = r.clients[1]
    with pytest.raises(StageError):
        client.unmask(None)  # type: ignore[arg-type]
    assert client.stage is ClientStage.ABORTED  # a refused step leaves no second try
    with pytest.raises(StageError):
        client.advertise_keys()
    other = r.clients[2]
    other.advertise_keys()
    with pytest.raises(StageError):
        other.advertise_keys()
    assert other.stage is ClientStage.ABORTED
