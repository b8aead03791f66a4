"""The malicious-server mode of SecAgg / SecAgg+: signed keys against the roster, the
consistency round, model binding, and the ring fixed by the roster. Each check is shown
failing closed: forged, replayed or mismatched messages are refused (and the refusing
client aborts), and a server showing clients different survivor sets gets no share."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from secagg.errors import (
    ConfigurationError,
    ConsistencyCheckError,
    KeyDigestError,
    ModelMismatchError,
    SessionMismatchError,
    SignatureError,
    StateMismatchError,
    ThresholdError,
)
from secagg.masking import (
    AdvertiseKeys,
    ClientStage,
    Graph,
    KeyBroadcast,
    MaskingClient,
    MaskingConfig,
    MaskingServer,
    UnmaskingRequest,
)
from secagg.masking.config import corrupt_neighbours, malicious_threshold
from secagg.masking.graph import all_neighbourhoods
from secagg.masking.keytree import KeyTree
from secagg.masking.messages import ConsistencyRequest, ConsistencySignature
from secagg.protocol.identity import CallbackVerifier, Roster, Security, generate_cohort
from secagg.protocol.state import RestoreGuard
from secagg.quantize import QuantizationConfig
from secagg.result import DropStage
from secagg.simulation import Cohort, simulate_masking

from .conftest import random_inputs

QUANT = QuantizationConfig(bits=12, max_clients=16)
MODEL = bytes(range(32))
OTHER_MODEL = bytes(32)


class Round:
    """A malicious-mode round driven stage by stage (the server may be replaced)."""

    def __init__(self, n: int = 9, graph: Graph = Graph.COMPLETE, round_number: int = 4) -> None:
        self.roster, self.identities = generate_cohort(range(1, n + 1))
        self.config = MaskingConfig.create(
            graph,
            n,
            20,
            QUANT,
            round_number=round_number,
            security=Security.MALICIOUS,
            max_corrupt=1,
            roster=self.roster,
        )
        self.inputs = random_inputs(self.config, n)
        self.clients = {c: self.client(c) for c in self.inputs}
        self.server = MaskingServer(self.config, roster=self.roster, model_digest=MODEL)

    def client(self, c: int, model: bytes = MODEL) -> MaskingClient:
        return MaskingClient(
            self.config,
            c,
            self.inputs[c],
            identity=self.identities[c],
            roster=self.roster,
            model_digest=model,
        )

    def advertise(self) -> dict[int, bytes]:
        sent = {c: client.start() for c, client in self.clients.items()}
        for c, data in sent.items():
            self.server.receive(c, data)
        return self.server.close()

    def through_uploads(self) -> dict[int, bytes]:
        """Keys, shares and uploads; returns the consistency requests."""
        outbox = self.advertise()  # the key lists
        for _ in range(2):  # shares, then masked inputs
            for c, data in outbox.items():
                self.server.receive(c, self.clients[c].handle(data))
            outbox = self.server.close()
        return outbox


def test_a_malicious_round_gives_the_exact_sum() -> None:
    r = Round()
    for c, data in r.through_uploads().items():
        r.server.receive(c, r.clients[c].handle(data))
    for c, data in r.server.close().items():
        r.server.receive(c, r.clients[c].handle(data))
    r.server.close()
    total = sum(v.astype(np.uint64) for v in r.inputs.values()) & np.uint64(
        (1 << r.config.modulus_bits) - 1
    )
    assert np.array_equal(r.server.result.aggregate, total)


def test_the_threshold_follows_the_rule_for_a_deviating_server() -> None:
    roster, _ = generate_cohort(range(1, 31))
    for graph in Graph:
        config = MaskingConfig.create(
            graph,
            30,
            4,
            QuantizationConfig(bits=8, max_clients=30),
            security="malicious",
            max_corrupt=3,
            roster=roster,
        )
        corrupt = corrupt_neighbours(graph, 30, config.neighbours, 3)
        assert 2 * config.threshold > config.neighbours + corrupt
        assert config.threshold == malicious_threshold(config.neighbours, corrupt)
        with pytest.raises(ThresholdError):
            replace(config, threshold=config.threshold - 1)
    with pytest.raises(ThresholdError, match="raise neighbours"):
        MaskingConfig.create(
            Graph.HARARY,
            30,
            4,
            QuantizationConfig(bits=8, max_clients=30),
            4,
            security="malicious",
            max_corrupt=25,
            roster=roster,
        )


def test_the_malicious_mode_needs_its_roster_identity_and_model() -> None:
    r = Round()
    with pytest.raises(ConfigurationError):
        MaskingClient(r.config, 1, r.inputs[1])
    with pytest.raises(ConfigurationError):
        MaskingClient(r.config, 1, r.inputs[1], identity=r.identities[1], roster=r.roster)
    other, _ = generate_cohort(range(1, 10))
    with pytest.raises(ConfigurationError, match="roster"):  # another roster: other digest
        MaskingClient(
            r.config, 1, r.inputs[1], identity=r.identities[1], roster=other, model_digest=MODEL
        )
    with pytest.raises(ConfigurationError):
        MaskingServer(r.config, model_digest=MODEL)


def test_a_forged_advertise_keys_is_refused_by_the_server() -> None:
    r = Round()
    message = AdvertiseKeys.decode(r.clients[2].start(), r.config)
    forged = replace(message, signature=bytes(64))
    with pytest.raises(SignatureError):
        r.server.receive(2, forged.encode())
    assert 2 in r.server.dropped
    # Client 4's keys signed by client 3's identity: refused too.
    fourth = AdvertiseKeys.decode(r.clients[4].start(), r.config)
    theirs = r.identities[3].sign(fourth.statement)
    with pytest.raises(SignatureError):
        r.server.receive(4, replace(fourth, signature=theirs).encode())


def test_a_replay_from_another_round_or_session_does_not_verify() -> None:
    old = Round(round_number=4)
    message = AdvertiseKeys.decode(old.clients[2].start(), old.config)
    later = Round(round_number=5)
    later.roster, later.identities = old.roster, old.identities
    later.config = replace(later.config, roster_digest=old.roster.digest)
    server = MaskingServer(later.config, roster=old.roster, model_digest=MODEL)
    with pytest.raises(SessionMismatchError):  # refused as stale, changes nothing
        server.receive(2, message.encode())
    assert 2 not in server.dropped
    # Re-headed for the new round, the old signature no longer verifies.
    moved = replace(message, session_id=server._expected_session(), round=5)
    with pytest.raises(SignatureError):
        server.receive(2, moved.encode())


def test_a_neighbour_key_without_a_valid_signature_makes_the_client_abort() -> None:
    r = Round()
    broadcast = KeyBroadcast.decode(r.advertise()[1], r.config)
    attestations = list(broadcast.attestations)
    model, signature = attestations[1]
    attestations[1] = (model, signature[:-1] + bytes([signature[-1] ^ 1]))
    with pytest.raises(SignatureError):
        r.clients[1].share_keys(replace(broadcast, attestations=tuple(attestations)))
    assert r.clients[1].stage is ClientStage.ABORTED


def test_wrong_roster_entries() -> None:
    # The server's roster has the wrong key for client 3: client 3 is dropped, others go on.
    r = Round()
    keys = {c: r.identities[c].public for c in r.inputs}
    keys[3] = generate_cohort([3])[1][3].public
    wrong = Roster(keys, r.roster.ring_seed)
    config = replace(r.config, roster_digest=wrong.digest)
    server = MaskingServer(config, roster=wrong, model_digest=MODEL)
    clients = {
        c: MaskingClient(
            config, c, r.inputs[c], identity=r.identities[c], roster=wrong, model_digest=MODEL
        )
        for c in r.inputs
    }
    for c, client in clients.items():
        data = client.start()
        if c == 3:
            with pytest.raises(SignatureError):
                server.receive(c, data)
        else:
            server.receive(c, data)
    assert 3 not in server.close()
    with pytest.raises(ConfigurationError):
        Roster({1: keys[1], 2: keys[1]}, bytes(32))  # one identity key for two clients


def test_a_pki_callback_can_verify() -> None:
    roster, identities = generate_cohort(range(1, 6))
    calls = []

    def check(client: int, message: bytes, signature: bytes) -> None:
        calls.append(client)
        roster.verify(client, message, signature)

    verifier = CallbackVerifier(check, b"my-pki".ljust(32, b"\0"))
    config = MaskingConfig.create(
        Graph.COMPLETE, 5, 4, QUANT, security="malicious", max_corrupt=0, roster=verifier
    )
    cohort = Cohort(verifier, identities)  # type: ignore[arg-type]
    inputs = random_inputs(config, 1)
    run = simulate_masking(config, inputs, {}, cohort=cohort)
    assert set(run.outcome.survivors) == {1, 2, 3, 4, 5} and calls


def test_a_client_with_another_model_is_refused_by_the_server() -> None:
    r = Round()
    r.clients[4] = r.client(4, OTHER_MODEL)
    data = r.clients[4].start()
    with pytest.raises(ModelMismatchError):
        r.server.receive(4, data)


def test_mixed_model_cohorts_cannot_complete_a_round_together() -> None:
    # A server that forwards a key list with two models (skipping its own check).
    r = Round()
    r.clients[4] = r.client(4, OTHER_MODEL)
    adverts = {c: AdvertiseKeys.decode(client.start(), r.config) for c, client in r.clients.items()}
    entries = tuple((c, a.encryption_key, a.masking_key) for c, a in sorted(adverts.items()))
    attestations = tuple((a.model_digest, a.signature) for _, a in sorted(adverts.items()))
    digest = KeyTree(r.config.num_clients, {c: (e, m) for c, e, m in entries}).root
    for c, client in r.clients.items():
        broadcast = KeyBroadcast(
            adverts[c].session_id, r.config.round_number, c, digest, entries, attestations
        )
        with pytest.raises(ModelMismatchError):
            client.handle(broadcast.encode())


@pytest.mark.parametrize("graph", [Graph.COMPLETE, Graph.HARARY])
def test_a_rerun_round_cannot_reuse_an_earlier_executions_session(graph) -> None:
    # A review's attack: a server re-runs a round number and sends every execution the
    # same key digest, so that all share one session id and consistency signatures
    # collected in aborted executions verify in the last. The digest commits to each
    # client's fresh keys (the key tree), so clients shown an old digest refuse.
    r = Round(n=12, graph=graph)
    old = {c: KeyBroadcast.decode(d, r.config) for c, d in r.advertise().items()}
    # The same round again: the same roster and configuration, fresh clients and keys.
    r.clients = {c: r.client(c) for c in r.inputs}
    r.server = MaskingServer(r.config, roster=r.roster, model_digest=MODEL)
    for c, data in r.advertise().items():
        replayed = replace(KeyBroadcast.decode(data, r.config), key_digest=old[c].key_digest)
        with pytest.raises(KeyDigestError):
            r.clients[c].handle(replayed.encode())
        assert r.clients[c].stage is ClientStage.ABORTED


def _signed_requests(r: Round) -> tuple[dict[int, bytes], dict[int, bytes]]:
    requests = r.through_uploads()
    signatures = {}
    for c, data in requests.items():
        signatures[c] = ConsistencySignature.decode(r.clients[c].handle(data), r.config).signature
        r.server.receive(
            c,
            ConsistencySignature(
                r.server.session_id, r.config.round_number, c, signatures[c]
            ).encode(),
        )
    return r.server.close(), signatures


def test_the_consistency_set_must_name_the_client_and_follow_its_shares() -> None:
    r = Round()
    requests = r.through_uploads()
    request = ConsistencyRequest.decode(requests[1], r.config)
    without_me = replace(request, survivors=tuple(c for c in request.survivors if c != 1))
    with pytest.raises(ConsistencyCheckError, match="leaves out"):
        r.clients[1].sign_survivors(without_me)
    assert r.clients[1].stage is ClientStage.ABORTED
    short = replace(request, survivors=request.survivors[:3])
    with pytest.raises(ConsistencyCheckError):
        r.clients[2].sign_survivors(replace(short, recipient=2))


@pytest.mark.parametrize("keep", [0, 1, "t-1"])
def test_fewer_than_t_signatures_make_the_client_refuse(keep) -> None:
    r = Round()
    unmask, _ = _signed_requests(r)
    request = UnmaskingRequest.decode(unmask[1], r.config)
    count = r.config.threshold - 1 if keep == "t-1" else keep
    short = replace(request, signatures=request.signatures[:count])
    with pytest.raises(ConsistencyCheckError, match="signed"):
        r.clients[1].unmask(short)
    assert r.clients[1].stage is ClientStage.ABORTED


def test_one_signature_repeated_does_not_count_as_several() -> None:
    r = Round()
    unmask, _ = _signed_requests(r)
    request = UnmaskingRequest.decode(unmask[1], r.config)
    one = request.signatures[0]
    repeated = replace(request, signatures=(one,) * r.config.threshold)
    with pytest.raises(ConsistencyCheckError, match="distinct signers"):
        r.clients[1].unmask(repeated)
    assert r.clients[1].stage is ClientStage.ABORTED


def test_signatures_on_another_set_or_forged_do_not_count() -> None:
    r = Round()
    unmask, _ = _signed_requests(r)
    request = UnmaskingRequest.decode(unmask[1], r.config)
    forged = tuple((c, bytes(64)) for c, _ in request.signatures)
    with pytest.raises(ConsistencyCheckError):
        r.clients[1].unmask(replace(request, signatures=forged))
    other = Round()
    other_unmask, _ = _signed_requests(other)
    foreign = UnmaskingRequest.decode(other_unmask[1], other.config).signatures
    r2 = Round()
    unmask2, _ = _signed_requests(r2)
    request2 = UnmaskingRequest.decode(unmask2[1], r2.config)
    with pytest.raises(ConsistencyCheckError):  # signatures from another session
        r2.clients[1].unmask(replace(request2, signatures=foreign))


def test_a_request_that_does_not_follow_the_signed_set_is_refused() -> None:
    r = Round()
    unmask, _ = _signed_requests(r)
    request = UnmaskingRequest.decode(unmask[1], r.config)
    moved = request.survivors[0]
    lying = replace(
        request,
        survivors=request.survivors[1:],
        dropped=tuple(sorted((*request.dropped, moved))),
    )
    with pytest.raises(ConsistencyCheckError, match="follow"):
        r.clients[1].unmask(lying)


@pytest.mark.parametrize("stage", list(DropStage))
@pytest.mark.parametrize("graph", list(Graph))
def test_dropouts_at_every_stage_in_the_malicious_mode(stage: DropStage, graph: Graph) -> None:
    n = 12
    cohort = Cohort.generate(n)
    config = MaskingConfig.create(
        graph,
        n,
        16,
        QUANT,
        8 if graph is Graph.HARARY else None,
        security="malicious",
        max_corrupt=1,
        roster=cohort.roster,
    )
    inputs = random_inputs(config, 3)
    run = simulate_masking(config, inputs, {5: stage, 9: stage}, cohort=cohort)
    gone = set() if stage is DropStage.UNMASKING else {5, 9}
    assert set(run.outcome.survivors) == set(range(1, n + 1)) - gone
    total = sum(inputs[c].astype(np.uint64) for c in run.outcome.survivors)
    assert np.array_equal(run.outcome.aggregate, total & np.uint64((1 << config.modulus_bits) - 1))


def test_the_ring_is_fixed_by_the_roster_before_any_key() -> None:
    r = Round(n=16, graph=Graph.HARARY)
    members = range(1, 17)
    first = all_neighbourhoods(r.config, bytes(32), members)
    again = all_neighbourhoods(r.config, bytes(range(32)), members)  # another "session"
    assert first == again
    # Leaving clients out of the key list removes them from neighbourhoods; it never
    # makes anyone else a neighbour.
    fewer = all_neighbourhoods(r.config, bytes(32), [c for c in members if c not in (2, 3)])
    assert all(fewer[c] <= first[c] for c in fewer)


def test_nothing_a_server_picks_per_round_moves_the_ring() -> None:
    # Found in review: a ring seeded from the whole configuration could be ground by
    # trying round numbers until colluders surround a victim. It follows the roster
    # (and its issuer's ring seed) alone.
    r = Round(n=16, graph=Graph.HARARY)
    members = range(1, 17)

    def ring(**changes: object) -> list[int]:
        config = MaskingConfig.create(
            Graph.HARARY,
            16,
            int(changes.get("dim", 20)),
            QUANT,
            int(changes.get("k", 8)),
            round_number=int(changes.get("round_number", 4)),
            security=Security.MALICIOUS,
            max_corrupt=1,
            roster=changes.get("roster", r.roster),
        )
        graph = all_neighbourhoods(config, bytes(32), members)
        # the ring order, read off the degree-2 neighbourhoods of the degree-k graph
        return sorted((c, sorted(graph[c])) for c in members)

    base = ring()
    assert ring(round_number=5) == base == ring(round_number=2**32 - 1) == ring(dim=7)
    reseeded = Roster({c: r.roster.public_key(c) for c in members}, bytes(32))
    assert ring(roster=reseeded) != base


def test_a_malicious_masking_round_runs_its_whole_roster() -> None:
    roster, _ = generate_cohort(range(1, 21))
    with pytest.raises(ConfigurationError, match="whole roster"):
        MaskingConfig.create(
            Graph.HARARY, 16, 4, QUANT, 8, security="malicious", max_corrupt=1, roster=roster
        )


def test_restoring_a_malicious_client_needs_the_same_identity() -> None:
    r = Round()
    r.advertise()
    blob = r.clients[1].save()
    restored = MaskingClient.restore(
        blob, r.config, identity=r.identities[1], roster=r.roster, guard=RestoreGuard()
    )
    assert restored.stage is ClientStage.KEYS_ADVERTISED
    with pytest.raises(StateMismatchError):
        MaskingClient.restore(
            blob, r.config, identity=r.identities[2], roster=r.roster, guard=RestoreGuard()
        )
    with pytest.raises(ConfigurationError, match="RestoreGuard"):
        MaskingClient.restore(blob, r.config, identity=r.identities[1], roster=r.roster)
