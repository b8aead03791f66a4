"""A deviating server that withholds shares from a victim (found in review).

The server forwards victim v only the shares of its corrupt neighbours and of t - 1 - c
honest ones, H, so v masks against those alone; it declares H dropped and asks everyone
else to sign one survivor set without H. v's other honest neighbours then reveal b_v,
and H's neighbours the mask keys of H: every mask of v's input. With 2t > k + c this
works whenever k + c is odd; the threshold 2t > k + c + 1 stops it. The test runs the
attack for real against the old threshold (so it can fail) and shows that no victim
and no H exist under the current one.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import secagg.masking.config as config_module
from secagg.errors import SecAggError
from secagg.masking import MaskingClient, MaskingConfig, MaskingServer, masks
from secagg.masking.client import _InputSent, _SharesSent, _Signed
from secagg.masking.config import Graph
from secagg.masking.graph import all_neighbourhoods
from secagg.masking.messages import (
    ConsistencyRequest,
    ConsistencySignature,
    ForwardedShares,
    MaskedInput,
    UnmaskingRequest,
    UnmaskingResponse,
    survivors_statement,
)
from secagg.primitives.keyagreement import KeyPair
from secagg.primitives.shamir import Share, reconstruct
from secagg.protocol.identity import generate_cohort
from secagg.quantize import QuantizationConfig
from secagg.weighting import encode_weighted

from ..conftest import CountingEntropy

N, K, MAX_CORRUPT, DIM = 30, 10, 1, 8  # the defaults for 30 clients: k = 10, n // 20 = 1
MODEL = bytes(range(32))
CORRUPT = {N}  # fixed before the round: static corruption


def _old_threshold(degree: int, corrupt: int) -> int:
    return (degree + corrupt) // 2 + 1  # 2t > k + c: the rule before the review


def _config(roster, round_number: int) -> MaskingConfig:  # noqa: ANN001
    quant = QuantizationConfig(clip=1.0, bits=12, max_clients=N)
    return MaskingConfig.create(
        Graph.HARARY,
        N,
        DIM,
        quant,
        K,
        round_number=round_number,
        security="malicious",
        max_corrupt=MAX_CORRUPT,
        roster=roster,
    )


def _plan(config: MaskingConfig):  # noqa: ANN202
    """A victim v and a set H for which one consistent survivor set (all but H) lets
    the server collect b_v and the mask keys of H; None when none exists."""
    t = config.threshold
    graph = all_neighbourhoods(config, b"", range(1, N + 1))
    for v in sorted(set(range(1, N + 1)) - CORRUPT):
        corrupt_v = graph[v] & CORRUPT
        honest = sorted(graph[v] - CORRUPT)
        need = t - 1 - len(corrupt_v)
        if need < 0 or len(honest) - need < t - len(corrupt_v):
            continue
        for chosen in itertools.combinations(honest, need):
            held_back = set(chosen)
            survivors = set(range(1, N + 1)) - held_back
            signers = {
                x for x in survivors - {v} if x in CORRUPT or len(graph[x] - held_back) >= t - 1
            }
            answer = {
                x
                for x in survivors - {v} - CORRUPT
                if len((graph[x] & signers) - {x}) >= t
            }
            if len(corrupt_v) + len(graph[v] & answer) < t:
                continue
            if all(len(graph[w] & CORRUPT) + len(graph[w] & answer) >= t for w in held_back):
                return v, held_back, graph
    return None


def _attack(config: MaskingConfig, roster, identities, plan) -> bool:  # noqa: ANN001
    """Run the withholding server against real clients; True if it recovers v's input."""
    v, held_back, graph = plan
    t, rnd = config.threshold, config.round_number
    rng = np.random.default_rng(1)
    quant = config.quantization
    inputs = {
        c: encode_weighted(rng.normal(0, 0.3, DIM).astype(np.float32), 1, quant)
        for c in range(1, N + 1)
    }
    clients = {
        c: MaskingClient(
            config, c, inputs[c], identity=identities[c], roster=roster, model_digest=MODEL
        )
        for c in inputs
    }
    server = MaskingServer(config, roster=roster, model_digest=MODEL)  # honest until shares
    for c, client in clients.items():
        server.receive(c, client.start())
    for c, data in server.close().items():
        server.receive(c, clients[c].handle(data))
    session = server.session_id
    corrupt_keys = {z: clients[z]._record(_SharesSent).masking for z in CORRUPT}
    forwarded = server.close()
    allowed = (graph[v] & CORRUPT) | held_back
    mine = ForwardedShares.decode(forwarded[v], config)
    kept = tuple(e for e in mine.sealed if e[0] in allowed)
    forwarded[v] = ForwardedShares(session, rnd, v, kept).encode()
    uploads = {
        c: MaskedInput.decode(clients[c].handle(data), config)
        for c, data in forwarded.items()
        if c not in held_back
    }
    corrupt_held = {z: clients[z]._record(_InputSent).held for z in CORRUPT}
    survivors = tuple(sorted(uploads))
    signatures = {}
    for c in survivors:
        if c in CORRUPT:
            signatures[c] = identities[c].sign(survivors_statement(session, survivors))
            continue
        try:
            reply = clients[c].handle(ConsistencyRequest(session, rnd, c, survivors).encode())
        except SecAggError:
            continue
        signatures[c] = ConsistencySignature.decode(reply, config).signature
    responses = {}
    for c in survivors:
        if c in CORRUPT or c not in signatures:
            continue
        live = set(clients[c]._record(_Signed).inputs.held)
        request = UnmaskingRequest(
            session,
            rnd,
            c,
            tuple(sorted(live & set(survivors))),
            tuple(sorted(live - set(survivors))),
            tuple(sorted((s, signatures[s]) for s in graph[c] if s in signatures)),
        )
        try:
            responses[c] = UnmaskingResponse.decode(clients[c].handle(request.encode()), config)
        except SecAggError:
            continue

    def shares(owner: int, kind: str) -> list[Share]:
        out = [Share(x, (y,)) for x, r in responses.items() for o, y in getattr(r, kind) if o == owner]
        index = 0 if kind == "self_mask_shares" else 1
        out += [Share(z, (corrupt_held[z][owner][index],)) for z in CORRUPT if owner in corrupt_held[z]]
        return out

    try:
        b_v = reconstruct(shares(v, "self_mask_shares"), t)[0]
        public_v = server._current_round().keys[v][1]
        terms = [masks.self_mask(b_v, session, v, -1)]
        for w in sorted(allowed):
            if w in CORRUPT:
                pair = corrupt_keys[w]
            else:
                pair = KeyPair.from_private(reconstruct(shares(w, "key_shares"), t)[0])
            seed = masks.pairwise_seed(pair, public_v, session)
            terms.append(masks.pairwise_mask(seed, session, v, w, -1))
    except SecAggError:
        return False
    recovered = masks.apply(uploads[v].vector().copy(), terms, config.modulus_bits)
    return bool(np.array_equal(recovered, inputs[v]))


@pytest.fixture(scope="module")
def cohort():  # noqa: ANN201
    return generate_cohort(range(1, N + 1), CountingEntropy(b"withholding"))


def test_the_attack_works_against_the_old_threshold(cohort, monkeypatch) -> None:  # noqa: ANN001
    roster, identities = cohort
    monkeypatch.setattr(config_module, "malicious_threshold", _old_threshold)
    config = _config(roster, 0)
    assert config.threshold == 6 and (K + MAX_CORRUPT) % 2 == 1
    plan = _plan(config)
    assert plan is not None
    assert _attack(config, roster, identities, plan)


@pytest.mark.parametrize("round_number", [0, 1, 2])
def test_no_victim_exists_under_the_current_threshold(cohort, round_number: int) -> None:
    roster, _ = cohort
    config = _config(roster, round_number)
    assert 2 * config.threshold > K + MAX_CORRUPT + 1
    assert _plan(config) is None
