"""Clients made before their input exists (a transport that trains only when the input
is due): the input arrives just before masking or encrypting, the saved state holds no
vector until then, and a missing input is the caller's error, not a refusal."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.errors import InputError, StageError
from secagg.masking import ClientStage, Graph, MaskingClient, MaskingConfig, MaskingServer
from secagg.paillier import PaillierClient, PaillierConfig, PaillierServer
from secagg.paillier.keys import generate_keypair
from secagg.protocol.state import RestoreGuard
from secagg.quantize import QuantizationConfig

from ..conftest import CountingEntropy

QUANT = QuantizationConfig(bits=12, max_clients=8)
DIM = 3000


def _inputs(n: int, length: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(4)
    return {c: rng.integers(0, QUANT.levels, length).astype(np.uint32) for c in range(1, n + 1)}


@pytest.mark.parametrize("graph", list(Graph))
def test_masking_clients_take_their_input_late(graph: Graph) -> None:
    n = 7
    config = MaskingConfig.create(graph, n, DIM, QUANT)
    inputs = _inputs(n, config.length)
    guards = {c: RestoreGuard() for c in inputs}
    clients = {c: MaskingClient(config, c, None, guard=guards[c]) for c in inputs}
    server = MaskingServer(config)
    for c, client in clients.items():
        assert client.needs_input
        server.receive(c, client.start())
    for c, data in server.close().items():
        server.receive(c, clients[c].handle(data))
    forwarded = server.close()
    for c, data in forwarded.items():
        # saved and restored without a vector: the state is small
        blob = clients[c].save()
        assert len(blob) < config.length
        client = MaskingClient.restore(blob, config, client_id=c, guard=guards[c])
        with pytest.raises(StageError, match="provide_input"):
            client.handle(data)
        assert client.stage is ClientStage.SHARES_SENT  # not a refusal: still usable
        client.provide_input(inputs[c])
        assert not client.needs_input
        with pytest.raises(StageError):
            client.provide_input(inputs[c])
        server.receive(c, client.handle(data))
        clients[c] = client
    for c, data in server.close().items():
        server.receive(c, clients[c].handle(data))
    server.close()
    total = sum(v.astype(np.uint64) for v in inputs.values())
    assert np.array_equal(server.result.aggregate, total & np.uint64((1 << config.modulus_bits) - 1))


def test_the_input_survives_save_and_restore_once_given() -> None:
    config = MaskingConfig.create(Graph.COMPLETE, 4, DIM, QUANT)
    inputs = _inputs(4, config.length)
    client = MaskingClient(config, 1, None)
    client.provide_input(inputs[1])
    restored = MaskingClient.restore(client.save(), config)
    assert not restored.needs_input
    with pytest.raises(InputError):
        MaskingClient(config, 2, None).provide_input(np.zeros(5, dtype=np.uint32))


def test_paillier_clients_take_their_input_late() -> None:
    n = 4
    config = PaillierConfig(1, 50, QUANT, tuple(range(1, n + 1)), key_bits=1024,
                            allowed_key_bits=(1024,))  # fmt: skip
    key = generate_keypair(1024, CountingEntropy(b"deferred"), allowed_bits=(1024,))
    inputs = _inputs(n, config.length)
    clients = {
        c: PaillierClient(config, c, None, key=key if c == 1 else None) for c in inputs
    }
    server = PaillierServer(config)
    server.receive(1, clients[1].start())
    key_message = server.close()[1]
    for c, client in clients.items():
        assert client.needs_input
        blob = client.save()
        restored = PaillierClient.restore(blob, config, client_id=c)
        with pytest.raises(StageError, match="provide_input"):
            restored.handle(key_message)
        restored.provide_input(inputs[c])
        server.receive(c, restored.handle(key_message))
        clients[c] = restored
    (request,) = server.close().values()
    server.receive(1, clients[1].handle(request))
    server.close()
    assert np.array_equal(server.result.aggregate, sum(v.astype(np.uint64) for v in inputs.values()))
    with pytest.raises(StageError):
        clients[2].provide_input(inputs[2])
