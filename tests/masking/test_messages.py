"""Malformed, truncated, replayed, duplicated and mis-addressed messages are refused."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from secagg.codec import SERVER_ID, Header, MessageType, Writer
from secagg.errors import (
    AbortError,
    AuthenticationError,
    DecodeError,
    DuplicateMessageError,
    EncodeError,
    MisaddressedMessageError,
    SessionMismatchError,
    StageError,
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


def _raw_masked_input(masked: MaskedInput, *, length: int, bits: int, payload: bytes) -> bytes:
    """A masked input whose fields are written as given, bypassing the encoder's checks."""
    header = Header(MessageType.MASKED_INPUT, masked.session_id, masked.round, masked.sender, SERVER_ID)
    return Writer(header).u8(bits).u32(length).fixed(payload).getvalue()


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


@pytest.mark.parametrize("offset,value", [(0, 0x00), (2, 0x01), (2, 0x03), (2, 0x05), (3, 0x7F)])
def test_bad_magic_version_or_type(make_round, offset: int, value: int) -> None:
    r = make_round()
    data = bytearray(r.clients[1].start())
    data[offset] = value
    with pytest.raises(DecodeError):
        AdvertiseKeys.decode(bytes(data), r.config)


def test_out_of_range_fields_are_refused(make_round) -> None:
    r = make_round(dim=5)
    _full_round(r)
    upload = r.sent["upload"][1]
    masked = MaskedInput.decode(upload, r.config)
    payload = bytes(masked.payload)
    for bad in (
        replace(masked, sender=99).encode(),
        _raw_masked_input(masked, length=masked.length, bits=21, payload=payload),
        # same payload size: refused on the length alone
        _raw_masked_input(masked, length=masked.length - 1, bits=masked.bits, payload=payload),
        _raw_masked_input(masked, length=masked.length, bits=masked.bits, payload=payload[:-1]),
    ):
        with pytest.raises(DecodeError):
            MaskedInput.decode(bad, r.config)


def test_nonzero_padding_is_refused(make_round) -> None:
    r = make_round(dim=5)
    _full_round(r)
    masked = MaskedInput.decode(r.sent["upload"][1], r.config)
    padded = masked.length + 1  # element 7 of the padded vector lives in the packed words
    vector = np.zeros(padded, dtype=masked.vector().dtype)
    vector[-1] = 1
    forged = replace(masked, payload=MaskedInput.pack(b"", 0, 1, masked.bits, vector).payload)
    assert len(forged.payload) == len(masked.payload)
    with pytest.raises(DecodeError, match="padding"):
        MaskedInput.decode(forged.encode(), r.config)


def test_malformed_message_drops_its_sender(make_round) -> None:
    r = make_round()
    for c in r.alive():
        data = r.clients[c].start()
        if c == 3:
            with pytest.raises(DecodeError):
                r.server.receive(3, data[:-1])
            with pytest.raises(Exception, match="dropped"):
                r.server.receive(3, data)  # no second try
        else:
            r.server.receive(c, data)
    assert 3 not in r.server.close()
    assert 3 in r.server.dropped


def test_replay_from_another_round_is_refused_without_dropping_the_client(make_round) -> None:
    # A stale copy of a client's authentic message is not evidence against the client:
    # it is refused and changes nothing, and the client's real message still counts.
    from .conftest import masking_config

    r = make_round()
    old = r.clients[2].start()
    later = MaskingServer(masking_config(round_number=6))
    with pytest.raises(SessionMismatchError):
        later.receive(2, old)
    from secagg.masking import MaskingClient

    fresh = MaskingClient(later.config, 2, r.inputs[2]).start()
    later.receive(2, fresh)
    assert 2 in later.waiting().received


def test_replayed_masked_input_is_not_double_counted(make_round) -> None:
    r = make_round()
    forwarded = r.share(r.advertise())
    r.sent["upload"] = {}
    for c, f in forwarded.items():
        data = r.clients[c].handle(f.encode())
        r.server.receive(c, data)
        r.sent["upload"][c] = data
    with pytest.raises(DuplicateMessageError):
        r.server.receive(4, r.sent["upload"][4])
    requests = {c: UnmaskingRequest.decode(d, r.config) for c, d in r.server.close().items()}
    assert 4 in requests  # an exact copy changes nothing: client 4 is still in
    outcome = r.unmask(requests)
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(r.clients)))


@pytest.mark.parametrize("refused, aborts", [({4}, False), ({4, 5}, True)])
def test_senders_refused_after_upload_do_not_count_towards_t(make_round, refused, aborts) -> None:
    # n = 5, t = 3: each client has 4 neighbours; a refused uploader stays in the sum but
    # cannot answer, so two of them leave every other survivor 2 < t possible responders.
    r = make_round(n=5, threshold=3)
    forwarded = r.share(r.advertise())
    for c, f in forwarded.items():
        r.server.receive(c, r.clients[c].handle(f.encode()))
    for c in refused:
        with pytest.raises(DecodeError):
            r.server.receive(c, b"not a message")  # gets client c dropped
    if aborts:
        assert not r.server.waiting().can_close
        with pytest.raises(AbortError):
            r.server.close()
        return
    requests = {c: UnmaskingRequest.decode(d, r.config) for c, d in r.server.close().items()}
    assert 4 not in requests
    outcome = r.unmask(requests)
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(r.clients)))


def test_second_different_share_keys_drops_the_sender_but_keeps_its_shares(make_round) -> None:
    r = make_round()
    broadcasts = r.advertise()
    messages = {c: r.clients[c].handle(b.encode()) for c, b in broadcasts.items()}
    for c, data in messages.items():
        r.server.receive(c, data)
    with pytest.raises(DuplicateMessageError):
        r.server.receive(2, messages[2])  # an exact copy: refused, nothing changes
    assert 2 not in r.server.dropped
    first = ShareKeys.decode(messages[2], r.config)
    with pytest.raises(DuplicateMessageError):
        r.server.receive(2, replace(first, commitment=bytes(32)).encode())
    assert 2 in r.server.dropped
    forwarded = {c: ForwardedShares.decode(d, r.config) for c, d in r.server.close().items()}
    # Its accepted shares were forwarded; it will count as dropped before upload.
    assert all(2 in {s for s, _ in f.sealed} for c, f in forwarded.items() if c != 2)
    requests = r.upload({c: f for c, f in forwarded.items() if c != 2})
    outcome = r.unmask(requests)
    assert 2 not in outcome.survivors
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(r.clients) - {2}))


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
        r.server.receive(1, replace(message, sealed=message.sealed[:-1]).encode())


def test_forwarded_share_moved_to_another_recipient(make_round) -> None:
    r = make_round()
    forwarded = r.share(r.advertise())
    stolen = forwarded[2].sealed[0]  # sealed by client 1 for client 2
    assert stolen[0] == 1
    bad = replace(forwarded[3], sealed=(stolen, *forwarded[3].sealed[1:]))
    with pytest.raises(AuthenticationError):
        r.clients[3].masked_input(bad)


def test_tampered_share_is_refused(make_round) -> None:
    r = make_round()
    forwarded = r.share(r.advertise())
    sender, blob = forwarded[2].sealed[0]
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    bad = replace(forwarded[2], sealed=((sender, tampered), *forwarded[2].sealed[1:]))
    with pytest.raises(AuthenticationError):
        r.clients[2].masked_input(bad)


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
        r.clients[1].masked_input(bad)


def test_wrong_session_is_refused_by_the_client(make_round) -> None:
    r = make_round()
    forwarded = r.share(r.advertise())
    with pytest.raises(SessionMismatchError):
        r.clients[1].masked_input(replace(forwarded[1], session_id=bytes(32)))


def test_unmasking_request_round_trips_and_rejects_unsorted_ids(make_round) -> None:
    r = make_round()
    requests = r.upload(r.share(r.advertise()))
    request = requests[1]
    assert UnmaskingRequest.decode(request.encode(), r.config) == request
    with pytest.raises(EncodeError):
        replace(request, survivors=tuple(reversed(request.survivors))).encode()
    assert KeyBroadcast and ForwardedShares  # exported types


def test_encoding_refuses_fields_of_the_wrong_length(make_round) -> None:
    # The fixed-size record layouts would otherwise pad or cut them silently.
    r = make_round()
    broadcasts = r.advertise()
    b = broadcasts[1]
    short_key = ((b.keys[0][0], b.keys[0][1][:-1], b.keys[0][2]), *b.keys[1:])
    with pytest.raises(EncodeError):
        replace(b, keys=short_key).encode()
    share = r.clients[1].share_keys(b)
    long_share = ((share.sealed[0][0], share.sealed[0][1] + b"\x00"), *share.sealed[1:])
    with pytest.raises(EncodeError):
        replace(share, sealed=long_share).encode()
    with pytest.raises(EncodeError):
        replace(share, commitment=bytes(31)).encode()


def _uploads(r) -> dict[int, bytes]:
    forwarded = r.share(r.advertise())
    return {c: r.clients[c].handle(f.encode()) for c, f in forwarded.items()}


def _forged(r, sender: int) -> bytes:
    """A well-formed masked input under ``sender``'s id that the client never sent."""
    vector = np.zeros(r.config.length, dtype=r.inputs[sender].dtype)
    k = r.config.modulus_bits
    return MaskedInput.pack(r.server.session_id, r.config.round_number, sender, k, vector).encode()


@pytest.mark.parametrize("order", ["forged first", "forged second", "forged, replayed, genuine"])
def test_two_different_masked_inputs_under_one_id_abort_the_round(make_round, order) -> None:
    # The first one is already in the running sum and cannot be taken out: continuing
    # would give a wrong sum whenever it was the forgery (a compromised transport).
    r = make_round()
    uploads = _uploads(r)
    for c in (1, 2, 3):
        r.server.receive(c, uploads[c])
    forged = _forged(r, 4)
    sequence = {
        "forged first": [forged, uploads[4]],
        "forged second": [uploads[4], forged],
        "forged, replayed, genuine": [forged, forged, uploads[4]],
    }[order]
    r.server.receive(4, sequence[0])
    if len(sequence) == 3:
        with pytest.raises(DuplicateMessageError):
            r.server.receive(4, sequence[1])
    with pytest.raises(AbortError):
        r.server.receive(4, sequence[-1])
    with pytest.raises(StageError):
        r.server.close()


def test_stale_message_after_upload_changes_nothing(make_round) -> None:
    r = make_round()
    uploads = _uploads(r)
    for c, data in uploads.items():
        r.server.receive(c, data)
    stale = replace(MaskedInput.decode(uploads[3], r.config), round=4)
    with pytest.raises(SessionMismatchError):
        r.server.receive(3, stale.encode())
    requests = {c: UnmaskingRequest.decode(d, r.config) for c, d in r.server.close().items()}
    assert 3 in requests
    outcome = r.unmask(requests)
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(r.clients)))


def test_refused_uploader_next_to_a_dropped_client_on_a_sparse_graph(make_round) -> None:
    r = make_round(n=12, graph=Graph.HARARY, neighbours=6, threshold=4)
    forwarded = r.share(r.advertise())
    dropped = 7  # sent shares, never uploads: its neighbours' pairwise masks are recovered
    refused = min(r.server.neighbours_of(dropped))
    for c, f in forwarded.items():
        if c != dropped:
            r.server.receive(c, r.clients[c].handle(f.encode()))
    with pytest.raises(DecodeError):
        r.server.receive(refused, b"SA garbage")
    requests = {c: UnmaskingRequest.decode(d, r.config) for c, d in r.server.close().items()}
    assert refused not in requests
    outcome = r.unmask(requests)
    assert refused in outcome.survivors and dropped in outcome.dropped
    assert np.array_equal(outcome.aggregate, r.expected_sum(set(r.clients) - {dropped}))
