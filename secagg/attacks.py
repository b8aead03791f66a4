"""Runnable demonstrations of what a deviating server can do, and what stops it.

Each scenario runs the real client parties against a server that deviates from the
protocol (the attacker: it sees and writes every message), in the honest mode (where the
protocol assumes an honest-but-curious server, and the attack succeeds) or in the
malicious mode (where it fails with the error that stopped it). ``secagg attack
SCENARIO --security {honest,malicious}`` runs one; the result says whether the attacker
recovered (or isolated) an individual input.

Scenarios:

- ``inconsistent-survivors``: SecAgg+ (20 clients, the default degree). The server
  tells different clients different survivor lists: the target's neighbours that it
  survived (they reveal shares of its self-mask seed), and enough of each neighbour's
  own neighbours that the neighbour dropped (they reveal shares of its mask key). Every
  request passes the honest mode's client checks; the server then strips all of the
  target's masks from its masked input. Stopped by the consistency round.
- ``paillier-key-substitution``: the server replaces the key holder's public key with
  its own; every upload then decrypts for the server. Stopped by the key holder's
  signature on its key.
- ``forged-keys``: the server hands the target a key list in which every other
  client's keys are the server's (forged AdvertiseKeys under their ids); it reads the
  shares the target seals and knows every pairwise mask. Stopped by the roster
  signatures on advertised keys.
- ``ring-bias``: colluding clients re-draw their keys until the SecAgg+ ring places them
  all around a victim, then pool their shares and pairwise masks. Stopped by the ring
  being fixed by the roster before any key is seen.
- ``model-inconsistency``: the server sends the victim one model and everyone else a
  model whose update is zero, so the aggregate is the victim's update (Pasquini et al.,
  CCS 2022). Stopped by model binding.

These are demonstrations for researchers and tests, with small cohorts; nothing here is
used by the protocols themselves.
"""

from __future__ import annotations

import enum
import hashlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.codec import SERVER_ID, Header, MessageType
from secagg.errors import ConfigurationError, SecAggError
from secagg.masking import masks
from secagg.masking.client import (  # colluders' own state: demonstrations only
    MaskingClient,
    _InputSent,
    _SharesSent,
    share_associated_data,
)
from secagg.masking.config import Graph, MaskingConfig, session_id
from secagg.masking.graph import neighbourhood
from secagg.masking.keytree import KeyTree
from secagg.masking.messages import (
    SHARE_PLAINTEXT_BYTES,
    AdvertiseKeys,
    ConsistencyRequest,
    ConsistencySignature,
    ForwardedShares,
    KeyBroadcast,
    MaskedInput,
    ShareKeys,
    UnmaskingRequest,
    UnmaskingResponse,
)
from secagg.masking.server import MaskingServer, key_lists
from secagg.paillier.decrypt import decrypt_many
from secagg.paillier.keys import generate_keypair
from secagg.paillier.messages import CiphertextsMessage, PublicKeyMessage
from secagg.paillier.packing import unpack_slots
from secagg.paillier.protocol import PaillierClient
from secagg.paillier.session import PaillierConfig
from secagg.paillier.session import session_id as paillier_session
from secagg.primitives.aead import open_sealed, seal
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.keyagreement import KeyPair, Label, derive_key
from secagg.primitives.shamir import ELEMENT_BYTES, Share, reconstruct
from secagg.primitives.signatures import IdentityKey
from secagg.protocol.identity import NO_MODEL, Roster, Security, generate_cohort
from secagg.quantize import QuantizationConfig, quantization_error_bound
from secagg.weighting import decode_weighted, encode_weighted


class Scenario(str, enum.Enum):
    INCONSISTENT_SURVIVORS = "inconsistent-survivors"
    PAILLIER_KEY_SUBSTITUTION = "paillier-key-substitution"
    FORGED_KEYS = "forged-keys"
    RING_BIAS = "ring-bias"
    MODEL_INCONSISTENCY = "model-inconsistency"


@dataclass(frozen=True)
class AttackResult:
    """Whether the attacker recovered (or isolated) an individual input, and if not,
    what stopped it (an error class name or the defence's name)."""

    scenario: str
    security: str
    recovered: bool
    stopped_by: str | None
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "security": self.security,
            "recovered": self.recovered,
            "stopped_by": self.stopped_by,
            "detail": self.detail,
        }


DIM = 64
MODEL_A = hashlib.sha256(b"the model the victim got").digest()
MODEL_B = hashlib.sha256(b"the model everyone else got").digest()


def run(
    scenario: Scenario | str, security: Security | str, entropy: Entropy = system_entropy
) -> AttackResult:
    """Run one demonstration. Raises ConfigurationError for an unknown name."""
    try:
        kind, mode = Scenario(scenario), Security(security)
    except ValueError:
        names = ", ".join(s.value for s in Scenario)
        raise ConfigurationError(f"unknown scenario or security mode; scenarios: {names}") from None
    attack: Callable[[Security, Entropy], tuple[bool, str | None, str]] = _ATTACKS[kind]
    recovered, stopped_by, detail = attack(mode, entropy)
    return AttackResult(kind.value, mode.value, recovered, stopped_by, detail)


# --- a round the attacker runs --------------------------------------------------------


@dataclass
class _Round:
    """Clients of one masking round, the inputs the attacker wants, and the cohort."""

    config: MaskingConfig
    clients: dict[int, MaskingClient]
    inputs: dict[int, npt.NDArray[np.unsignedinteger]]
    model: bytes
    roster: Roster | None
    identities: Mapping[int, IdentityKey]

    def client(
        self, cid: int, vector: npt.NDArray[np.unsignedinteger], model: bytes, entropy: Entropy
    ) -> MaskingClient:
        """A fresh client ``cid`` of this round (with its identity in the malicious mode)."""
        malicious = self.config.malicious
        return MaskingClient(
            self.config,
            cid,
            vector,
            entropy=entropy,
            identity=self.identities[cid] if malicious else None,
            roster=self.roster if malicious else None,
            model_digest=model if malicious else None,
        )

    def server(self) -> MaskingServer:
        if self.config.malicious:
            return MaskingServer(self.config, roster=self.roster, model_digest=self.model)
        return MaskingServer(self.config)


def _quantization(n: int) -> QuantizationConfig:
    return QuantizationConfig(clip=1.0, bits=12, max_clients=n)


def _masking_round(
    graph: Graph,
    n: int,
    mode: Security,
    entropy: Entropy,
    *,
    neighbours: int | None = None,
    max_corrupt: int | None = None,
    models: Mapping[int, bytes] | None = None,
) -> _Round:
    quant = _quantization(n)
    roster, identities = generate_cohort(range(1, n + 1), entropy)
    malicious = mode is Security.MALICIOUS
    config = MaskingConfig.create(
        graph,
        n,
        DIM,
        quant,
        neighbours,
        round_number=7,
        security=mode,
        max_corrupt=max_corrupt,
        roster=roster if malicious else None,
    )
    rng = np.random.default_rng(n)
    inputs = {
        c: encode_weighted(rng.normal(0, 0.3, DIM).astype(np.float32), 1, quant, entropy)
        for c in range(1, n + 1)
    }
    r = _Round(config, {}, inputs, MODEL_B, roster if malicious else None, identities)
    r.clients = {c: r.client(c, inputs[c], (models or {}).get(c, MODEL_B), entropy) for c in inputs}
    return r


def _run_until_unmasking(
    r: _Round, server: MaskingServer, first: Mapping[int, bytes] | None = None
) -> tuple[dict[int, bytes], dict[int, object]]:
    """The honest first three stages; returns each client's masked-input bytes and the
    state each client held right after it shared its keys (what colluders could pool)."""
    for c, client in r.clients.items():
        server.receive(c, (first or {}).get(c) or client.start())
    uploads: dict[int, bytes] = {}
    shared: dict[int, object] = {}
    for c, data in server.close().items():
        server.receive(c, r.clients[c].handle(data))
        shared[c] = r.clients[c]._record(_SharesSent)
    for c, data in server.close().items():
        uploads[c] = r.clients[c].handle(data)
        server.receive(c, uploads[c])
    server.close()  # the honest next step, which an attacker may replace
    return uploads, shared


def _unmasked(
    y: npt.NDArray[np.unsignedinteger],
    b_u: bytes,
    pairwise: Mapping[int, bytes],
    session: bytes,
    owner: int,
    bits: int,
) -> npt.NDArray[np.unsignedinteger]:
    """x = y - PRG(b_u) - sum_v sign(u, v) PRG(s_uv): one client's input, exposed."""
    terms = [masks.self_mask(b_u, session, owner, -1)]
    terms += [masks.pairwise_mask(seed, session, owner, v, -1) for v, seed in pairwise.items()]
    return masks.apply(y.copy(), terms, bits)


def _refusal(error: SecAggError) -> str:
    return type(error).__name__


# --- 1. inconsistent survivor lists ---------------------------------------------------


def _drop_assignment(
    graph: Mapping[int, frozenset[int]], target: int, t: int
) -> dict[int, set[int]] | None:
    """For every client w, which of the target's neighbours to tell it "dropped", so
    that each neighbour v is "dropped" for t of v's own neighbours while every w still
    keeps t - 1 survivors (so its request passes the checks): a max-flow."""
    demand = sorted(graph[target])
    capacity = {w: len(graph[w]) - (t - 1) for w in graph}
    # Node names: ("s"), ("v", v), ("w", w), ("z"); residual capacities in a dict.
    flow: dict[tuple[object, object], int] = {}
    adj: dict[object, list[object]] = {}

    def edge(a: object, b: object, cap: int) -> None:
        flow[(a, b)] = flow.get((a, b), 0) + cap
        flow.setdefault((b, a), 0)
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)

    for v in demand:
        edge("s", ("v", v), t)
        for w in graph[v]:
            edge(("v", v), ("w", w), 1)
    for w, cap in capacity.items():
        edge(("w", w), "z", max(cap, 0))
    total = 0
    while True:
        parent: dict[object, object] = {"s": "s"}
        queue: deque[object] = deque(["s"])
        while queue and "z" not in parent:
            a = queue.popleft()
            for b in adj.get(a, []):
                if b not in parent and flow[(a, b)] > 0:
                    parent[b] = a
                    queue.append(b)
        if "z" not in parent:
            break
        node: object = "z"
        while node != "s":
            prev = parent[node]
            flow[(prev, node)] -= 1
            flow[(node, prev)] += 1
            node = prev
        total += 1
    if total < t * len(demand):
        return None
    told: dict[int, set[int]] = {w: set() for w in graph}
    for v in demand:
        for w in graph[v]:
            if flow[(("w", w), ("v", v))] > 0:  # one unit of flow went v -> w
                told[w].add(v)
    return told


def _inconsistent_survivors(mode: Security, entropy: Entropy) -> tuple[bool, str | None, str]:
    r = _masking_round(Graph.HARARY, 20, mode, entropy)
    server = r.server()
    uploads, _ = _run_until_unmasking(r, server)
    config, session, t = r.config, server.session_id, r.config.threshold
    graph = {c: server.neighbours_of(c) for c in r.clients}
    target, told = next(
        ((c, a) for c in sorted(r.clients) if (a := _drop_assignment(graph, c, t)) is not None),
        (0, None),
    )
    if told is None:
        return False, "no assignment", "no survivor lists pass the client checks"
    everyone = tuple(sorted(r.clients))
    responses: dict[int, UnmaskingResponse] = {}
    refusals: dict[int, str] = {}
    signatures: dict[int, bytes] = {}
    if mode is Security.MALICIOUS:  # each client signs the set it is shown
        for w in r.clients:
            view = tuple(c for c in everyone if c not in told[w])
            consistency = ConsistencyRequest(session, config.round_number, w, view)
            try:
                reply = r.clients[w].handle(consistency.encode())
            except SecAggError as exc:
                refusals[w] = _refusal(exc)
                continue
            signatures[w] = ConsistencySignature.decode(reply, config).signature
    for w in r.clients:
        if w in refusals:
            continue
        live = sorted(graph[w])
        survivors = tuple(c for c in live if c not in told[w])
        dropped = tuple(c for c in live if c in told[w])
        signed = tuple(sorted((s, signatures[s]) for s in graph[w] if s in signatures))
        request = UnmaskingRequest(session, config.round_number, w, survivors, dropped, signed)
        try:
            responses[w] = UnmaskingResponse.decode(r.clients[w].handle(request.encode()), config)
        except SecAggError as exc:
            refusals[w] = _refusal(exc)

    def shares_of(owner: int, kind: str) -> list[Share]:
        return [
            Share(w, (y,))
            for w, resp in responses.items()
            for c, y in getattr(resp, kind)
            if c == owner
        ]

    # What the attacker now holds: shares of b_target, and of each neighbour's s_v^SK.
    try:
        b_target = reconstruct(shares_of(target, "self_mask_shares"), t)[0]
        pairwise = {}
        for v in sorted(graph[target]):
            s_v = KeyPair.from_private(reconstruct(shares_of(v, "key_shares"), t)[0])
            pairwise[v] = masks.pairwise_seed(s_v, _masking_public(server, target), session)
    except SecAggError as exc:
        kinds = sorted(set(refusals.values())) or [_refusal(exc)]
        return False, kinds[0], f"{len(refusals)} of {len(r.clients)} clients refused"
    y = MaskedInput.decode(uploads[target], config).vector()
    x = _unmasked(y, b_target, pairwise, session, target, config.modulus_bits)
    recovered = bool(np.array_equal(x, r.inputs[target]))
    return recovered, None if recovered else "wrong result", f"target client {target}"


def _masking_public(server: MaskingServer, client: int) -> bytes:
    """The masking public key a client advertised (the attacker saw every key)."""
    current = server._current_round()
    if current is None:
        raise ConfigurationError("no keys yet")
    return current.keys[client][1]


# --- 2. Paillier key substitution -------------------------------------------------------


def _paillier_key_substitution(mode: Security, entropy: Entropy) -> tuple[bool, str | None, str]:
    n = 5
    quant = _quantization(n)
    roster, identities = generate_cohort(range(1, n + 1), entropy)
    malicious = mode is Security.MALICIOUS
    config = PaillierConfig(
        3,
        DIM,
        quant,
        tuple(range(1, n + 1)),
        security=mode,
        roster_digest=roster.digest if malicious else b"",
    )
    rng = np.random.default_rng(5)
    inputs = {
        c: encode_weighted(rng.normal(0, 0.3, DIM).astype(np.float32), 1, quant, entropy)
        for c in range(1, n + 1)
    }
    clients = {
        c: PaillierClient(
            config,
            c,
            inputs[c],
            entropy=entropy,
            identity=identities[c] if malicious else None,
            roster=roster if malicious else None,
            model_digest=MODEL_B if malicious else None,
        )
        for c in inputs
    }
    clients[1].start()  # the key holder's genuine key, which the server drops
    fake = generate_keypair(config.key_bits, entropy)
    session = paillier_session(config, fake.public, MODEL_B if malicious else NO_MODEL)
    header = Header(MessageType.PAILLIER_PUBLIC_KEY, session, config.round_number, 1, SERVER_ID)
    # The server cannot sign as the key holder; the best it can do is a random signature.
    forged = PublicKeyMessage(header, fake.public.n, entropy(64) if malicious else b"").encode()
    target = 3
    try:
        upload = clients[target].handle(forged)
    except SecAggError as exc:
        return False, _refusal(exc), f"client {target} refused the substituted key"
    message = CiphertextsMessage.decode(
        upload, count=config.ciphertexts, width=fake.public.ciphertext_bytes, signed=malicious
    )
    plaintexts = decrypt_many(fake, [int(c) for c in message.values()])
    vector = unpack_slots(plaintexts, config.length, config.packing)
    recovered = bool(np.array_equal(vector, inputs[target]))
    return recovered, None if recovered else "wrong result", f"client {target}'s upload decrypted"


# --- 3. forged keys under other clients' ids -----------------------------------------------


def _forged_keys(mode: Security, entropy: Entropy) -> tuple[bool, str | None, str]:
    r = _masking_round(Graph.HARARY, 10, mode, entropy)
    config, target = r.config, 1
    real = {c: AdvertiseKeys.decode(client.start(), config) for c, client in r.clients.items()}
    fakes = {c: (KeyPair.generate(entropy), KeyPair.generate(entropy)) for c in real if c != target}
    listed: dict[int, tuple[bytes, bytes, tuple[bytes, bytes]]] = {
        target: (
            real[target].encryption_key,
            real[target].masking_key,
            (real[target].model_digest, real[target].signature),
        )
    }
    for c, (enc, mask) in fakes.items():
        # Forged AdvertiseKeys under client c's id: the server cannot sign as c.
        listed[c] = (enc.public, mask.public, (r.model, entropy(64)))
    # The list a server would send over these keys (the key tree and its paths included).
    model = r.model if config.malicious else NO_MODEL
    signed = {c: a for c, (_, _, a) in listed.items()} if config.malicious else None
    _, _, broadcasts = key_lists(config, {c: (e, m) for c, (e, m, _) in listed.items()},
                                 signed, model)
    broadcast = broadcasts[target]
    try:
        share_keys = ShareKeys.decode(r.clients[target].handle(broadcast.encode()), config)
    except SecAggError as exc:
        return False, _refusal(exc), "the target refused the forged key list"
    session = share_keys.session_id
    # The server holds every "neighbour's" private key: it opens the target's shares...
    b_shares, share_keys_with = [], {}
    for holder, blob in share_keys.sealed:
        enc = fakes[holder][0]
        shared = enc.agree(real[target].encryption_key)
        key = derive_key(shared, label=Label.SHARE_ENCRYPTION, session_id=session)
        share_keys_with[holder] = key
        ad = share_associated_data(session, config.round_number, target, holder)
        plaintext = open_sealed(key, blob, ad)
        b_shares.append(Share(holder, (int.from_bytes(plaintext[8 : 8 + ELEMENT_BYTES], "big"),)))
    b_target = reconstruct(b_shares, config.threshold)[0]
    # ... and feeds the target shares from its fake neighbours, so that it goes on.
    forwarded = []
    for holder in sorted(share_keys_with):
        plaintext = holder.to_bytes(4, "big") + target.to_bytes(4, "big")
        plaintext += bytes(SHARE_PLAINTEXT_BYTES - len(plaintext))
        ad = share_associated_data(session, config.round_number, holder, target)
        forwarded.append((holder, seal(share_keys_with[holder], plaintext, ad, entropy)))
    message = ForwardedShares(session, config.round_number, target, tuple(forwarded))
    y = MaskedInput.decode(r.clients[target].handle(message.encode()), config).vector()
    pairwise = {
        v: masks.pairwise_seed(fakes[v][1], real[target].masking_key, session)
        for v in share_keys_with
    }
    x = _unmasked(y, b_target, pairwise, session, target, config.modulus_bits)
    recovered = bool(np.array_equal(x, r.inputs[target]))
    return recovered, None if recovered else "wrong result", f"target client {target}"


# --- 4. ring biasing ----------------------------------------------------------------------


def _ring_bias(mode: Security, entropy: Entropy) -> tuple[bool, str | None, str]:
    n, victim, colluders = 12, 1, frozenset({9, 10, 11, 12})
    if mode is Security.MALICIOUS:
        # A valid malicious configuration for this cohort (it assumes 2 corrupt clients;
        # 4 collude here, more than assumed, and still cannot move the ring).
        r = _masking_round(Graph.HARARY, n, mode, entropy, neighbours=8, max_corrupt=2)
    else:
        r = _masking_round(Graph.HARARY, n, mode, entropy, neighbours=4)
    config = r.config
    first = {c: r.clients[c].start() for c in r.clients if c not in colluders}
    adverts = {c: AdvertiseKeys.decode(data, config) for c, data in first.items()}
    seen: set[frozenset[int]] = set()
    attempts = 0
    for attempts in range(1, 5001):  # the colluders re-draw their keys
        drawn = {c: r.client(c, r.inputs[c], r.model, entropy) for c in colluders}
        first.update({c: d.start() for c, d in drawn.items()})
        adverts.update({c: AdvertiseKeys.decode(first[c], config) for c in colluders})
        keys = {c: (a.encryption_key, a.masking_key) for c, a in adverts.items()}
        model = r.model if config.malicious else NO_MODEL
        session = session_id(config, KeyTree(n, keys).root, model)
        around = neighbourhood(config, session, keys, victim)
        seen.add(around)
        if around <= colluders:
            r.clients.update(drawn)
            break
        if attempts == 300 and len(seen) == 1:
            break  # re-drawing never moves it (an honest-mode ring moves every time)
    if not around <= colluders:
        detail = f"{attempts} re-draws; the victim's neighbourhood took {len(seen)} value(s)"
        return False, "roster-bound ring (re-drawn keys never move it)", detail
    # Surrounded: the round runs; the colluders pool what they hold about the victim.
    server = r.server()
    uploads, shared = _run_until_unmasking(r, server, first)
    session = server.session_id
    b_shares, pairwise = [], {}
    for c in colluders:
        held = r.clients[c]._record(_InputSent).held  # the colluder's own memory
        b_shares.append(Share(c, (held[victim][0],)))
        mine = shared[c]
        if not isinstance(mine, _SharesSent):
            raise ConfigurationError("a colluder shared no keys")
        pairwise[c] = masks.pairwise_seed(mine.masking, keys[victim][1], session)
    b_victim = reconstruct(b_shares, config.threshold)[0]
    y = MaskedInput.decode(uploads[victim], config).vector()
    x = _unmasked(y, b_victim, pairwise, session, victim, config.modulus_bits)
    recovered = bool(np.array_equal(x, r.inputs[victim]))
    return recovered, None if recovered else "wrong result", f"surrounded after {attempts} re-draws"


# --- 5. model inconsistency -------------------------------------------------------------------


def _model_inconsistency(mode: Security, entropy: Entropy) -> tuple[bool, str | None, str]:
    n, victim = 8, 1
    models = {c: (MODEL_A if c == victim else MODEL_B) for c in range(1, n + 1)}
    r = _masking_round(Graph.COMPLETE, n, mode, entropy, models=models)
    quant = r.config.quantization
    rng = np.random.default_rng(11)
    update = rng.normal(0, 0.3, DIM).astype(np.float32)
    # Model B makes everyone else's update zero; only the victim's carries information.
    for c in r.clients:
        x = update if c == victim else np.zeros(DIM, dtype=np.float32)
        r.clients[c] = r.client(c, encode_weighted(x, 1, quant, entropy), models[c], entropy)
    adverts = {c: AdvertiseKeys.decode(client.start(), r.config) for c, client in r.clients.items()}
    entries = tuple((c, a.encryption_key, a.masking_key) for c, a in sorted(adverts.items()))
    digest = KeyTree(n, {c: (e, m) for c, e, m in entries}).root  # complete graph: no paths
    attestations = tuple((a.model_digest, a.signature) for _, a in sorted(adverts.items()))
    if mode is Security.HONEST:
        attestations = ()
    # The deviating server forwards every key list as is (it skips its own model check).
    refusals: dict[int, str] = {}
    shares: dict[int, ShareKeys] = {}
    for c, client in r.clients.items():
        broadcast = KeyBroadcast(
            adverts[c].session_id, r.config.round_number, c, digest, entries, attestations
        )
        try:
            shares[c] = ShareKeys.decode(client.handle(broadcast.encode()), r.config)
        except SecAggError as exc:
            refusals[c] = _refusal(exc)
    if refusals:
        return False, sorted(set(refusals.values()))[0], f"{len(refusals)} of {n} clients refused"
    # Honest mode: the round completes; the sum is the victim's update (and zeros).
    server = MaskingServer(r.config)
    for c, a in adverts.items():
        server.receive(c, a.encode())
    server.close()
    for c, s in shares.items():
        server.receive(c, s.encode())
    while not server.finished:
        for c, data in server.close().items():
            server.receive(c, r.clients[c].handle(data))
    mean = decode_weighted(server.result.aggregate, quant).mean
    estimate = mean * n  # the n - 1 others sent (quantized) zeros
    error = float(np.max(np.abs(estimate - update)))
    isolated = error <= n * quantization_error_bound(quant)
    return (
        isolated,
        None if isolated else "noise",
        f"victim's update isolated to within {error:.2g}",
    )


_ATTACKS: dict[Scenario, Callable[[Security, Entropy], tuple[bool, str | None, str]]] = {
    Scenario.INCONSISTENT_SURVIVORS: _inconsistent_survivors,
    Scenario.PAILLIER_KEY_SUBSTITUTION: _paillier_key_substitution,
    Scenario.FORGED_KEYS: _forged_keys,
    Scenario.RING_BIAS: _ring_bias,
    Scenario.MODEL_INCONSISTENCY: _model_inconsistency,
}

__all__ = ["AttackResult", "Scenario", "run"]
