"""The three state machines: exact sums, dropouts, duplicates, replays, malformed input."""

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
    DecodeError,
    DuplicateMessageError,
    InputError,
    InvalidCiphertextError,
    InvalidPublicKeyError,
    MisaddressedMessageError,
    SessionMismatchError,
    StageError,
    UnknownClientError,
)
from secagg.paillier import (
    KeyHolder,
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

N_MAX = 4
QUANT = QuantizationConfig(clip=1.0, bits=16, max_clients=N_MAX, max_weight=5)
DIM = 150  # 151 protected values, 2 ciphertexts of 102 slots


def _config(clients: int = N_MAX, round_number: int = 3) -> PaillierConfig:
    return PaillierConfig(
        round_number=round_number,
        dim=DIM,
        quantization=QUANT,
        clients=tuple(range(1, clients + 1)),
    )


@dataclass
class Round:
    config: PaillierConfig
    holder: KeyHolder
    server: PaillierServer
    key_message: bytes
    clients: dict[int, PaillierClient]


def _start(key: PrivateKey, config: PaillierConfig) -> Round:
    holder = KeyHolder(config, key=key)
    key_message = holder.publish()
    server = PaillierServer(config)
    forward = server.receive_public_key(key_message)
    clients = {}
    for cid in config.clients:
        client = PaillierClient(config, cid, entropy=counter_entropy(bytes([cid])))
        client.receive_public_key(forward)
        clients[cid] = client
    return Round(config, holder, server, key_message, clients)


def _vector(seed: int, weight: int = 1) -> np.ndarray:
    rng_bytes = os.urandom(8 * DIM)
    x = np.frombuffer(rng_bytes, dtype=np.uint64) / 2.0**64 * 2.4 - 1.2  # some clipped
    return encode_weighted(x, weight, QUANT)


def _finish(r: Round) -> np.ndarray:
    return r.server.receive_aggregate(r.holder.decrypt(r.server.close_uploads()))


def _with_sender(data: bytes, sender: int) -> bytes:
    offset = HEADER_BYTES - 8
    return data[:offset] + struct.pack(">I", sender) + data[offset + 4 :]


@pytest.mark.parametrize("clients", range(1, N_MAX + 1))
def test_exact_sum_at_every_client_count(key: PrivateKey, clients: int) -> None:
    r = _start(key, _config(clients))
    vectors = {cid: _vector(cid, weight=1 + cid % 5) for cid in r.config.clients}
    for cid, client in r.clients.items():
        r.server.receive_upload(client.upload(vectors[cid]))
    total = _finish(r)
    expected = sum(v.astype(np.uint64) for v in vectors.values())
    np.testing.assert_array_equal(total, expected)
    assert int(total[-1]) == sum(1 + cid % 5 for cid in r.config.clients)
    assert r.server.survivors == r.config.clients


@settings(max_examples=5, deadline=None)
@given(
    st.lists(st.integers(0, QUANT.max_weight * QUANT.levels), min_size=DIM + 1, max_size=DIM + 1),
    st.integers(1, N_MAX),
)
def test_exact_sum_of_arbitrary_vectors(key: PrivateKey, values: list[int], clients: int) -> None:
    r = _start(key, _config(clients))
    vector = np.array(values, dtype=np.uint32)
    for client in r.clients.values():
        r.server.receive_upload(client.upload(vector))
    np.testing.assert_array_equal(_finish(r), vector.astype(np.uint64) * clients)


def test_client_dropping_before_upload(key: PrivateKey) -> None:
    r = _start(key, _config())
    vectors = {cid: _vector(cid) for cid in r.config.clients}
    for cid in (1, 2, 4):  # client 3 vanishes before uploading
        r.server.receive_upload(r.clients[cid].upload(vectors[cid]))
    total = _finish(r)
    np.testing.assert_array_equal(total, sum(vectors[c].astype(np.uint64) for c in (1, 2, 4)))
    assert r.server.survivors == (1, 2, 4)


def test_duplicate_upload_counts_the_client_as_dropped(key: PrivateKey) -> None:
    r = _start(key, _config())
    vectors = {cid: _vector(cid) for cid in r.config.clients}
    uploads = {cid: c.upload(vectors[cid]) for cid, c in r.clients.items()}
    for cid in (1, 2, 3):
        r.server.receive_upload(uploads[cid])
    with pytest.raises(DuplicateMessageError) as info:
        r.server.receive_upload(uploads[2])  # a replay
    assert info.value.sender == 2
    r.server.receive_upload(uploads[4])
    with pytest.raises(DuplicateMessageError):  # a third copy changes nothing more
        r.server.receive_upload(uploads[2])
    # A different second upload claiming to be client 3: client 3 is dropped too.
    with pytest.raises(DuplicateMessageError):
        r.server.receive_upload(_with_sender(uploads[1], 3))
    assert r.server.survivors == (1, 4)
    total = _finish(r)
    np.testing.assert_array_equal(total, vectors[1].astype(np.uint64) + vectors[4])


def test_session_round_and_address_checks(key: PrivateKey, other_key: PrivateKey) -> None:
    r = _start(key, _config())
    other_round = _start(key, _config(round_number=4))
    other_session = _start(other_key, _config())
    vector = _vector(0)
    with pytest.raises(SessionMismatchError):
        r.server.receive_upload(other_round.clients[2].upload(vector))
    with pytest.raises(SessionMismatchError):
        r.server.receive_upload(other_session.clients[2].upload(vector))
    good = r.clients[2].upload(vector)
    with pytest.raises(UnknownClientError):
        r.server.receive_upload(_with_sender(good, 9))
    misaddressed = good[: HEADER_BYTES - 4] + struct.pack(">I", 5) + good[HEADER_BYTES:]
    with pytest.raises(MisaddressedMessageError):
        r.server.receive_upload(misaddressed)
    with pytest.raises(DecodeError):
        r.server.receive_upload(good[:-1])
    assert r.server.survivors == ()  # nothing refused changed the state
    r.server.receive_upload(good)
    assert r.server.survivors == (2,)


def test_invalid_ciphertexts_rejected_without_state_change(key: PrivateKey) -> None:
    r = _start(key, _config())
    good = CiphertextsMessage.decode(r.clients[1].upload(_vector(1)))
    values = [int(v) for v in good.values()]
    n, n2 = key.public.n, key.public.n * key.public.n
    width = key.public.ciphertext_bytes
    for bad in (0, n, key.p * 77, n2 - 1 + 0 * n):
        forged = CiphertextsMessage.from_values(good.header, [values[0], bad], width)
        if bad == n2 - 1:
            continue  # n^2 - 1 is a unit: valid (if meaningless)
        with pytest.raises(InvalidCiphertextError):
            r.server.receive_upload(forged.encode())
    too_big = CiphertextsMessage.from_values(good.header, [values[0], n2], width)
    with pytest.raises(InvalidCiphertextError):
        r.server.receive_upload(too_big.encode())
    short = CiphertextsMessage.from_values(good.header, values[:1], width)
    with pytest.raises(InvalidCiphertextError):
        r.server.receive_upload(short.encode())
    narrow = CiphertextsMessage.from_values(good.header, values, width + 1)
    with pytest.raises(InvalidCiphertextError):
        r.server.receive_upload(narrow.encode())
    assert r.server.survivors == ()
    r.server.receive_upload(good.encode())
    assert r.server.survivors == (1,)


def test_public_key_checks(key: PrivateKey) -> None:
    config = _config()
    holder = KeyHolder(config, key=key)
    message = PublicKeyMessage.decode(holder.publish())
    even = PublicKeyMessage(message.header, message.n + 1).encode()
    with pytest.raises(InvalidPublicKeyError):
        PaillierServer(config).receive_public_key(even)
    with pytest.raises(InvalidPublicKeyError):
        PaillierClient(config, 2).receive_public_key(even)
    # a valid-looking modulus that is not the one the session id was computed over
    p = gmpy2.next_prime(3 << 1022)
    swapped = PublicKeyMessage(message.header, int(p * gmpy2.next_prime(p))).encode()
    with pytest.raises(SessionMismatchError):
        PaillierClient(config, 2).receive_public_key(swapped)
    from_client = PublicKeyMessage(
        Header(MessageType.PAILLIER_PUBLIC_KEY, message.header.session_id, 3, 2, 0), message.n
    ).encode()
    with pytest.raises(UnknownClientError):  # only the designated key holder may publish
        PaillierServer(config).receive_public_key(from_client)


def test_stage_order_is_enforced(key: PrivateKey) -> None:
    config = _config()
    client = PaillierClient(config, 2)
    with pytest.raises(StageError):
        client.upload(_vector(0))  # no key yet
    r = _start(key, config)
    r.server.receive_upload(r.clients[2].upload(_vector(0)))
    with pytest.raises(StageError):
        r.clients[2].upload(_vector(0))  # one-shot
    with pytest.raises(StageError):
        r.server.receive_public_key(r.key_message)
    request = r.server.close_uploads()
    with pytest.raises(StageError):
        r.server.receive_upload(r.clients[3].upload(_vector(0)))  # stage closed
    answer = r.holder.decrypt(request)
    with pytest.raises(StageError):
        r.holder.decrypt(request)  # the key holder decrypts once per session
    r.server.receive_aggregate(answer)
    assert r.server.stage is ServerStage.DONE


def test_key_holder_checks_the_request(key: PrivateKey) -> None:
    r = _start(key, _config())
    r.server.receive_upload(r.clients[1].upload(_vector(1)))
    request = DecryptionRequest.decode(r.server.close_uploads())
    values = [int(v) for v in request.values()]
    wrong_session = DecryptionRequest.from_values(
        Header(MessageType.PAILLIER_DECRYPTION_REQUEST, bytes(32), 3, 0, 1),
        values,
        request.width,
    )
    with pytest.raises(SessionMismatchError):
        r.holder.decrypt(wrong_session.encode())
    zero = DecryptionRequest.from_values(request.header, [0, values[1]], request.width)
    with pytest.raises(InvalidCiphertextError):
        r.holder.decrypt(zero.encode())
    # the refusals left the key holder able to decrypt the real aggregate
    r.server.receive_aggregate(r.holder.decrypt(request.encode()))


def test_client_refuses_out_of_budget_vector(key: PrivateKey) -> None:
    r = _start(key, _config())
    too_big = np.full(DIM + 1, QUANT.max_weight * QUANT.levels + 1, dtype=np.uint32)
    with pytest.raises(InputError):
        r.clients[1].upload(too_big)
    with pytest.raises(InputError):
        r.clients[1].upload(np.zeros(DIM, dtype=np.uint32))


def test_no_survivors_aborts(key: PrivateKey) -> None:
    from secagg.errors import AbortError

    r = _start(key, _config())
    with pytest.raises(AbortError):
        r.server.close_uploads()
    assert r.server.stage is ServerStage.ABORTED
