"""SecureRound over an in-process Flower grid: exact means, dropouts at every stage,
garbage, and what the ServerApp ever holds."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from secagg.flower import SecAggSettings, SecureRound
from secagg.flower.client import STATE_KEY
from secagg.flower.grid import FIRST_NODE_ID
from secagg.flower.records import OUR_KEYS, PAYLOAD_KEY, REPLY_KEY
from secagg.quantize import QuantizationConfig, quantization_error_bound

from .conftest import (
    CLIP,
    DIM,
    StageDropper,
    expected_mean,
    garbling,
    grid_of,
    model_content,
    partition,
    update_of,
    weight_of,
)

BACKENDS = ["plain", "secagg", "secagg+", "paillier"]
N = 6
# The messages a node other than Paillier's key holder receives in a round (the
# training message first), and the one whose reply is its upload.
MESSAGES = {"plain": 1, "secagg": 4, "secagg+": 4, "paillier": 2}
UPLOAD_AT = {"plain": 0, "secagg": 2, "secagg+": 2, "paillier": 1}


def _bound(n: int) -> float:
    quant = QuantizationConfig(clip=CLIP, bits=16, max_clients=n, max_weight=2**16 - 1)
    return quantization_error_bound(quant) + 1e-6  # float32 model arithmetic


def _run(backend: str, n: int = N, hook=None, **settings):  # noqa: ANN001, ANN003, ANN202
    grid = grid_of(n, hook)
    secure = SecureRound(
        SecAggSettings(backend=backend, clip=CLIP, stage_timeout=0.3, **settings),
        sorted(grid.contexts),
        DIM,
        round_number=7,
    )
    return grid, secure.run(grid, model_content())


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_mean_is_the_plain_weighted_mean(backend: str) -> None:
    _, report = _run(backend)
    assert report.aborted is None
    assert sorted(report.survivors) == sorted(FIRST_NODE_ID + i for i in range(N))
    assert report.mean_update is not None
    assert np.max(np.abs(report.mean_update - expected_mean(range(N)))) <= _bound(N)
    assert report.total_weight == sum(3 * i + 1 for i in range(N))


@pytest.mark.parametrize(
    ("backend", "stage"), [(b, s) for b in BACKENDS for s in range(MESSAGES[b])]
)
def test_a_node_dropping_at_any_stage(backend: str, stage: int) -> None:
    # Node 1003 (protocol id 4, never the Paillier key holder) vanishes at `stage`.
    node = FIRST_NODE_ID + 3
    _, report = _run(backend, hook=StageDropper(node, stage))
    assert report.aborted is None
    assert report.mean_update is not None
    # Its update counts if and only if it had uploaded.
    uploaded = stage > UPLOAD_AT[backend]
    survivors = [partition(n) for n in report.survivors]
    assert (partition(node) in survivors) == uploaded
    assert np.max(np.abs(report.mean_update - expected_mean(survivors))) <= _bound(N)
    if not uploaded:
        assert node in report.dropped


@pytest.mark.parametrize("stage", range(3))  # training, the key back, the decryption
def test_the_paillier_key_holder_dropping_skips_the_round(stage: int) -> None:
    _, report = _run("paillier", hook=StageDropper(FIRST_NODE_ID, stage))
    assert report.aborted is not None and "AbortError" in report.aborted
    assert report.mean_update is None


@pytest.mark.parametrize("backend", ["secagg", "secagg+"])
def test_too_many_dropouts_skip_the_round_cleanly(backend: str) -> None:
    drops = [StageDropper(FIRST_NODE_ID + i, 3) for i in range(4)]

    def hook(grid, message) -> None:  # noqa: ANN001
        for drop in drops:
            drop(grid, message)

    grid, report = _run(backend, hook=hook)
    assert report.aborted is not None
    assert report.mean_update is None
    # Nothing the survivors sent after the uploads reveals an input: no unmasking
    # responses went out (the server aborted before asking).
    assert report.survivors == ()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_node_sending_garbage_is_dropped_with_a_logged_reason(
    backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    node = FIRST_NODE_ID + 4
    at = 0 if backend == "plain" else 1  # a message whose reply has a payload
    with caplog.at_level(logging.WARNING, logger="secagg.flower"):
        _, report = _run(backend, hook=garbling(node, at))
    assert node in report.dropped and "refused" in report.dropped[node]
    assert any(str(node) in r.getMessage() and "dropped" in r.getMessage() for r in caplog.records)
    assert report.aborted is None and report.mean_update is not None
    survivors = [partition(n) for n in report.survivors]
    assert partition(node) not in survivors
    assert np.max(np.abs(report.mean_update - expected_mean(survivors))) <= _bound(N)


@pytest.mark.parametrize("backend", ["secagg", "secagg+", "paillier"])
def test_the_server_never_receives_a_model_an_update_or_a_paillier_secret(backend: str) -> None:
    snapshots: list[object] = []

    def keep_holder_state(grid, message) -> None:  # noqa: ANN001
        saved = grid.contexts[FIRST_NODE_ID].state.config_records.get(STATE_KEY)
        if saved is not None:
            snapshots.append(dict(saved))

    grid, report = _run(backend, hook=keep_holder_state)
    assert report.mean_update is not None
    replies = [m for m in grid.traffic if m.metadata.reply_to_message_id]
    assert replies
    for reply in replies:
        assert set(reply.content.keys()) <= OUR_KEYS  # no model, no app metrics
        assert REPLY_KEY in reply.content
    payloads = b"".join(_payloads(grid.traffic))
    for i in range(N):  # no float copy of any update, nor of any trained model
        assert update_of(i).astype(np.float32).tobytes()[:16] not in payloads
    if backend == "paillier":
        primes = [p for p in map(_paillier_prime, snapshots) if p is not None]
        assert primes, "the key holder never held a key"
        for prime in primes:
            assert prime not in payloads


def _payloads(messages) -> list[bytes]:  # noqa: ANN001
    out = []
    for message in messages:
        if not message.has_content():
            continue
        for record in message.content.config_records.values():
            out += [v for v in record.values() if isinstance(v, bytes)]
        for record in message.content.array_records.values():
            out += [a.data for a in record.values()]
    return out


def _paillier_prime(saved) -> bytes | None:  # noqa: ANN001
    """The key holder's prime p, big-endian, if ``saved`` is a state that holds it."""
    from secagg.flower.spec import RoundSpec
    from secagg.paillier import PaillierClient
    from secagg.paillier.protocol import KeyHolderStage, _Published

    spec = RoundSpec.decode(saved["spec"])
    client = PaillierClient.restore(saved["state"], spec.config(), client_id=1)
    holder = client.key_holder
    if holder is None or holder.stage is not KeyHolderStage.PUBLISHED:
        return None
    p = holder._record(_Published).key.p
    return p.to_bytes((p.bit_length() + 7) // 8, "big")[:24]


def test_messages_that_are_not_secaggs_pass_through(app) -> None:  # noqa: ANN001
    from flwr.app import Message, RecordDict

    from secagg.flower import InProcessGrid

    grid = InProcessGrid(app, [{"partition-id": 0}])
    msg = Message(model_content(), dst_node_id=FIRST_NODE_ID, message_type="train")
    (reply,) = grid.send_and_receive([msg], timeout=5)
    assert "arrays" in reply.content  # the app's own reply: no secagg round was asked
    ev = Message(RecordDict(), dst_node_id=FIRST_NODE_ID, message_type="evaluate")
    (reply,) = grid.send_and_receive([ev], timeout=5)
    assert reply.content["metrics"]["accuracy"] == 0.5


def test_a_step_without_a_round_is_refused() -> None:
    from flwr.app import ConfigRecord, Message, RecordDict

    from secagg.flower.records import STEP_KEY, put_payload

    grid = grid_of(1)
    content = RecordDict({STEP_KEY: ConfigRecord({"round": 1})})
    put_payload(content, b"\x00" * 10)
    msg = Message(content, dst_node_id=FIRST_NODE_ID, message_type="train")
    (reply,) = grid.send_and_receive([msg], timeout=5)
    assert reply.has_error() and "holds no round" in reply.error.reason


def test_large_payloads_travel_in_an_array_record() -> None:
    # d = 40,000: masked inputs are about 100 kB, over the inline limit.
    from .conftest import make_app  # noqa: F401

    grid, report = _run_large()
    assert report.mean_update is not None
    big = [
        m
        for m in grid.traffic
        if m.metadata.reply_to_message_id and PAYLOAD_KEY in m.content.array_records
    ]
    assert big, "no reply carried its payload in an ArrayRecord"


def _run_large():  # noqa: ANN202
    from flwr.app import Array, ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    from secagg.flower import InProcessGrid, secagg_mod

    app = ClientApp(mods=[secagg_mod])

    @app.train()
    def train(msg: Message, context) -> Message:  # noqa: ANN001
        w = msg.content["arrays"]["w"].numpy() + 0.01
        reply = RecordDict(
            {"arrays": ArrayRecord({"w": Array(w)}), "metrics": MetricRecord({"num-examples": 2})}
        )
        return Message(reply, reply_to=msg)

    grid = InProcessGrid(app, [{} for _ in range(4)])
    content = RecordDict(
        {
            "arrays": ArrayRecord({"w": Array(np.zeros(40_000, np.float32))}),
            "config": ConfigRecord(),
        }
    )
    secure = SecureRound(SecAggSettings(backend="secagg+", clip=0.1), sorted(grid.contexts), 40_000, 1)
    report = secure.run(grid, content)
    assert report.mean_update is not None
    assert np.allclose(report.mean_update, 0.01, atol=1e-5)
    return grid, report


def test_a_node_forging_an_out_of_range_input_skips_the_round_without_crashing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import secagg.flower.client as client

    real = client.encode_weighted

    def forged(update, weight, quant):  # noqa: ANN001, ANN202
        out = real(update, weight, quant)
        if weight == weight_of(2):  # one Byzantine node: passes its own party's check
            out[:-1] = quant.max_input
        return out

    monkeypatch.setattr(client, "encode_weighted", forged)
    with caplog.at_level(logging.WARNING):
        _, report = _run("secagg", n=6)
    assert report.mean_update is None
    assert report.aborted is not None and "range check" in report.aborted
    assert "range check" in caplog.text
