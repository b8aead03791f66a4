"""No public function lets a bare ValueError, TypeError, IndexError or OverflowError
escape for bad input: every refusal is a SecAggError with a message (property tests
over junk arguments), and configurations that cannot be encoded are refused when made."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import secagg
from secagg.errors import (
    BitBudgetError,
    ConfigurationError,
    InputError,
    SecAggError,
    WeightError,
)
from secagg.masking import Graph, MaskingClient, MaskingConfig, MaskingServer
from secagg.paillier import PaillierConfig
from secagg.plain import PlainConfig
from secagg.quantize import QuantizationConfig
from secagg.weighting import check_weights

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.lists(st.integers(-5, 5), max_size=3),
    st.tuples(st.integers(), st.text(max_size=2)),
)
QUANT = QuantizationConfig(bits=8, max_clients=10)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def _only_secagg_errors(fn: Any, *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except SecAggError as exc:
        assert str(exc)  # a refusal says why
    # anything else propagates and fails the test


@SETTINGS
@given(clip=JUNK, bits=JUNK, clients=JUNK, weight=JUNK)
def test_quantization_config(clip, bits, clients, weight) -> None:
    _only_secagg_errors(
        QuantizationConfig, clip=clip, bits=bits, max_clients=clients, max_weight=weight
    )


@SETTINGS
@given(n=JUNK, dim=JUNK, neighbours=JUNK, threshold=JUNK, rnd=JUNK, graph=JUNK)
def test_masking_config(n, dim, neighbours, threshold, rnd, graph) -> None:
    _only_secagg_errors(
        MaskingConfig.create, graph, n, dim, QUANT, neighbours, threshold, round_number=rnd
    )
    _only_secagg_errors(MaskingConfig, n, dim, QUANT, Graph.HARARY, neighbours, threshold, rnd)


@SETTINGS
@given(rnd=JUNK, dim=JUNK, clients=JUNK, holder=JUNK, minimum=JUNK)
def test_paillier_and_plain_config(rnd, dim, clients, holder, minimum) -> None:
    _only_secagg_errors(
        PaillierConfig, rnd, dim, QUANT, clients, key_holder=holder, min_uploads=minimum
    )
    _only_secagg_errors(PlainConfig, clients, dim, QUANT, rnd, minimum)


@SETTINGS
@given(backend=JUNK, updates=JUNK, weights=JUNK, dropouts=JUNK)
def test_run_round(backend, updates, weights, dropouts) -> None:
    _only_secagg_errors(secagg.run_round, backend, updates, weights, dropouts=dropouts)


@SETTINGS
@given(weights=st.lists(JUNK, min_size=1, max_size=4))
def test_run_round_weights(weights) -> None:
    updates = [np.zeros(4, dtype=np.float32)] * len(weights)
    _only_secagg_errors(secagg.run_round, "plain", updates, weights)


@SETTINGS
@given(update=JUNK, weight=JUNK)
def test_encoding(update, weight) -> None:
    _only_secagg_errors(secagg.encode_weighted, update, weight, QUANT)
    _only_secagg_errors(secagg.quantize, update, QUANT)
    _only_secagg_errors(secagg.dequantize, update, weight, QUANT)


@SETTINGS
@given(sender=JUNK, data=st.binary(max_size=200))
def test_server_receive_and_client_handle_take_any_bytes(sender, data) -> None:
    config = MaskingConfig.create(Graph.COMPLETE, 4, 3, QUANT)
    server = MaskingServer(config)
    _only_secagg_errors(server.receive, sender, data)
    client = MaskingClient(config, 1, np.zeros(4, dtype=np.uint32))
    _only_secagg_errors(client.handle, data)
    from secagg.paillier import PaillierClient, PaillierServer
    from secagg.plain import PlainClient, PlainServer

    paillier = PaillierConfig(0, 3, QUANT, (1, 2, 3))
    _only_secagg_errors(PaillierServer(paillier).receive, sender, data)
    _only_secagg_errors(PaillierClient(paillier, 2, np.zeros(4, dtype=np.uint32)).handle, data)
    plain = PlainConfig(3, 3, QUANT)
    _only_secagg_errors(PlainServer(plain).receive, sender, data)
    _only_secagg_errors(PlainClient(plain, 2, np.zeros(4, dtype=np.uint32)).handle, data)


@SETTINGS
@given(protected=JUNK, cid=JUNK)
def test_client_construction(protected, cid) -> None:
    config = MaskingConfig.create(Graph.COMPLETE, 4, 3, QUANT)
    _only_secagg_errors(MaskingClient, config, cid, protected)


@SETTINGS
@given(protocol=JUNK, clip=JUNK, bits=JUNK, neighbours=JUNK)
def test_aggregator(protocol, clip, bits, neighbours) -> None:
    _only_secagg_errors(
        secagg.SecureAggregator, protocol, clip=clip, bits=bits, neighbours=neighbours
    )
    agg = secagg.SecureAggregator("secagg", clip=1.0)
    _only_secagg_errors(agg.aggregate, protocol, clip)


@pytest.mark.parametrize(
    "weights",
    [
        [1, 2.9],
        [True, 1],
        [1, float("nan")],
        [1, float("inf")],
        [1, 0],
        [1, -3],
        [1, "2"],
        [1, np.float64(2.0)],
        [1, None],
    ],
)
def test_weights_are_refused_at_every_layer(weights) -> None:
    updates = [np.zeros(5, dtype=np.float32)] * 2
    with pytest.raises(WeightError):
        check_weights(weights)
    with pytest.raises(WeightError):
        secagg.run_round("secagg", [*updates, updates[0]], [*weights, 1])
    with pytest.raises(WeightError):
        secagg.PlainAggregator().aggregate(updates, weights)
    with pytest.raises(WeightError):
        secagg.SecureAggregator("secagg+", clip=1.0).aggregate(
            [*updates, updates[0]], [*weights, 1]
        )
    bad = weights[0] if weights[0] is True else weights[1]
    with pytest.raises(WeightError):
        secagg.encode_weighted(updates[0], bad, QUANT)


def test_a_weight_above_the_budget_is_refused() -> None:
    quant = QuantizationConfig(bits=8, max_clients=3, max_weight=4)
    with pytest.raises(WeightError):
        secagg.run_round("secagg", [np.zeros(3)] * 3, [1, 5, 1], quantization=quant)


@pytest.mark.parametrize("backend", ["secagg", "secagg+", "paillier", "plain"])
def test_every_entry_point_checks_the_cohort_against_the_budget(backend: str) -> None:
    # The defect: a public masking entry point wrapped mod 2^k silently with more
    # clients than the budget's max_clients.
    from secagg.simulation import run_masking_round, simulate_round

    quant = QuantizationConfig(bits=8, max_clients=3)
    updates = [np.full(4, 0.9, dtype=np.float32)] * 4
    with pytest.raises(ConfigurationError):
        secagg.run_round(backend, updates, quantization=quant)
    protected = {c: np.full(5, quant.levels, dtype=np.uint32) for c in range(1, 5)}
    with pytest.raises(ConfigurationError):
        simulate_round(backend, protected, 4, quant)
    if backend in ("secagg", "secagg+"):
        with pytest.raises(ConfigurationError):
            run_masking_round(backend, updates, [1] * 4, quant)
        with pytest.raises(BitBudgetError):
            MaskingConfig.create(Graph.COMPLETE, 4, 4, quant)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MaskingConfig.create(Graph.COMPLETE, 3, 2**32, QUANT),
        lambda: MaskingConfig.create(Graph.COMPLETE, 3, 4, QUANT, round_number=2**32),
        lambda: MaskingConfig.create(
            Graph.HARARY, 2**32, 4, QuantizationConfig(bits=1, max_clients=2**31)
        ),
        lambda: PaillierConfig(2**32, 4, QUANT, (1, 2, 3)),
        lambda: PaillierConfig(0, 2**32, QUANT, (1, 2, 3)),
        lambda: PaillierConfig(0, 4, QUANT, (1, 2, 2**32)),
        lambda: PlainConfig(3, 2**32 - 1, QUANT),
        lambda: PlainConfig(3, 4, QUANT, round_number=-1),
        lambda: QuantizationConfig(bits=8, max_clients=2**32),
    ],
)
def test_unencodable_configurations_are_refused_when_made(make) -> None:
    with pytest.raises(ConfigurationError):
        make()


@pytest.mark.parametrize("clip", [1e-310, 5e-324, 1e308, math.inf, -1.0, 0.0])
def test_degenerate_clips_are_refused(clip: float) -> None:
    with pytest.raises(ConfigurationError):
        QuantizationConfig(clip=clip, bits=32, max_clients=2)


def test_32_bit_quantization_never_wraps_plus_clip_to_minus_clip() -> None:
    quant = QuantizationConfig(clip=1.0, bits=32, max_clients=1)
    q = secagg.quantize(np.full(100_000, 1.0, dtype=np.float32), quant)
    assert int(q.min()) >= quant.levels - 1  # never 0 (= -clip)


def test_an_abort_is_not_its_own_cause() -> None:
    # The defect: `raise self._abort(exc) from exc` made an exception its own cause.
    from dataclasses import replace

    from secagg.masking import ForwardedShares

    config = MaskingConfig.create(Graph.COMPLETE, 4, 3, QUANT)
    server = MaskingServer(config)
    clients = {c: MaskingClient(config, c, np.zeros(4, dtype=np.uint32)) for c in range(1, 5)}
    for c, client in clients.items():
        server.receive(c, client.start())
    for c, data in server.close().items():
        server.receive(c, clients[c].handle(data))
    forwarded = ForwardedShares.decode(server.close()[1], config)
    sender, blob = forwarded.sealed[0]
    bad = replace(
        forwarded, sealed=((sender, blob[:-1] + bytes([blob[-1] ^ 1])), *forwarded.sealed[1:])
    )
    with pytest.raises(SecAggError) as info:
        clients[1].handle(bad.encode())
    assert info.value.__cause__ is not info.value
    chain, seen = info.value, set()
    while chain is not None:
        assert id(chain) not in seen
        seen.add(id(chain))
        chain = chain.__cause__


def test_input_errors_name_the_problem() -> None:
    with pytest.raises(InputError, match="weights"):
        secagg.run_round("plain", [np.zeros(3)] * 2, [1])


@SETTINGS
@given(junk=JUNK)
def test_parties_and_primitives_refuse_junk_of_any_type(junk) -> None:
    # Review finding: non-bytes messages, keys and storage keys raised TypeError.
    from secagg.paillier import PaillierServer
    from secagg.plain import PlainServer
    from secagg.primitives.keyagreement import KeyPair, check_public_key
    from secagg.primitives.shamir import Share, recover, split
    from secagg.protocol import RestoreGuard

    config = MaskingConfig.create(Graph.COMPLETE, 4, 3, QUANT)
    client = MaskingClient(config, 1, np.zeros(4, dtype=np.uint32))
    _only_secagg_errors(client.handle, junk)
    _only_secagg_errors(MaskingServer(config).receive, 1, junk)
    _only_secagg_errors(PaillierServer(PaillierConfig(0, 3, QUANT, (1, 2, 3))).receive, 1, junk)
    _only_secagg_errors(PlainServer(PlainConfig(3, 3, QUANT)).receive, 1, junk)
    _only_secagg_errors(MaskingClient(config, 2, np.zeros(4, dtype=np.uint32)).save, key=junk)
    _only_secagg_errors(MaskingClient.restore, junk, config)
    _only_secagg_errors(MaskingClient.restore, client.save(), config, key=junk)
    _only_secagg_errors(RestoreGuard.from_bytes, junk)
    _only_secagg_errors(check_public_key, junk)
    _only_secagg_errors(KeyPair.from_private, junk)
    _only_secagg_errors(split, [bytes(32)], [1, 2, 3], junk)
    _only_secagg_errors(split, [junk], [1, 2], 2)
    _only_secagg_errors(split, [bytes(32)], [1, junk], 2)
    _only_secagg_errors(recover, [Share(1, (5,)), Share(junk, (6,))], 2)  # type: ignore[arg-type]
    _only_secagg_errors(recover, [Share(1, (5,)), Share(2, (junk,))], 2)  # type: ignore[arg-type]
    _only_secagg_errors(MaskingServer, junk)
    _only_secagg_errors(MaskingClient, junk, 1, np.zeros(4, dtype=np.uint32))
