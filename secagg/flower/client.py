"""The ClientApp side: a Flower mod that runs a secagg client party.

Add it to any ClientApp, Message API or legacy NumPyClient::

    app = ClientApp(mods=[secagg_mod])            # Message API: @app.train() as usual
    app = ClientApp(client_fn=client_fn, mods=[secagg_mod])   # legacy NumPyClient

Training messages without secagg's records pass through untouched. On a round's first
message the mod lets the app train, takes the difference between the returned model
and the one it received, quantizes it with the app's weight (``num-examples``), and
answers with the protocol's first message instead of the model: the trained model and
the app's metrics never leave the node. Every later message of the round is a protocol
step, answered by the party restored from ``context.state`` (Flower may start a fresh
ClientApp process for each message) and saved again before the reply leaves.

Security property: what leaves the node is only what the protocol sends (masked input
or Paillier ciphertexts, keys, encrypted shares). The saved state holds the node's
secrets; it stays in the node's own Context. Give the node a 32-byte state key in its
node config (``secagg-state-key``, 64 hex digits) to keep it sealed with AES-256-GCM.
"""

from __future__ import annotations

import logging

import numpy as np
import numpy.typing as npt
from flwr.app import ArrayRecord, ConfigRecord, Context, Error, Message, RecordDict
from flwr.clientapp.typing import ClientAppCallable

from secagg.errors import ConfigurationError, DecodeError, SecAggError
from secagg.flower.records import (
    DEFAULT_WEIGHT_KEY,
    OUR_KEYS,
    REPLY_KEY,
    ROUND_KEY,
    STEP_KEY,
    get_int,
    get_payload,
    model_arrays,
    put_payload,
    record_of,
    records_of,
    reply_weight,
)
from secagg.flower.spec import ProtocolConfig, RoundSpec
from secagg.masking import MaskingClient, MaskingConfig
from secagg.paillier import PaillierClient, PaillierConfig
from secagg.plain import PlainClient
from secagg.protocol.party import ClientParty
from secagg.protocol.state import RestoreGuard
from secagg.weighting import encode_weighted

Vector = npt.NDArray[np.unsignedinteger]

log = logging.getLogger(__name__)

STATE_KEY = "secagg.client"  # in context.state: {"spec", "state", "guard"} as bytes
STATE_KEY_CONFIG = "secagg-state-key"  # node config: 64 hex digits
# Flower's code for an exception in the ClientApp; a refusal is reported the same way.
CLIENT_ERROR = 2


def secagg_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """A Flower mod: runs secagg's client party for messages the secagg server sends and
    passes every other message to the app unchanged."""
    content = msg.content if msg.has_content() else None
    if content is None or msg.metadata.message_type.split(".")[0] != "train":
        return call_next(msg, context)
    try:
        if record_of(content, ROUND_KEY, ConfigRecord) is not None:
            return _first(msg, context, call_next)
        if record_of(content, STEP_KEY, ConfigRecord) is not None:
            return _step(msg, context, call_next)
    except SecAggError as exc:
        log.warning("secagg: node %s refused: %s: %s", context.node_id, type(exc).__name__, exc)
        return Message(
            Error(code=CLIENT_ERROR, reason=f"{type(exc).__name__}: {exc}"), reply_to=msg
        )
    return call_next(msg, context)


def _state_key(context: Context) -> bytes | None:
    value = context.node_config.get(STATE_KEY_CONFIG)
    if value is None:
        return None
    try:
        key = bytes.fromhex(str(value))
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigurationError(f"{STATE_KEY_CONFIG} must be 64 hex digits (32 bytes)")
    return key


def _first(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """The round's first message: start the party. With the model in the message (the
    plain backend) the node trains now; otherwise later, when its upload is due."""
    record = record_of(msg.content, ROUND_KEY, ConfigRecord)
    if record is None:
        raise DecodeError("the round record is missing")
    spec_bytes, weight_key = record.get("spec"), record.get("weight-key", DEFAULT_WEIGHT_KEY)
    if not isinstance(spec_bytes, bytes) or not isinstance(weight_key, str):
        raise DecodeError("the round record holds no spec")
    spec = RoundSpec.decode(spec_bytes)
    config = spec.config()  # refuses unsafe parameters before any training
    context.state.pop(STATE_KEY, None)  # a new round forgets the last one
    guard = RestoreGuard()
    party = _new_party(config, spec.client, guard)
    if _carries_model(msg):
        trained = call_next(msg, context)
        if trained.has_error():
            return trained
        party.provide_input(_protected(msg, trained, spec, weight_key))  # type: ignore[attr-defined]
    out = party.start()
    _save(context, spec, party, guard, weight_key)
    return _reply(msg, spec, out)


def _carries_model(msg: Message) -> bool:
    return any(key not in OUR_KEYS for key, _ in records_of(msg.content, ArrayRecord))


def _protected(msg: Message, trained: Message, spec: RoundSpec, weight_key: str) -> Vector:
    """The app's trained model minus the one it received, quantized with its weight."""
    layout, received = model_arrays(msg.content)
    if layout.dim != spec.dim:
        raise DecodeError(f"the model has {layout.dim} parameters, the round {spec.dim}")
    new_layout, new = model_arrays(trained.content)
    if new_layout.shapes != layout.shapes:
        raise ConfigurationError("the app returned a model of another shape")
    # Array by array into one vector, in the model's own dtype: no float64 copy of the
    # whole model, no intermediate per-array differences.
    update = np.empty(layout.dim, dtype=np.result_type(*new, *received))
    start = 0
    for n, r in zip(new, received, strict=True):
        np.subtract(n, r, out=update[start : start + n.size].reshape(n.shape))
        start += n.size
    weight = reply_weight(trained.content, weight_key)
    return encode_weighted(update, weight, spec.quantization)


def _new_party(config: ProtocolConfig, client: int, guard: RestoreGuard) -> ClientParty:
    """The node's party, made before its input exists (it comes with the model)."""
    if isinstance(config, MaskingConfig):
        return MaskingClient(config, client, None, guard=guard)
    if isinstance(config, PaillierConfig):
        return PaillierClient(config, client, None, guard=guard)
    return PlainClient(config, client, None, guard=guard)


def _restored(context: Context) -> tuple[RoundSpec, ClientParty, RestoreGuard, str]:
    saved = record_of(context.state, STATE_KEY, ConfigRecord)
    if saved is None:
        raise DecodeError("a protocol step arrived, but this node holds no round")
    spec_bytes, state, guard_bytes = saved.get("spec"), saved.get("state"), saved.get("guard")
    weight_key = saved.get("weight-key", DEFAULT_WEIGHT_KEY)
    if not (
        isinstance(spec_bytes, bytes)
        and isinstance(state, bytes)
        and isinstance(guard_bytes, bytes)
        and isinstance(weight_key, str)
    ):
        raise DecodeError("the saved round is damaged")
    spec = RoundSpec.decode(spec_bytes)
    config = spec.config()
    guard = RestoreGuard.from_bytes(guard_bytes)
    key = _state_key(context)
    party: ClientParty
    if isinstance(config, MaskingConfig):
        party = MaskingClient.restore(state, config, client_id=spec.client, key=key, guard=guard)
    elif isinstance(config, PaillierConfig):
        party = PaillierClient.restore(state, config, client_id=spec.client, key=key, guard=guard)
    else:
        party = PlainClient.restore(state, config, client_id=spec.client, key=key, guard=guard)
    return spec, party, guard, weight_key


def _step(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """A protocol step: restore the party, train if this is the step the upload answers,
    answer, save."""
    spec, party, guard, weight_key = _restored(context)
    round_number = get_int(msg.content, STEP_KEY, "round")
    if round_number != spec.round_number:
        raise DecodeError(f"a step of round {round_number}, this node is in {spec.round_number}")
    data = get_payload(msg.content)
    if data is None:
        raise DecodeError("a protocol step without a payload")
    if _carries_model(msg):  # the upload is due: train now
        if not getattr(party, "needs_input", False):
            raise DecodeError("the model arrived twice in one round")
        trained = call_next(msg, context)
        if trained.has_error():
            return trained
        party.provide_input(_protected(msg, trained, spec, weight_key))  # type: ignore[attr-defined]
    try:
        out = party.handle(data)
    finally:  # a refusal aborts the party for good: keep that, not the state before
        _save(context, spec, party, guard, weight_key)
    return _reply(msg, spec, out)


def _save(
    context: Context, spec: RoundSpec, party: ClientParty, guard: RestoreGuard, weight_key: str
) -> None:
    state = party.save(key=_state_key(context))
    context.state[STATE_KEY] = ConfigRecord(
        {
            "spec": spec.encode(),
            "state": state,
            "guard": guard.to_bytes(),
            "weight-key": weight_key,
        }
    )


def _reply(msg: Message, spec: RoundSpec, out: bytes | None) -> Message:
    content = RecordDict({REPLY_KEY: ConfigRecord({"round": spec.round_number})})
    if out is not None:
        put_payload(content, out)
    return Message(content, reply_to=msg)
