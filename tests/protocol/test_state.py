"""Saved client state: versioned, checked or sealed, restorable once, never pickled."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from secagg.errors import (
    ConfigurationError,
    StateIntegrityError,
    StateMismatchError,
    StateRollbackError,
    StateVersionError,
)
from secagg.masking import ClientStage, Graph, MaskingClient, MaskingConfig
from secagg.paillier import PaillierClient
from secagg.paillier.protocol import _Input
from secagg.plain import PlainClient
from secagg.protocol import RestoreGuard
from secagg.protocol.state import STATE_VERSION

from . import backends
from .backends import QUANT

KEY = bytes(range(32))


def _masking_client(stage: int = 0) -> tuple[MaskingClient, MaskingConfig]:
    """Client 1 of a 5-client SecAgg round after it advertised keys and answered
    ``stage`` more server messages (0: KEYS_ADVERTISED ... 3: DONE)."""
    backend = backends.masking(Graph.COMPLETE)
    config = backend.config(5)
    inputs = backends.inputs_for(config)
    clients = {c: MaskingClient(config, c, inputs[c]) for c in inputs}
    from secagg.masking import MaskingServer

    server = MaskingServer(config)
    for c, client in clients.items():
        server.receive(c, client.start())
    for _ in range(stage):
        outbox = server.close()
        for c, data in outbox.items():
            server.receive(c, clients[c].handle(data))
    return clients[1], config


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
@pytest.mark.parametrize("sealed", [False, True])
def test_round_trip_at_every_stage(stage: int, sealed: bool) -> None:
    client, config = _masking_client(stage)
    key = KEY if sealed else None
    data = client.save(key=key)
    restored = MaskingClient.restore(data, config, key=key)
    assert restored.stage is client.stage and restored.id == client.id
    assert restored.save(key=None) == client.save(key=None)  # the same state, byte for byte


def test_a_sealed_state_hides_its_secrets() -> None:
    client, config = _masking_client(1)  # holds its private keys and b_u
    record = client._record(type(client._record(object)))  # the stage record
    private = record.masking.private
    assert private in client.save()  # unsealed: only a checksum, as documented
    assert private not in client.save(key=KEY)


def test_wrong_version() -> None:
    client, config = _masking_client()
    data = bytearray(client.save())
    data[2] = STATE_VERSION + 1
    with pytest.raises(StateVersionError):
        MaskingClient.restore(bytes(data), config)


@pytest.mark.parametrize("sealed", [False, True])
def test_truncated_or_altered(sealed: bool) -> None:
    client, config = _masking_client(2)
    key = KEY if sealed else None
    data = client.save(key=key)
    for bad in (data[:-1], data[:40], data[:-40] + bytes([data[-40] ^ 1]) + data[-39:], b""):
        with pytest.raises(StateIntegrityError):
            MaskingClient.restore(bad, config, key=key)


def test_wrong_storage_key_or_sealing_mismatch() -> None:
    client, config = _masking_client(1)
    with pytest.raises(StateIntegrityError):
        MaskingClient.restore(client.save(key=KEY), config, key=bytes(32))
    with pytest.raises(StateIntegrityError):
        MaskingClient.restore(client.save(key=KEY), config)  # sealed, no key given
    with pytest.raises(StateIntegrityError):
        MaskingClient.restore(client.save(), config, key=KEY)  # a key, but not sealed
    with pytest.raises(ConfigurationError):
        client.save(key=b"short")


def test_wrong_config_round_client_or_party_kind() -> None:
    client, config = _masking_client(1)
    data = client.save()
    other_round = MaskingConfig.create(Graph.COMPLETE, 5, config.dim, QUANT, round_number=10)
    with pytest.raises(StateMismatchError):
        MaskingClient.restore(data, other_round)
    other_graph = MaskingConfig.create(Graph.HARARY, 5, config.dim, QUANT, 2, round_number=9)
    with pytest.raises(StateMismatchError):
        MaskingClient.restore(data, other_graph)
    with pytest.raises(StateMismatchError):
        MaskingClient.restore(data, config, client_id=2)
    plain = backends.plain().config(5)
    with pytest.raises(StateMismatchError):
        PlainClient.restore(data, plain)
    from secagg.paillier import PaillierConfig

    with pytest.raises(StateMismatchError):
        PaillierClient.restore(data, PaillierConfig(9, config.dim, QUANT, (1, 2, 3, 4, 5)))


def test_a_saved_state_restored_twice_cannot_go_into_two_stages() -> None:
    from secagg.masking import ForwardedShares, MaskingServer

    backend = backends.masking(Graph.COMPLETE)
    config = backend.config(5)
    inputs = backends.inputs_for(config)
    clients = {c: MaskingClient(config, c, inputs[c]) for c in inputs}
    server = MaskingServer(config)
    for c, party in clients.items():
        server.receive(c, party.start())
    for c, data in server.close().items():
        server.receive(c, clients[c].handle(data))
    forwarded = server.close()
    saved = clients[1].save()  # holds its input and b_u, about to mask
    guard = RestoreGuard()
    first = MaskingClient.restore(saved, config, guard=guard)
    second = MaskingClient.restore(saved, config, guard=guard)  # a hand-off: allowed
    first.handle(forwarded[1])
    # The second copy cannot take the same step (e.g. mask under other shares).
    other = ForwardedShares.decode(forwarded[1], config)
    with pytest.raises(StateRollbackError):
        second.masked_input(other)
    assert second.stage is ClientStage.ABORTED


def test_an_older_state_is_refused_after_the_client_moved_on() -> None:
    client, config = _masking_client(1)
    older = client.save()
    guard = RestoreGuard()
    live = MaskingClient.restore(older, config, guard=guard)
    assert live.stage is ClientStage.SHARES_SENT
    live.abort()  # the live client's steps are recorded as it takes them
    with pytest.raises(StateRollbackError):
        MaskingClient.restore(older, config, guard=guard)


def test_a_checkpoint_cannot_answer_a_second_request_after_the_live_client_answered() -> None:
    # The review's scenario: checkpoint at INPUT_SENT, answer request R1 live, "crash",
    # restore the checkpoint and answer a different request R2: both secrets of a
    # neighbour could leave. The guard records R1's step before the reply leaves.
    from secagg.masking import MaskingServer

    backend = backends.masking(Graph.COMPLETE)
    config = backend.config(5)
    inputs = backends.inputs_for(config)
    guard = RestoreGuard()
    clients = {
        c: MaskingClient(config, c, inputs[c], guard=guard if c == 1 else None) for c in inputs
    }
    server = MaskingServer(config)
    for c, party in clients.items():
        server.receive(c, party.start())
    for _ in range(2):
        for c, data in server.close().items():
            server.receive(c, clients[c].handle(data))
    requests = server.close()
    checkpoint = clients[1].save()  # at INPUT_SENT
    clients[1].handle(requests[1])  # answers R1 live: the guard records DONE
    with pytest.raises(StateRollbackError):
        MaskingClient.restore(checkpoint, config, guard=guard)


def test_a_body_that_does_not_parse_does_not_use_up_the_step() -> None:
    client, config = _masking_client(1)
    data = bytearray(client.save())
    guard = RestoreGuard()
    good = bytes(data)
    with pytest.raises(StateMismatchError):
        MaskingClient.restore(good, config, guard=guard, client_id=3)
    MaskingClient.restore(good, config, guard=guard)  # the refusal claimed nothing


def test_the_guard_survives_a_process_boundary() -> None:
    client, config = _masking_client(1)
    data = client.save()
    guard = RestoreGuard()
    MaskingClient.restore(data, config, guard=guard).abort()  # moves on
    carried = RestoreGuard.from_bytes(guard.to_bytes())
    with pytest.raises(StateRollbackError):
        MaskingClient.restore(data, config, guard=carried)
    with pytest.raises(StateIntegrityError):
        RestoreGuard.from_bytes(guard.to_bytes()[:-1])


def test_state_is_never_pickled() -> None:
    client, _ = _masking_client(1)
    with pytest.raises(Exception):  # the parsed X25519 key objects refuse pickling
        pickle.dumps(client)


def test_paillier_key_holder_in_fresh_processes_with_a_guard(key) -> None:
    # Review finding: the saved step ignored the key holder's own progress, so a guard
    # refused the next legitimate restore. Here every message runs in a fresh
    # "process": restore with the persisted guard, handle, save, persist the guard.
    from secagg.paillier import PaillierServer

    backend = backends.paillier(key)
    config = backend.config(3)
    inputs = backends.inputs_for(config)
    others = {c: PaillierClient(config, c, inputs[c]) for c in (2, 3)}
    server = PaillierServer(config)
    guard = RestoreGuard()
    blob = PaillierClient(config, 1, inputs[1], key=key, guard=guard).save()
    persisted = guard.to_bytes()

    def process(step):  # noqa: ANN001, ANN202
        nonlocal blob, persisted
        guard = RestoreGuard.from_bytes(persisted)
        party = PaillierClient.restore(blob, config, guard=guard)
        out = step(party)
        blob, persisted = party.save(), guard.to_bytes()
        return out

    history = [blob]
    server.receive(1, process(lambda p: p.start()))
    history.append(blob)
    key_message = server.close()[1]
    server.receive(1, process(lambda p: p.handle(key_message)))
    history.append(blob)
    for c, party in others.items():
        server.receive(c, party.handle(key_message))
    (request,) = server.close().values()
    server.receive(1, process(lambda p: p.handle(request)))
    server.close()
    assert np.array_equal(
        server.result.aggregate, sum(v.astype(np.uint64) for v in inputs.values())
    )
    # No earlier state comes back: in particular the key holder cannot decrypt twice.
    for old in history:
        with pytest.raises(StateRollbackError):
            PaillierClient.restore(old, config, guard=RestoreGuard.from_bytes(persisted))


def test_paillier_key_holder_state_carries_the_key(key) -> None:
    backend = backends.paillier(key)
    config = backend.config(3)
    inputs = backends.inputs_for(config)
    holder = PaillierClient(config, 1, inputs[1], key=key)
    message = holder.start()
    restored = PaillierClient.restore(holder.save(key=KEY), config, key=KEY)
    assert restored.key_holder is not None
    assert restored.key_holder.public_key == key.public
    assert restored.key_holder.stage is holder.key_holder.stage
    assert message is not None
    assert np.array_equal(restored._record(_Input).protected, inputs[1])
