"""The server's refusals: who gets dropped, and what is never lost.

The sender is the one the transport vouches for. A message naming someone else drops
its transport sender, never the named client; stale and copied messages change
nothing; a malformed message never removes what its sender had sent before; the
server can say what it waits for, and a stage closed on a deadline counts the silent
clients as dropped. Corrupt unmasking shares are corrected or abort the round, never
a silently wrong sum.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from secagg.errors import (
    DecodeError,
    SenderMismatchError,
    SessionMismatchError,
    StageError,
    UnexpectedMessageError,
    UnknownClientError,
    UnrecoverableSecretError,
)
from secagg.masking import MaskedInput, ServerStage, UnmaskingRequest, UnmaskingResponse
from secagg.primitives.shamir import PRIME


def test_a_message_in_another_clients_name_drops_its_transport_sender(make_round) -> None:
    r = make_round()
    broadcasts = r.advertise()
    replies = {c: r.clients[c].handle(b.encode()) for c, b in broadcasts.items()}
    # Client 6 relays client 2's (authentic) ShareKeys as if it were its own.
    with pytest.raises(SenderMismatchError):
        r.server.receive(6, replies[2])
    assert 6 in r.server.dropped and 2 not in r.server.dropped
    for c, data in replies.items():
        if c != 6:
            r.server.receive(c, data)
    with pytest.raises(UnknownClientError):
        r.server.receive(6, replies[6])  # dropped for good this round
    r.gone.add(6)
    from secagg.masking import ForwardedShares

    forwarded = {c: ForwardedShares.decode(d, r.config) for c, d in r.server.close().items()}
    outcome = r.unmask(r.upload(forwarded))
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(r.clients) - {6}))


def test_malformed_body_from_an_uploaded_client_keeps_its_upload(make_round) -> None:
    r = make_round()
    forwarded = r.share(r.advertise())
    uploads = {c: r.clients[c].handle(f.encode()) for c, f in forwarded.items()}
    for c, data in uploads.items():
        r.server.receive(c, data)
    # The header names client 3 (which uploaded) but the body is cut short.
    with pytest.raises(DecodeError):
        r.server.receive(3, uploads[3][:-5])
    requests = {c: UnmaskingRequest.decode(d, r.config) for c, d in r.server.close().items()}
    outcome = r.unmask(requests)
    assert 3 in outcome.survivors
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(r.clients)))


def test_messages_of_another_stage_change_nothing(make_round) -> None:
    r = make_round()
    broadcasts = r.advertise()
    with pytest.raises(UnexpectedMessageError):
        r.server.receive(2, r.sent["advertise"][2])  # a late copy of its AdvertiseKeys
    assert 2 not in r.server.dropped
    outcome = r.unmask(r.upload(r.share(broadcasts)))
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(r.clients)))


def test_a_replay_from_an_earlier_round_does_not_ban_the_client(make_round) -> None:
    r = make_round()
    forwarded = r.share(r.advertise())
    upload = r.clients[4].handle(forwarded[4].encode())
    stale = replace(MaskedInput.decode(upload, r.config), round=4, session_id=bytes(32))
    with pytest.raises(SessionMismatchError):
        r.server.receive(4, stale.encode())
    r.server.receive(4, upload)
    assert 4 in r.server.waiting().received


def test_senders_outside_the_round_are_refused(make_round) -> None:
    r = make_round()
    data = r.clients[1].start()
    for sender in (0, 8, -1, True, "1"):
        with pytest.raises(UnknownClientError):
            r.server.receive(sender, data)  # type: ignore[arg-type]


def test_waiting_and_closing_on_a_deadline(make_round) -> None:
    r = make_round(n=7, threshold=4)  # closing needs t + 1 = 5 clients at each stage
    server = r.server
    status = server.waiting()
    assert status.pending == frozenset(range(1, 8)) and not status.can_close
    assert status.needed == 5
    for c in (1, 2, 3, 4):
        server.receive(c, r.clients[c].start())
    status = server.waiting()
    assert status.received == frozenset({1, 2, 3, 4}) and status.needed == 1
    assert not status.can_close
    server.receive(5, r.clients[5].start())
    status = server.waiting()
    assert status.can_close and status.pending == frozenset({6, 7}) and not status.complete
    # The deadline passes: clients 6 and 7 never answered and count as dropped.
    from secagg.masking import KeyBroadcast

    r.gone |= {6, 7}
    broadcasts = {c: KeyBroadcast.decode(d, r.config) for c, d in server.close().items()}
    assert set(broadcasts) == {1, 2, 3, 4, 5}
    assert server.waiting().pending == frozenset({1, 2, 3, 4, 5})
    outcome = r.unmask(r.upload(r.share(broadcasts)))
    assert np.array_equal(outcome.aggregate, r.expected_sum({1, 2, 3, 4, 5}))
    assert outcome.dropped == (6, 7)
    assert server.finished and server.waiting().pending == frozenset()


def test_waiting_at_the_upload_stage_knows_when_unmasking_would_fail(make_round) -> None:
    r = make_round(n=7, threshold=4)
    forwarded = r.share(r.advertise())
    for c in (1, 2, 3, 4):
        r.server.receive(c, r.clients[c].handle(forwarded[c].encode()))
    assert not r.server.waiting().can_close  # a survivor needs t = 4 surviving neighbours
    r.server.receive(5, r.clients[5].handle(forwarded[5].encode()))
    assert r.server.waiting().can_close


def test_close_with_nothing_open_is_refused(make_round) -> None:
    r = make_round()
    r.run()
    with pytest.raises(StageError):
        r.server.close()
    with pytest.raises(StageError):
        r.server.receive(1, b"")


def _responses(r, requests):
    return {c: r.clients[c].unmask(q) for c, q in requests.items()}


def _corrupt(response: UnmaskingResponse, owner: int) -> UnmaskingResponse:
    def bump(items):
        return tuple((c, (y + 1) % PRIME if c == owner else y) for c, y in items)

    return replace(
        response,
        self_mask_shares=bump(response.self_mask_shares),
        key_shares=bump(response.key_shares),
    )


@pytest.mark.parametrize("secret", ["self mask", "key"])
def test_a_corrupt_share_is_found_with_the_redundancy_and_its_holder_flagged(
    make_round, secret
) -> None:
    # n = 9, t = 5: 7 responders hold a share of each secret, one more than t + 1, so one
    # wrong share is corrected: the sum is still exact.
    r = make_round(n=9, threshold=5)
    forwarded = r.share(r.advertise())
    target = 9
    if secret == "key":
        r.gone.add(target)  # its s^SK is reconstructed
    requests = r.upload(forwarded)
    responses = _responses(r, requests)
    liar = 2
    responses[liar] = _corrupt(responses[liar], target)
    for c, response in responses.items():
        r.server.receive(c, response.encode())
    r.server.close()
    survivors = set(r.clients) - ({target} if secret == "key" else set())
    assert np.array_equal(r.server.result.aggregate, r.expected_sum(survivors))
    assert liar in r.server.flagged


def test_corrupt_shares_beyond_the_redundancy_abort_the_round(make_round) -> None:
    r = make_round(n=7, threshold=4)  # 6 responders, t = 4: one error is correctable only
    requests = r.upload(r.share(r.advertise()))
    responses = _responses(r, requests)
    for liar in (2, 3):
        responses[liar] = _corrupt(responses[liar], 7)
    for c, response in responses.items():
        r.server.receive(c, response.encode())
    with pytest.raises(UnrecoverableSecretError):
        r.server.close()
    assert r.server.stage is ServerStage.ABORTED
