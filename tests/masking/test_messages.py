"""Malformed, truncated, replayed, duplicated and mis-addressed messages are refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from secagg.errors import (
    AbortError,
    AuthenticationError,
    DecodeError,
    DuplicateMessageError,
    MisaddressedMessageError,
    SessionMismatchError,
    StageError,
    UnknownClientError,
    UnknownNeighbourError,
)
from secagg.masking import (
    AdvertiseKeys,
    ForwardedShares,
    Graph,
    KeyBroadcast,
    MaskedInput,
    MaskingServer,
    ShareKeys,
    UnmaskingRequest,
    UnmaskingResponse,
)

KAT = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "kat.json").read_text())
CLIENT_TYPES = [AdvertiseKeys, ShareKeys, MaskedInput, UnmaskingResponse]


def test_known_answer_encodings() -> None:
    advertise = AdvertiseKeys(bytes(32), 3, 7, bytes([1]) * 32, bytes([2]) * 32)
    assert advertise.encode().hex() == KAT["advertise_keys"]
    masked = MaskedInput.pack(bytes([9]) * 32, 3, 7, 5, np.array([0, 31, 1], dtype=np.uint32))
    assert masked.encode().hex() == KAT["masked_input"]


def _full_round(r):
    broadcasts = r.advertise()
    forwarded = r.share(broadcasts)
    requests = r.upload(forwarded)
    r.unmask(requests)
    return broadcasts, forwarded, requests


@pytest.mark.parametrize("stage", ["advertise", "share", "upload", "unmask"])
def test_every_truncation_and_trailing_byte_is_refused(make_round, stage) -> None:
    r = make_round(dim=5)
    _full_round(r)
    mtype = CLIENT_TYPES[["advertise", "share", "upload", "unmask"].index(stage)]
    data = r.sent[stage][1]
    for cut in range(len(data)):
        with pytest.raises(DecodeError):
            mtype.decode(data[:cut], r.config)
    with pytest.raises(DecodeError):
        mtype.decode(data + b"\x00", r.config)


def test_server_messages_refuse_every_truncation_and_trailing_byte(make_round) -> None:
    r = make_round(dim=5)
    broadcasts, forwarded, requests = _full_round(r)
    for message in (broadcasts[1], forwarded[1], requests[1]):
        data = message.encode()
        for cut in range(len(data)):
            with pytest.raises(DecodeError):
                type(message).decode(data[:cut], r.config)
        with pytest.raises(DecodeError):
            type(message).decode(data + b"\x00", r.config)


@pytest.mark.parametrize("offset,value", [(0, 0x00), (2, 0x01), (2, 0x03), (3, 0x7F)])
def test_bad_magic_version_or_type(make_round, offset: int, value: int) -> None:
    r = make_round()
    data = bytearray(r.clients[1].advertise_keys().encode())
    data[offset] = value
    with pytest.raises(DecodeError):
        AdvertiseKeys.decode(bytes(data), r.config)


def test_out_of_range_fields_are_refused(make_round) -> None:
    r = make_round(dim=5)
    _full_round(r)
    upload = r.sent["upload"][1]
    masked = MaskedInput.decode(upload, r.config)
    for bad in (
        replace(masked, sender=99),
        replace(masked, bits=21),
        replace(masked, dim=4),  # same payload size: refused on the dimension alone
        replace(masked, payload=bytes(masked.payload)[:-1]),
    ):
        with pytest.raises(DecodeError):
            MaskedInput.decode(bad.encode(), r.config)


def test_nonzero_padding_is_refused(make_round) -> None:
    r = make_round(dim=5)
    _full_round(r)
    masked = MaskedInput.decode(r.sent["upload"][1], r.config)
    padded = masked.dim + 1  # element 6 of the padded vector lives in the packed words
    vector = np.zeros(padded, dtype=masked.vector().dtype)
    vector[-1] = 1
    forged = replace(masked, payload=MaskedInput.pack(b"", 0, 1, masked.bits, vector).payload)
    assert len(forged.payload) == len(masked.payload)
    with pytest.raises(DecodeError, match="padding"):
        MaskedInput.decode(forged.encode(), r.config)


def test_malformed_message_drops_its_sender(make_round) -> None:
    r = make_round()
    for c in r.alive():
        data = r.clients[c].advertise_keys().encode()
        if c == 3:
            with pytest.raises(DecodeError):
                r.server.receive_bytes(data[:-1])
        else:
            r.server.receive_bytes(data)
    broadcasts = r.server.close_keys()
    assert 3 not in broadcasts


def test_replay_from_another_round_is_refused_and_sender_dropped(make_round, entropy) -> None:
    r = make_round()
    data = r.clients[2].advertise_keys().encode()
    other_round = MaskingServer(r.config, round_number=6)
    with pytest.raises(SessionMismatchError):
        other_round.receive_bytes(data)
    from secagg.masking.config import announce_id

    fresh = replace(
        AdvertiseKeys.decode(data, r.config), session_id=announce_id(r.config, 6), round=6
    )
    with pytest.raises(UnknownClientError):  # counts as dropped for the rest of the round
        other_round.receive(fresh)


def test_replayed_masked_input_is_not_double_counted(make_round) -> None:
    r = make_round()
    broadcasts = r.advertise()
    forwarded = r.share(broadcasts)
    r.sent["upload"] = {}
    for c, f in forwarded.items():
        data = r.clients[c].masked_input(f, r.inputs[c]).encode()
        r.server.receive_bytes(data)
        r.sent["upload"][c] = data
    with pytest.raises(DuplicateMessageError):
        r.server.receive_bytes(r.sent["upload"][4])
    requests = r.server.close_inputs()
    # The first copy is already in the sum and stays; the sender counts as vanished
    # after upload: it is asked for nothing and its b_u comes from the others' shares.
    assert 4 not in requests
    assert all(
        4 in q.survivors for q in requests.values() if 4 in r.server.neighbours_of(q.recipient)
    )
    outcome = r.unmask(requests)
    assert 4 in outcome.survivors
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(r.clients)))


@pytest.mark.parametrize("replayers, aborts", [({4}, False), ({4, 5}, True)])
def test_senders_refused_after_upload_do_not_count_towards_t(make_round, replayers, aborts) -> None:
    # n = 5, t = 3: each client has 4 neighbours; a refused uploader stays in the sum but
    # cannot answer, so two of them leave every other survivor 2 < t possible responders.
    r = make_round(n=5, threshold=3)
    forwarded = r.share(r.advertise())
    uploads = {c: r.clients[c].masked_input(f, r.inputs[c]).encode() for c, f in forwarded.items()}
    for data in uploads.values():
        r.server.receive_bytes(data)
    for c in replayers:
        with pytest.raises(DuplicateMessageError):
            r.server.receive_bytes(uploads[c])
    if aborts:
        with pytest.raises(AbortError):
            r.server.close_inputs()
        return
    outcome = r.unmask(r.server.close_inputs())
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(r.clients)))


def test_duplicate_share_keys_drops_the_sender(make_round) -> None:
    r = make_round()
    broadcasts = r.advertise()
    messages = {c: r.clients[c].share_keys(b).encode() for c, b in broadcasts.items()}
    for data in messages.values():
        r.server.receive_bytes(data)
    with pytest.raises(DuplicateMessageError):
        r.server.receive_bytes(messages[2])
    forwarded = r.server.close_shares()
    assert 2 not in forwarded
    assert all(2 not in {s for s, _ in f.sealed} for f in forwarded.values())


def test_misaddressed_key_broadcast(make_round) -> None:
    r = make_round()
    broadcasts = r.advertise()
    with pytest.raises(MisaddressedMessageError):
        r.clients[3].share_keys(broadcasts[2])


def test_key_broadcast_with_altered_own_key(make_round) -> None:
    r = make_round()
    broadcasts = r.advertise()
    b = broadcasts[1]
    keys = list(b.keys)
    keys[0] = (1, keys[1][1], keys[0][2])  # client 1's encryption key replaced
    with pytest.raises(DecodeError):
        r.clients[1].share_keys(replace(b, keys=tuple(keys)))


def test_share_keys_to_non_neighbours(make_round) -> None:
    r = make_round()
    broadcasts = r.advertise()
    message = r.clients[1].share_keys(broadcasts[1])
    with pytest.raises(MisaddressedMessageError):
        r.server.receive(replace(message, sealed=message.sealed[:-1]))


def test_forwarded_share_moved_to_another_recipient(make_round) -> None:
    r = make_round()
    forwarded = r.share(r.advertise())
    stolen = forwarded[2].sealed[0]  # sealed by client 1 for client 2
    assert stolen[0] == 1
    bad = replace(forwarded[3], sealed=(stolen, *forwarded[3].sealed[1:]))
    with pytest.raises(AuthenticationError):
        r.clients[3].masked_input(bad, r.inputs[3])


def test_tampered_share_is_refused(make_round) -> None:
    r = make_round()
    forwarded = r.share(r.advertise())
    sender, blob = forwarded[2].sealed[0]
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    bad = replace(forwarded[2], sealed=((sender, tampered), *forwarded[2].sealed[1:]))
    with pytest.raises(AuthenticationError):
        r.clients[2].masked_input(bad, r.inputs[2])


def test_share_from_a_non_neighbour(make_round) -> None:
    from secagg.masking import Graph

    r = make_round(n=20, graph=Graph.HARARY)
    forwarded = r.share(r.advertise())
    stranger = min(set(r.clients) - r.server.neighbours_of(1) - {1})
    foreign = forwarded[stranger].sealed[0]
    bad = replace(
        forwarded[1], sealed=tuple(sorted((*forwarded[1].sealed, (stranger, foreign[1]))))
    )
    with pytest.raises(UnknownNeighbourError):
        r.clients[1].masked_input(bad, r.inputs[1])


def test_wrong_session_is_refused_by_the_client(make_round) -> None:
    r = make_round()
    forwarded = r.share(r.advertise())
    with pytest.raises(SessionMismatchError):
        r.clients[1].masked_input(replace(forwarded[1], session_id=bytes(32)), r.inputs[1])


def test_unmasking_request_round_trips_and_rejects_unsorted_ids(make_round) -> None:
    r = make_round()
    requests = r.upload(r.share(r.advertise()))
    request = requests[1]
    assert UnmaskingRequest.decode(request.encode(), r.config) == request
    with pytest.raises(DecodeError):
        replace(request, survivors=tuple(reversed(request.survivors))).encode()
    assert KeyBroadcast and ForwardedShares  # exported types


def test_server_checks_a_masked_input_built_in_process(make_round) -> None:
    r = make_round(dim=5)
    forwarded = r.share(r.advertise())
    good = r.clients[1].masked_input(forwarded[1], r.inputs[1])
    padded = np.zeros(good.dim + 1, dtype=good.vector().dtype)
    padded[-1] = 1
    forged_padding = replace(good, payload=MaskedInput.pack(b"", 0, 1, good.bits, padded).payload)
    for bad in (
        replace(good, payload=bytes(good.payload)[:-4]),
        replace(good, dim=good.dim - 1),
        replace(good, bits=good.bits - 1),
        forged_padding,
    ):
        server = r.server
        with pytest.raises(DecodeError):
            server.receive(bad)
        assert 1 in server._banned  # counted as dropped, nothing stored
        server._banned.discard(1)


def test_encoding_refuses_fields_of_the_wrong_length(make_round) -> None:
    # The fixed-size record layouts would otherwise pad or cut them silently.
    r = make_round()
    broadcasts = r.advertise()
    b = broadcasts[1]
    short_key = ((b.keys[0][0], b.keys[0][1][:-1], b.keys[0][2]), *b.keys[1:])
    with pytest.raises(DecodeError):
        replace(b, keys=short_key).encode()
    share = r.clients[1].share_keys(b)
    long_share = ((share.sealed[0][0], share.sealed[0][1] + b"\x00"), *share.sealed[1:])
    with pytest.raises(DecodeError):
        replace(share, sealed=long_share).encode()


def _uploads(r) -> dict[int, bytes]:
    forwarded = r.share(r.advertise())
    return {c: r.clients[c].masked_input(f, r.inputs[c]).encode() for c, f in forwarded.items()}


def _forged(r, sender: int) -> bytes:
    """A well-formed masked input under ``sender``'s id that the client never sent."""
    vector = np.zeros(r.config.dim, dtype=r.inputs[sender].dtype)
    return MaskedInput.pack(r.server.session_id, 5, sender, r.config.modulus_bits, vector).encode()


@pytest.mark.parametrize("order", ["forged first", "forged second", "forged, replayed, genuine"])
def test_two_different_masked_inputs_under_one_id_abort_the_round(make_round, order) -> None:
    # The first one is already in the running sum and cannot be taken out: continuing
    # would give a wrong sum whenever it was the forgery.
    r = make_round()
    uploads = _uploads(r)
    for c in (1, 2, 3):
        r.server.receive_bytes(uploads[c])
    forged = _forged(r, 4)
    sequence = {
        "forged first": [forged, uploads[4]],
        "forged second": [uploads[4], forged],
        "forged, replayed, genuine": [forged, forged, uploads[4]],
    }[order]
    r.server.receive_bytes(sequence[0])
    if len(sequence) == 3:
        with pytest.raises(DuplicateMessageError):
            r.server.receive_bytes(sequence[1])
    with pytest.raises(AbortError):
        r.server.receive_bytes(sequence[-1])
    with pytest.raises(StageError):
        r.server.close_inputs()


def test_stale_message_after_upload_keeps_the_input(make_round) -> None:
    r = make_round()
    uploads = _uploads(r)
    for data in uploads.values():
        r.server.receive_bytes(data)
    stale = replace(MaskedInput.decode(uploads[3], r.config), round=4)
    with pytest.raises(SessionMismatchError):
        r.server.receive(stale)
    requests = r.server.close_inputs()
    assert 3 not in requests
    outcome = r.unmask(requests)
    assert 3 in outcome.survivors
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(r.clients)))


def test_refused_uploader_next_to_a_dropped_client_on_a_sparse_graph(make_round) -> None:
    r = make_round(n=12, graph=Graph.HARARY, neighbours=6, threshold=4)
    forwarded = r.share(r.advertise())
    dropped = 7  # sent shares, never uploads: its neighbours' pairwise masks are recovered
    refused = min(r.server.neighbours_of(dropped))
    uploads = {
        c: r.clients[c].masked_input(f, r.inputs[c]).encode()
        for c, f in forwarded.items()
        if c != dropped
    }
    for data in uploads.values():
        r.server.receive_bytes(data)
    with pytest.raises(DuplicateMessageError):
        r.server.receive_bytes(uploads[refused])
    requests = r.server.close_inputs()
    assert refused not in requests
    outcome = r.unmask(requests)
    assert refused in outcome.survivors and dropped in outcome.dropped
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(r.clients) - {dropped}))
