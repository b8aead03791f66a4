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


def test_a_saved_state_restores_once() -> None:
    client, config = _masking_client(1)  # holds its input and b_u, about to mask
    data = client.save()
    guard = RestoreGuard()
    MaskingClient.restore(data, config, guard=guard)
    with pytest.raises(StateRollbackError):  # restored twice: it could fork
        MaskingClient.restore(data, config, guard=guard)


def test_an_older_state_is_refused_after_a_newer_one() -> None:
    client, config = _masking_client(1)
    older = client.save()
    backend = backends.masking(Graph.COMPLETE)
    # Move a restored copy on (here: abort it) and save again.
    guard = RestoreGuard()
    newer_client = MaskingClient.restore(older, config, guard=guard)
    assert newer_client.stage is ClientStage.SHARES_SENT
    newer_client.abort()
    newer = newer_client.save()
    MaskingClient.restore(newer, config, guard=guard)
    with pytest.raises(StateRollbackError):
        MaskingClient.restore(older, config, guard=guard)
    assert backend.name == "secagg"


def test_the_guard_survives_a_process_boundary() -> None:
    client, config = _masking_client(1)
    data = client.save()
    guard = RestoreGuard()
    MaskingClient.restore(data, config, guard=guard)
    carried = RestoreGuard.from_bytes(guard.to_bytes())
    with pytest.raises(StateRollbackError):
        MaskingClient.restore(data, config, guard=carried)
    with pytest.raises(StateIntegrityError):
        RestoreGuard.from_bytes(guard.to_bytes()[:-1])


def test_state_is_never_pickled() -> None:
    client, _ = _masking_client(1)
    with pytest.raises(Exception):  # the parsed X25519 key objects refuse pickling
        pickle.dumps(client)


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
    assert np.array_equal(restored._record(np.ndarray), inputs[1])
