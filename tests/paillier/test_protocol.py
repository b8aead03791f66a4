"""The Paillier parties: exact sums, dropouts, duplicates, replays, malformed input."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import gmpy2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.codec import HEADER_BYTES, Header, MessageType
from secagg.errors import (
    AbortError,
    ConfigurationError,
    DecodeError,
    DuplicateMessageError,
    InputError,
    InvalidCiphertextError,
    InvalidPublicKeyError,
    MisaddressedMessageError,
    SenderMismatchError,
    SessionMismatchError,
    StageError,
    TooFewContributorsError,
    UnknownClientError,
)
from secagg.paillier import (
    ClientStage,
    KeyHolder,
    KeyHolderStage,
    PaillierClient,
    PaillierConfig,
    PaillierServer,
    PrivateKey,
    ServerStage,
)
from secagg.paillier.messages import CiphertextsMessage, DecryptionRequest, PublicKeyMessage
from secagg.quantize import QuantizationConfig
from secagg.weighting import encode_weighted

from .conftest import counter_entropy

N_MAX = 6
QUANT = QuantizationConfig(clip=1.0, bits=16, max_clients=N_MAX, max_weight=5)
DIM = 150  # 151 protected values, 2 ciphertexts of 102 slots


def _config(clients: int = N_MAX, round_number: int = 3, **kwargs) -> PaillierConfig:
    return PaillierConfig(
        round_number=round_number,
        dim=DIM,
        quantization=QUANT,
        clients=tuple(range(1, clients + 1)),
        **kwargs,
    )


def _vector(weight: int = 1) -> np.ndarray:
    x = np.frombuffer(os.urandom(8 * DIM), dtype=np.uint64) / 2.0**64 * 2.4 - 1.2  # some clipped
    return encode_weighted(x, weight, QUANT)


@dataclass
class Round:
    config: PaillierConfig
    server: PaillierServer
    key_message: bytes
    clients: dict[int, PaillierClient]
    vectors: dict[int, np.ndarray]

    def upload(self, cid: int) -> bytes:
        return self.clients[cid].handle(self.key_message)

    def finish(self) -> np.ndarray:
        holder = self.config.key_holder
        (request,) = self.server.close().values()
        self.server.receive(holder, self.clients[holder].handle(request))
        assert self.server.close() == {}
        return self.server.result.aggregate


def _start(key: PrivateKey, config: PaillierConfig, weights: dict[int, int] | None = None) -> Round:
    vectors = {cid: _vector((weights or {}).get(cid, 1)) for cid in config.clients}
    clients = {
        cid: PaillierClient(
            config,
            cid,
            vectors[cid],
            key=key if cid == config.key_holder else None,
            entropy=counter_entropy(bytes([cid])),
        )
        for cid in config.clients
    }
    server = PaillierServer(config)
    assert server.waiting().pending == {config.key_holder}
    for cid, client in clients.items():
        message = client.start()
        if message is not None:
            server.receive(cid, message)
    outbox = server.close()
    assert set(outbox) == set(config.clients) and len(set(outbox.values())) == 1
    return Round(config, server, outbox[config.key_holder], clients, vectors)


def _with_sender(data: bytes, sender: int) -> bytes:
    offset = HEADER_BYTES - 8
    return data[:offset] + struct.pack(">I", sender) + data[offset + 4 :]


@pytest.mark.parametrize("clients", range(3, N_MAX + 1))
def test_exact_sum_at_every_client_count(key: PrivateKey, clients: int) -> None:
    weights = {cid: 1 + cid % 5 for cid in range(1, clients + 1)}
    r = _start(key, _config(clients), weights)
    for cid in r.config.clients:
        r.server.receive(cid, r.upload(cid))
    total = r.finish()
    expected = sum(v.astype(np.uint64) for v in r.vectors.values())
    np.testing.assert_array_equal(total, expected)
    assert int(total[-1]) == sum(weights.values())
    assert r.server.survivors == r.config.clients


@pytest.mark.parametrize("clients", [1, 2])
def test_a_config_with_fewer_than_three_clients_is_refused(clients: int) -> None:
    # With two, the key holder (who knows its own input) would learn the other's.
    with pytest.raises(ConfigurationError, match="at least 3"):
        _config(clients)


@pytest.mark.parametrize("clients", range(3, 30))
def test_default_minimum_is_the_masking_guarantee_and_cannot_go_lower(clients: int) -> None:
    from secagg.masking import minimum_sum_size

    quant = QuantizationConfig(bits=8, max_clients=clients)
    config = PaillierConfig(0, 4, quant, tuple(range(1, clients + 1)))
    assert config.min_uploads == max(3, minimum_sum_size(clients)) >= 3
    if config.minimum > 3:
        with pytest.raises(ConfigurationError, match="below"):
            PaillierConfig(
                0, 4, quant, tuple(range(1, clients + 1)), min_uploads=config.minimum - 1
            )


def test_a_single_survivor_is_never_decrypted(key: PrivateKey) -> None:
    # The defect: one survivor's update was decrypted and returned exactly.
    r = _start(key, _config(3))
    r.server.receive(2, r.upload(2))
    assert not r.server.waiting().can_close and r.server.waiting().needed == 2
    with pytest.raises(AbortError, match="needs 3"):
        r.server.close()
    assert r.server.stage is ServerStage.ABORTED


def test_the_key_holder_refuses_an_aggregate_of_too_few_uploads(key: PrivateKey) -> None:
    r = _start(key, _config())
    for cid in r.config.clients:
        r.server.receive(cid, r.upload(cid))
    request = DecryptionRequest.decode(
        r.server.close()[1],
        count=r.config.ciphertexts,
        width=key.public.ciphertext_bytes,
        max_contributors=N_MAX,
    )
    # A server claiming a one-client aggregate (here: one client's own upload).
    single = CiphertextsMessage.decode(
        _lone_upload(r), count=r.config.ciphertexts, width=key.public.ciphertext_bytes
    )
    forged = DecryptionRequest(request.header, (3,), single.width, single.blob).encode()
    with pytest.raises(TooFewContributorsError):
        r.clients[1].handle(forged)
    assert r.clients[1].key_holder.stage is KeyHolderStage.ABORTED
    with pytest.raises(StageError):  # and the real one is not decrypted either
        r.clients[1].key_holder.handle(request.encode())


def _lone_upload(r: Round) -> bytes:
    client = PaillierClient(r.config, 3, r.vectors[3])
    return client.handle(r.key_message)


def test_key_holder_refuses_contributors_outside_the_round(key: PrivateKey) -> None:
    r = _start(key, _config())
    for cid in r.config.clients:
        r.server.receive(cid, r.upload(cid))
    data = r.server.close()[1]
    request = DecryptionRequest.decode(
        data, count=r.config.ciphertexts, width=key.public.ciphertext_bytes, max_contributors=N_MAX
    )
    forged = DecryptionRequest(request.header, (1, 2, 3, 9), request.width, request.blob).encode()
    with pytest.raises(UnknownClientError):
        r.clients[1].handle(forged)


@settings(max_examples=5, deadline=None)
@given(
    st.lists(st.integers(0, QUANT.max_weight * QUANT.levels), min_size=DIM + 1, max_size=DIM + 1),
    st.integers(3, N_MAX),
)
def test_exact_sum_of_arbitrary_vectors(key: PrivateKey, values: list[int], clients: int) -> None:
    vector = np.array(values, dtype=np.uint32)
    config = _config(clients)
    server = PaillierServer(config)
    parties = {
        c: PaillierClient(config, c, vector, key=key if c == 1 else None) for c in config.clients
    }
    server.receive(1, parties[1].start())
    key_message = server.close()[1]
    for cid, party in parties.items():
        server.receive(cid, party.handle(key_message))
    (request,) = server.close().values()
    server.receive(1, parties[1].handle(request))
    server.close()
    np.testing.assert_array_equal(server.result.aggregate, vector.astype(np.uint64) * clients)


def test_client_dropping_before_upload(key: PrivateKey) -> None:
    r = _start(key, _config())
    for cid in (1, 2, 4, 5, 6):  # client 3 vanishes before uploading
        r.server.receive(cid, r.upload(cid))
    assert r.server.waiting().pending == {3} and r.server.waiting().can_close
    total = r.finish()
    np.testing.assert_array_equal(
        total, sum(r.vectors[c].astype(np.uint64) for c in (1, 2, 4, 5, 6))
    )
    assert r.server.result.survivors == (1, 2, 4, 5, 6) and r.server.result.dropped == (3,)


def test_duplicates_copies_change_nothing_and_a_different_upload_drops(key: PrivateKey) -> None:
    r = _start(key, _config())
    uploads = {cid: r.upload(cid) for cid in r.config.clients}
    for cid in (1, 2, 3, 4, 5):
        r.server.receive(cid, uploads[cid])
    with pytest.raises(DuplicateMessageError) as info:
        r.server.receive(2, uploads[2])  # an exact copy: refused, nothing changes
    assert info.value.sender == 2 and r.server.survivors == (1, 2, 3, 4, 5)
    r.server.receive(6, uploads[6])
    # A different second upload from client 3: its first is divided back out.
    other = PaillierClient(r.config, 3, _vector(2)).handle(r.key_message)
    with pytest.raises(DuplicateMessageError):
        r.server.receive(3, other)
    assert r.server.survivors == (1, 2, 4, 5, 6)
    total = r.finish()
    np.testing.assert_array_equal(
        total, sum(r.vectors[c].astype(np.uint64) for c in (1, 2, 4, 5, 6))
    )


def test_session_round_and_address_checks(key: PrivateKey, other_key: PrivateKey) -> None:
    r = _start(key, _config())
    other_round = _start(key, _config(round_number=4))
    other_session = _start(other_key, _config())
    with pytest.raises(SessionMismatchError):
        r.server.receive(2, other_round.upload(2))
    with pytest.raises(SessionMismatchError):
        r.server.receive(2, other_session.upload(2))
    good = r.upload(2)  # the session mismatches above say nothing against client 2
    with pytest.raises(SenderMismatchError):
        r.server.receive(5, good)  # client 5 relays client 2's upload as its own
    with pytest.raises(UnknownClientError):
        r.server.receive(9, _with_sender(good, 9))
    misaddressed = r.upload(3)
    misaddressed = (
        misaddressed[: HEADER_BYTES - 4] + struct.pack(">I", 5) + misaddressed[HEADER_BYTES:]
    )
    with pytest.raises(MisaddressedMessageError):
        r.server.receive(3, misaddressed)
    with pytest.raises(DecodeError):
        r.server.receive(4, r.upload(4)[:-1])
    assert r.server.survivors == ()  # nothing refused changed the state
    assert set(r.server.dropped) == {3, 4, 5}  # only the transport senders are dropped
    with pytest.raises(UnknownClientError):
        r.server.receive(5, r.upload(5))  # no second try
    r.server.receive(2, good)
    assert r.server.survivors == (2,)


def _collecting(r: Round) -> PaillierServer:
    """A fresh server of the same round, collecting uploads."""
    server = PaillierServer(r.config)
    server.receive(r.config.key_holder, r.key_message)
    server.close()
    return server


def test_invalid_ciphertexts_are_refused_and_drop_their_sender(key: PrivateKey) -> None:
    r = _start(key, _config())
    width = key.public.ciphertext_bytes
    count = r.config.ciphertexts
    good = CiphertextsMessage.decode(r.upload(1), count=count, width=width)
    values = [int(v) for v in good.values()]
    n, n2 = key.public.n, key.public.n * key.public.n
    bad_messages = [
        CiphertextsMessage.from_values(good.header, [values[0], bad], width).encode()
        for bad in (0, n, key.p * 77, n2)
    ]
    errors = [InvalidCiphertextError] * 4
    # The declared count and width are checked before anything is read.
    bad_messages.append(CiphertextsMessage.from_values(good.header, values[:1], width).encode())
    bad_messages.append(CiphertextsMessage.from_values(good.header, values, width + 1).encode())
    errors += [DecodeError, DecodeError]
    for data, error in zip(bad_messages, errors, strict=True):
        server = _collecting(r)
        with pytest.raises(error):
            server.receive(1, data)
        assert server.survivors == () and 1 in server.dropped
    r.server.receive(1, good.encode())
    assert r.server.survivors == (1,)


def test_public_key_checks(key: PrivateKey) -> None:
    config = _config()
    holder = KeyHolder(config, key=key)
    message = PublicKeyMessage.decode(holder.start())
    even = PublicKeyMessage(message.header, message.n + 1).encode()
    with pytest.raises(InvalidPublicKeyError):
        PaillierServer(config).receive(1, even)
    client = PaillierClient(config, 2, _vector())
    with pytest.raises(InvalidPublicKeyError):
        client.handle(even)
    assert client.stage is ClientStage.ABORTED
    # a valid-looking modulus that is not the one the session id was computed over
    p = gmpy2.next_prime(3 << 1022)
    swapped = PublicKeyMessage(message.header, int(p * gmpy2.next_prime(p))).encode()
    with pytest.raises(SessionMismatchError):
        PaillierClient(config, 2, _vector()).handle(swapped)
    from_client = PublicKeyMessage(
        Header(MessageType.PAILLIER_PUBLIC_KEY, message.header.session_id, 3, 2, 0), message.n
    ).encode()
    with pytest.raises(UnknownClientError):  # only the designated key holder may publish
        PaillierServer(config).receive(2, from_client)


def test_stage_order_is_enforced(key: PrivateKey) -> None:
    r = _start(key, _config())
    for cid in r.config.clients:
        r.server.receive(cid, r.upload(cid))
    with pytest.raises(StageError):
        r.clients[2].handle(r.key_message)  # one-shot
    (request,) = r.server.close().values()
    with pytest.raises(StageError):
        r.server.receive(3, r.upload(3))  # stage closed
    answer = r.clients[1].handle(request)
    with pytest.raises(StageError):
        r.clients[1].handle(request)  # the key holder decrypts once per session
    r.server.receive(1, answer)
    r.server.close()
    assert r.server.stage is ServerStage.DONE


def test_key_holder_checks_the_request(key: PrivateKey) -> None:
    r = _start(key, _config())
    for cid in r.config.clients:
        r.server.receive(cid, r.upload(cid))
    width, count = key.public.ciphertext_bytes, r.config.ciphertexts
    request = DecryptionRequest.decode(
        r.server.close()[1], count=count, width=width, max_contributors=N_MAX
    )
    values = [int(v) for v in request.values()]
    wrong_session = DecryptionRequest.from_values(
        Header(MessageType.PAILLIER_DECRYPTION_REQUEST, bytes(32), 3, 0, 1),
        request.contributors,
        values,
        width,
    )
    with pytest.raises(StageError):
        KeyHolder(r.config, key=key).handle(wrong_session.encode())  # nothing published yet
    holder = r.clients[1].key_holder
    with pytest.raises(SessionMismatchError):
        holder.handle(wrong_session.encode())
    assert holder.stage is KeyHolderStage.ABORTED  # a refused request ends the session


def test_key_holder_refuses_zero_ciphertexts(key: PrivateKey) -> None:
    r = _start(key, _config())
    for cid in r.config.clients:
        r.server.receive(cid, r.upload(cid))
    width, count = key.public.ciphertext_bytes, r.config.ciphertexts
    request = DecryptionRequest.decode(
        r.server.close()[1], count=count, width=width, max_contributors=N_MAX
    )
    values = [int(v) for v in request.values()]
    zero = DecryptionRequest.from_values(
        request.header, request.contributors, [0, values[1]], width
    )
    with pytest.raises(InvalidCiphertextError):
        r.clients[1].handle(zero.encode())


def test_client_refuses_out_of_budget_vector(key: PrivateKey) -> None:
    config = _config()
    too_big = np.full(DIM + 1, QUANT.max_weight * QUANT.levels + 1, dtype=np.uint32)
    with pytest.raises(InputError):
        PaillierClient(config, 2, too_big)
    with pytest.raises(InputError):
        PaillierClient(config, 2, np.zeros(DIM, dtype=np.uint32))
    with pytest.raises(InputError):
        PaillierClient(config, 9, np.zeros(DIM + 1, dtype=np.uint32))
    with pytest.raises(InputError):
        PaillierClient(config, 2, np.zeros(DIM + 1, dtype=np.uint32), key=key)  # not the holder


def test_no_survivors_aborts(key: PrivateKey) -> None:
    r = _start(key, _config())
    with pytest.raises(AbortError):
        r.server.close()
    assert r.server.stage is ServerStage.ABORTED


def test_key_holder_gone_before_publishing_aborts() -> None:
    server = PaillierServer(_config())
    with pytest.raises(AbortError, match="no key"):
        server.close()


def test_a_second_upload_that_fails_its_checks_keeps_the_first(key: PrivateKey) -> None:
    # Review finding: the duplicate branch ran before the ciphertext checks, so an
    # invalid second upload removed the accepted first one.
    r = _start(key, _config())
    uploads = {cid: r.upload(cid) for cid in r.config.clients}
    for cid, data in uploads.items():
        r.server.receive(cid, data)
    good = CiphertextsMessage.decode(
        uploads[2], count=r.config.ciphertexts, width=key.public.ciphertext_bytes
    )
    values = [int(v) for v in good.values()]
    invalid = CiphertextsMessage.from_values(good.header, [0, *values[1:]], good.width)
    with pytest.raises(InvalidCiphertextError):
        r.server.receive(2, invalid.encode())
    assert r.server.survivors == r.config.clients
    np.testing.assert_array_equal(r.finish(), sum(v.astype(np.uint64) for v in r.vectors.values()))


def test_a_replay_from_a_round_with_another_config_does_not_drop_the_client(key) -> None:
    # Review finding: the body was decoded against this round's config before the
    # round was checked, so an old authentic upload of another shape got its sender
    # dropped instead of being refused as stale.
    old = _start(key, _config(round_number=2))
    stale = old.upload(2)
    quant = QuantizationConfig(clip=1.0, bits=16, max_clients=N_MAX, max_weight=5)
    config = PaillierConfig(
        round_number=3, dim=DIM + 500, quantization=quant, clients=tuple(range(1, N_MAX + 1))
    )
    server = PaillierServer(config)
    holder = PaillierClient(config, 1, np.zeros(DIM + 501, dtype=np.uint32), key=key)
    server.receive(1, holder.start())
    key_message = server.close()[1]
    with pytest.raises(SessionMismatchError):
        server.receive(2, stale)
    assert 2 not in server.dropped
    server.receive(
        2, PaillierClient(config, 2, np.zeros(DIM + 501, dtype=np.uint32)).handle(key_message)
    )


def test_a_refusal_by_the_key_holders_client_role_shows_on_its_stage(key: PrivateKey) -> None:
    # Review finding: a refused message aborted the inner key holder while the
    # composite's stage still said UPLOADED.
    r = _start(key, _config())
    r.server.receive(1, r.upload(1))
    with pytest.raises(StageError):
        r.clients[1].handle(r.key_message)  # a re-delivered key
    assert r.clients[1].stage is ClientStage.ABORTED
    assert r.clients[1].key_holder.stage is KeyHolderStage.ABORTED
