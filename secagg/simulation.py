"""In-process simulation of one aggregation round: n clients and the server (and, for
Paillier, the key holder) exchanging the real encoded messages, with dropouts injected.

This is the recipe layer. :func:`run_round` is what an FL loop calls with plain numpy
updates: it quantizes, runs the chosen backend over the binary codec and returns the
dequantized weighted mean with the round's costs. :func:`simulate_round` runs a round
on protected vectors that are already encoded, and :func:`drive` is the transport loop
itself, written against the party interface of :mod:`secagg.protocol.party` only: the
same loop works over pipes, sockets or Flower (see docs/transport.md).

The simulator is a transport, so it owns the timing: each party's calls are charged to
that party's thread CPU time (the Paillier decryption pool's CPU is read from the
operating system's accounting of finished child processes).
"""

from __future__ import annotations

import hashlib
import logging
import os
import resource
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from secagg.errors import (
    PROTOCOL_CLIENT,
    AbortError,
    ConfigurationError,
    InputError,
    MessageError,
    SecAggError,
    renumber,
)
from secagg.masking.client import MaskingClient
from secagg.masking.config import Graph, MaskingConfig
from secagg.masking.server import MaskingServer
from secagg.masking.server import ServerStage as MaskingStage
from secagg.paillier.keys import PrivateKey
from secagg.paillier.protocol import PaillierClient, PaillierServer
from secagg.paillier.protocol import ServerStage as PaillierStage
from secagg.paillier.session import PaillierConfig
from secagg.plain import PlainClient, PlainConfig, PlainServer
from secagg.plain import ServerStage as PlainStage
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.signatures import IdentityKey
from secagg.protocol.identity import Roster, Security, generate_cohort
from secagg.protocol.observer import Work, WorkCounter
from secagg.protocol.party import ClientParty, Outcome, ServerParty
from secagg.quantize import QuantizationConfig, count_clipped
from secagg.result import Backend, DropStage, RoundMetrics, RoundResult
from secagg.timing import KEY_HOLDER, SERVER, CpuLedger
from secagg.weighting import check_weights, decode_weighted, encode_weighted

log = logging.getLogger(__name__)

_ORDER = list(DropStage)
# The model every simulated client "received" (the malicious mode binds one).
SIMULATED_MODEL = hashlib.sha256(b"secagg/v1/simulated-model").digest()


@dataclass(frozen=True)
class StageLabel:
    """How the simulator names a server stage: the dropout stage it stands for, and the
    ledger labels of the clients' and the server's work in it. ``key_holder``: the
    clients' work in this stage is the key holder's (charged to KEY_HOLDER)."""

    drop: DropStage
    client: str
    server: str
    key_holder: bool = False


STAGES: dict[Any, StageLabel] = {
    MaskingStage.COLLECTING_KEYS: StageLabel(DropStage.ADVERTISE_KEYS, "advertise", "advertise"),
    MaskingStage.COLLECTING_SHARES: StageLabel(DropStage.SHARE_KEYS, "share", "share"),
    MaskingStage.COLLECTING_INPUTS: StageLabel(DropStage.MASKED_INPUT, "upload", "upload"),
    MaskingStage.COLLECTING_SIGNATURES: StageLabel(
        DropStage.UNMASKING, "consistency", "consistency"
    ),
    MaskingStage.COLLECTING_UNMASKING: StageLabel(DropStage.UNMASKING, "unmask", "unmask"),
    PaillierStage.AWAIT_KEY: StageLabel(DropStage.ADVERTISE_KEYS, "keygen", "keygen", True),
    PaillierStage.COLLECTING: StageLabel(DropStage.MASKED_INPUT, "encrypt", "sum"),
    PaillierStage.DECRYPTING: StageLabel(DropStage.UNMASKING, "decrypt", "finish", True),
    PlainStage.COLLECTING: StageLabel(DropStage.MASKED_INPUT, "upload", "upload"),
}


@dataclass(frozen=True, eq=False)
class SimulatedRound:
    """A finished round and what it cost (ids are protocol ids)."""

    outcome: Outcome
    ledger: CpuLedger
    bytes_up: dict[int, int]
    bytes_down: dict[int, int]
    refused: dict[int, str]  # client id -> why it stopped (its own refusal or the server's)
    work: WorkCounter  # what the parties reported (PRG vectors, decryptions, ...)
    neighbours: int = 0  # masking: the graph's degree and threshold; 0 and 1 otherwise
    threshold: int = 1

    @property
    def mask_vectors(self) -> int:
        """PRG vectors of the protected length expanded by all parties together."""
        return self.work.total[Work.PRG_VECTORS]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def drive(
    server: ServerParty,
    clients: Mapping[int, ClientParty],
    dropouts: Mapping[int, DropStage],
    *,
    ledger: CpuLedger | None = None,
    before: Callable[[ClientParty, bytes | None], None] | None = None,
) -> tuple[Outcome, dict[int, int], dict[int, int], dict[int, str]]:
    """Run a round to its end over the party interface; a client in ``dropouts``
    vanishes at that stage (it neither receives nor sends from then on), and a client
    that refuses a message, or whose message the server refuses, stops too.
    ``before(client, message)`` runs ahead of each client step, outside its CPU charge
    (message None for ``start``): a streamed round gives a client its input there.

    Returns (outcome, bytes up by client, bytes down by client, refused reasons).
    Raises AbortError when the server aborts (nothing individual has been revealed).
    """
    ledger = ledger if ledger is not None else CpuLedger()
    up: dict[int, int] = defaultdict(int)
    down: dict[int, int] = defaultdict(int)
    refused: dict[int, str] = {}

    def label() -> StageLabel:
        return STAGES[server.stage]

    def present(cid: int) -> bool:
        drop = dropouts.get(cid)
        return cid not in refused and (
            drop is None or _ORDER.index(drop) > _ORDER.index(label().drop)
        )

    def party(cid: int) -> int | str:
        return KEY_HOLDER if label().key_holder else cid

    def send(cid: int, data: bytes) -> None:
        up[cid] += len(data)
        with ledger.charge(SERVER, label().server):
            try:
                server.receive(cid, data)
            except MessageError as exc:
                refused[cid] = f"server refused: {exc}"

    def run_client(cid: int, data: bytes | None) -> None:
        client = clients[cid]
        if before is not None:
            before(client, data)
        step = client.start if data is None else partial(client.handle, data)
        children = _children_cpu()
        try:
            with ledger.charge(party(cid), label().client):
                reply = step()
        except SecAggError as exc:
            refused[cid] = f"client refused: {exc}"
            return
        finally:
            ledger.add(party(cid), label().client, _children_cpu() - children)
        if reply is not None:
            send(cid, reply)

    for cid in clients:
        if present(cid):
            run_client(cid, None)
    while True:
        stage = label()
        with ledger.charge(SERVER, stage.server):
            outbox = server.close()
        if server.finished:
            return server.result, dict(up), dict(down), refused
        for cid, data in outbox.items():
            if present(cid):
                down[cid] += len(data)
                run_client(cid, data)


def _protected_inputs(
    updates: Sequence[npt.ArrayLike],
    weights: Sequence[int],
    quantization: QuantizationConfig,
    entropy: Entropy,
    ledger: CpuLedger,
) -> dict[int, npt.NDArray[np.unsignedinteger]]:
    inputs = {}
    for pos, (x, w) in enumerate(zip(updates, weights, strict=True)):
        with ledger.charge(pos + 1, "quantize"):
            inputs[pos + 1] = encode_weighted(x, w, quantization, entropy)
    return inputs


Vector = npt.NDArray[np.unsignedinteger]


class InputStream:
    """Clients' protected vectors made on demand, for rounds too large to hold every
    input: ``make(client id)`` is called at most once per client, just before the step
    that consumes the vector (the masked upload, the encryption), outside the step's CPU
    charge (``make`` charges what it counts, e.g. quantizing, itself; making test data
    is not the client's cost). The parties drop a vector once it is masked or
    encrypted, so a streamed round holds O(d) of inputs, not O(n d). ``supplied`` lists
    the clients that got theirs, in order."""

    def __init__(self, clients: Iterable[int], make: Callable[[int], Vector]) -> None:
        self.clients = tuple(clients)
        self._members = frozenset(self.clients)
        self._make = make
        self.supplied: list[int] = []

    def __len__(self) -> int:
        return len(self.clients)

    def __iter__(self) -> Iterator[int]:
        return iter(self.clients)

    def __contains__(self, cid: object) -> bool:
        return cid in self._members

    def give(self, client: ClientParty, data: bytes | None) -> None:
        """Give ``client`` its vector if the step answering ``data`` needs it."""
        due = getattr(client, "input_due", None)
        if due is None or not due(data):
            return
        client.provide_input(self._make(client.id))  # type: ignore[attr-defined]
        self.supplied.append(client.id)


#: Protected vectors by client id, all in memory, or made on demand.
Inputs = Mapping[int, Vector] | InputStream


def _initial(inputs: Inputs, cid: int) -> Vector | None:
    """The vector a client is made with: None when the stream gives it later."""
    return None if isinstance(inputs, InputStream) else inputs[cid]


def _finish(
    server: ServerParty,
    clients: Mapping[int, ClientParty],
    dropouts: Mapping[int, DropStage],
    work: WorkCounter,
    ledger: CpuLedger | None,
    inputs: Inputs,
    graph: tuple[int, int] = (0, 1),
) -> SimulatedRound:
    ledger = ledger if ledger is not None else CpuLedger()
    before = inputs.give if isinstance(inputs, InputStream) else None
    outcome, up, down, refused = drive(server, clients, dropouts, ledger=ledger, before=before)
    return SimulatedRound(outcome, ledger, up, down, refused, work, *graph)


def _check_inputs(
    inputs: Inputs,
    cohort: Sequence[int],
    dropouts: Mapping[int, DropStage],
) -> None:
    if sorted(inputs) != sorted(cohort):
        raise InputError("one protected vector per client of the round is needed")
    if any(cid not in inputs for cid in dropouts):
        raise InputError("dropouts must name clients of the round")


@dataclass(frozen=True)
class Cohort:
    """The malicious mode's setup for a simulated round: every client's identity key,
    the roster of their public keys, and the digest of the model all of them got."""

    roster: Roster
    identities: Mapping[int, IdentityKey]
    model_digest: bytes = SIMULATED_MODEL

    @classmethod
    def generate(cls, num_clients: int, entropy: Entropy = system_entropy) -> Cohort:
        roster, identities = generate_cohort(range(1, num_clients + 1), entropy)
        return cls(roster, identities)


def simulate_masking(
    config: MaskingConfig,
    inputs: Inputs,
    dropouts: Mapping[int, DropStage] | None = None,
    *,
    cohort: Cohort | None = None,
    entropy: Entropy = system_entropy,
    ledger: CpuLedger | None = None,
) -> SimulatedRound:
    """One SecAgg / SecAgg+ round for clients 1..n holding protected ``inputs``.

    ``dropouts`` maps a client id to the stage it vanishes at; ``cohort`` holds the
    identities and roster of the malicious mode (required there). Raises AbortError when
    the server aborts (too few survivors); nothing individual has been revealed then.
    """
    drops = dict(dropouts or {})
    _check_inputs(inputs, range(1, config.num_clients + 1), drops)
    work = WorkCounter()
    if config.malicious:
        if cohort is None:
            raise ConfigurationError("the malicious mode needs the cohort's identities")
        server = MaskingServer(
            config, observer=work, roster=cohort.roster, model_digest=cohort.model_digest
        )
        clients = {
            cid: MaskingClient(
                config,
                cid,
                _initial(inputs, cid),
                entropy=entropy,
                observer=work,
                identity=cohort.identities[cid],
                roster=cohort.roster,
                model_digest=cohort.model_digest,
            )
            for cid in range(1, config.num_clients + 1)
        }
        return _finish(
            server, clients, drops, work, ledger, inputs, (config.neighbours, config.threshold)
        )
    server = MaskingServer(config, observer=work)
    clients = {
        cid: MaskingClient(config, cid, _initial(inputs, cid), entropy=entropy, observer=work)
        for cid in range(1, config.num_clients + 1)
    }
    return _finish(
        server, clients, drops, work, ledger, inputs, (config.neighbours, config.threshold)
    )


def simulate_paillier(
    config: PaillierConfig,
    inputs: Inputs,
    dropouts: Mapping[int, DropStage] | None = None,
    *,
    key: PrivateKey | None = None,
    workers: int = 1,
    cohort: Cohort | None = None,
    entropy: Entropy = system_entropy,
    ledger: CpuLedger | None = None,
) -> SimulatedRound:
    """One Paillier round; ``config.key_holder`` holds (or, without ``key``, generates)
    the key pair and decrypts on ``workers`` processes; ``cohort`` holds the identities
    and roster of the malicious mode. If the key holder vanishes at any stage, the round
    aborts before anything is decrypted."""
    drops = dict(dropouts or {})
    _check_inputs(inputs, config.clients, drops)
    if config.malicious and cohort is None:
        raise ConfigurationError("the malicious mode needs the cohort's identities")
    work = WorkCounter()
    roster = cohort.roster if cohort is not None else None
    model = cohort.model_digest if cohort is not None else None
    clients = {
        cid: PaillierClient(
            config,
            cid,
            _initial(inputs, cid),
            key=key if cid == config.key_holder else None,
            workers=workers,
            entropy=entropy,
            observer=work,
            identity=cohort.identities[cid] if cohort is not None else None,
            roster=roster,
            model_digest=model,
        )
        for cid in config.clients
    }
    server = PaillierServer(config, roster=roster, model_digest=model)
    return _finish(server, clients, drops, work, ledger, inputs)


def simulate_plain(
    config: PlainConfig,
    inputs: Inputs,
    dropouts: Mapping[int, DropStage] | None = None,
    *,
    ledger: CpuLedger | None = None,
) -> SimulatedRound:
    """One plain (unprotected) round: the reference the secure backends must equal."""
    drops = dict(dropouts or {})
    _check_inputs(inputs, range(1, config.num_clients + 1), drops)
    clients = {cid: PlainClient(config, cid, _initial(inputs, cid)) for cid in inputs}
    return _finish(PlainServer(config), clients, drops, WorkCounter(), ledger, inputs)


def simulate_round(
    backend: Backend | str,
    protected: Inputs,
    dim: int,
    quantization: QuantizationConfig,
    dropouts: Mapping[int, DropStage] | None = None,
    *,
    neighbours: int | None = None,
    threshold: int | None = None,
    key_bits: int = 2048,
    paillier_key: PrivateKey | None = None,
    workers: int = 1,
    round_number: int = 0,
    security: Security | str = Security.HONEST,
    max_corrupt: int | None = None,
    entropy: Entropy = system_entropy,
    ledger: CpuLedger | None = None,
) -> SimulatedRound:
    """One round of ``backend`` over already-protected vectors (clients 1..n), with the
    backend's default configuration for n clients; for Paillier client 1 is the key
    holder. ``security="malicious"`` runs the malicious-server mode with a freshly
    generated cohort of identities (``max_corrupt`` colluding clients tolerated).
    Raises AbortError when the round aborts, ConfigurationError for settings that do
    not apply to the backend or are impossible."""
    kind = Backend.parse(backend)
    try:
        mode = Security(security)
    except ValueError:
        raise ConfigurationError(f"unknown security mode {security!r}") from None
    n = len(protected)
    if kind is Backend.PLAIN and mode is Security.MALICIOUS:
        raise ConfigurationError("the plain backend has no malicious-server mode")
    cohort = Cohort.generate(n, entropy) if mode is Security.MALICIOUS else None
    if max_corrupt is not None and not (kind.masking and mode is Security.MALICIOUS):
        raise ConfigurationError("max_corrupt applies to malicious masking rounds only")
    if not kind.masking and (neighbours is not None or threshold is not None):
        raise ConfigurationError("neighbours and threshold apply to the masking backends only")
    if kind is not Backend.PAILLIER and (paillier_key is not None or key_bits != 2048):
        raise ConfigurationError("key_bits and paillier_key apply to the Paillier backend only")
    if kind.masking:
        config = MaskingConfig.create(
            Graph.COMPLETE if kind is Backend.SECAGG else Graph.HARARY,
            n,
            dim,
            quantization,
            neighbours,
            threshold,
            round_number=round_number,
            security=mode,
            max_corrupt=max_corrupt,
            roster=cohort.roster if cohort is not None else None,
        )
        return simulate_masking(
            config, protected, dropouts, cohort=cohort, entropy=entropy, ledger=ledger
        )
    if kind is Backend.PAILLIER:
        pconfig = PaillierConfig(
            round_number,
            dim,
            quantization,
            tuple(range(1, n + 1)),
            key_holder=1,
            key_bits=key_bits,
            security=mode,
            roster_digest=cohort.roster.digest if cohort is not None else b"",
        )
        return simulate_paillier(
            pconfig,
            protected,
            dropouts,
            key=paillier_key,
            workers=workers,
            cohort=cohort,
            entropy=entropy,
            ledger=ledger,
        )
    plain = PlainConfig(n, dim, quantization, round_number)
    return simulate_plain(plain, protected, dropouts, ledger=ledger)


def _as_updates(updates: Sequence[npt.ArrayLike]) -> list[npt.NDArray[np.floating]]:
    try:
        arrays = [np.asarray(u) for u in updates]
    except (TypeError, ValueError) as exc:
        raise InputError(f"updates must be numeric vectors: {exc}") from None
    if not arrays:
        raise InputError("no updates given")
    shape = arrays[0].shape
    if any(a.ndim != 1 or a.shape != shape or a.size == 0 for a in arrays):
        raise InputError("updates must be non-empty 1-D vectors of one length")
    return arrays


def run_round(
    backend: Backend | str,
    updates: Sequence[npt.ArrayLike],
    weights: Sequence[int] | None = None,
    *,
    quantization: QuantizationConfig | None = None,
    dropouts: Mapping[int, DropStage] | None = None,
    neighbours: int | None = None,
    threshold: int | None = None,
    key_bits: int = 2048,
    paillier_key: PrivateKey | None = None,
    workers: int | None = None,
    round_number: int = 0,
    security: Security | str = Security.HONEST,
    max_corrupt: int | None = None,
    entropy: Entropy = system_entropy,
    forged: Mapping[int, Forgery] | None = None,
) -> RoundResult:
    """Securely aggregate ``updates`` (float vectors) with integer ``weights``.

    Parameters
    ----------
    backend: ``secagg``, ``secagg+``, ``paillier`` or ``plain`` (no protection).
    updates: one 1-D float vector per client, all of one length; client ``i`` is
        position ``i`` (protocol id ``i + 1``).
    weights: one integer weight per client, 1..w_max (default 1 each); bool, float,
        NaN and out-of-range weights raise WeightError.
    quantization: clip, bits and budget; default clip 1.0, 16 bits, sized for
        ``len(updates)`` clients at the largest weight. A cohort larger than its
        max_clients raises BitBudgetError.
    dropouts: position -> the stage at which that client vanishes.
    neighbours, threshold: masking backends only; defaults depend on the graph.
    key_bits, paillier_key, workers: Paillier only (position 0 is the key holder).
    round_number: bound into the session id.
    security: ``honest`` (an honest-but-curious server, the default) or ``malicious``
        (identity keys, signatures, a consistency round and model binding: a server
        that deviates makes the round abort rather than learn an input).
    max_corrupt: malicious masking rounds only: how many clients may collude with the
        server (default n // 20); the threshold withstands them.
    entropy: source of all randomness (``os.urandom`` by default;
        :func:`secagg.primitives.entropy.seeded_entropy` makes a run reproducible and
        insecure).
    forged: Byzantine clients, for robustness experiments: position -> a function
        that gets the client's honest protected vector and the quantization and
        returns the vector the client protects instead, any value in Z_{2^k} (it skips
        its own range check). Modelled exactly for the masking backends: the client's
        party protects zeros and the forged vector is added to the unmasked sum mod
        2^k, which is what the server unmasks when the client masks it (the sum is
        linear); for Paillier it stands for a client choosing its slots' values.

    Returns the survivors' aggregate and weighted mean (:class:`RoundResult`), with the
    number of their coordinates that clipping changed (``clipped``, also logged).
    Raises AbortError when too few clients survive (nothing individual is revealed) or
    when the unmasked sum fails its range check (only a forged input makes it fail),
    InputError / NonFiniteInputError / WeightError for bad updates or weights,
    ConfigurationError for bad settings.
    """
    kind = Backend.parse(backend)
    arrays = _as_updates(updates)
    w = check_weights([1] * len(arrays) if weights is None else list(weights))
    if len(w) != len(arrays):
        raise InputError(f"{len(arrays)} updates but {len(w)} weights")
    if quantization is None:
        quantization = QuantizationConfig(max_clients=len(arrays), max_weight=max(w))
    elif not isinstance(quantization, QuantizationConfig):
        raise ConfigurationError("quantization must be a QuantizationConfig")
    check_weights(w, quantization.max_weight)
    if len(arrays) > quantization.max_clients:
        raise ConfigurationError(
            f"{len(arrays)} clients exceed the budget's max_clients {quantization.max_clients}"
        )
    drops = {}
    for pos, stage in (dropouts or {}).items():
        if isinstance(pos, bool) or not isinstance(pos, int) or not 0 <= pos < len(arrays):
            raise InputError(f"dropout position {pos!r} does not index the updates")
        try:
            drops[pos + 1] = DropStage(stage)
        except ValueError:
            raise InputError(f"unknown dropout stage {stage!r}") from None
    ledger = CpuLedger()
    if workers is None:
        workers = min(2, os.cpu_count() or 1)
    protected = _protected_inputs(arrays, w, quantization, entropy, ledger)
    forgeries = _forge(protected, forged or {}, quantization)
    try:
        run = simulate_round(
            kind,
            protected,
            arrays[0].size,
            quantization,
            drops,
            neighbours=neighbours,
            threshold=threshold,
            key_bits=key_bits,
            paillier_key=paillier_key,
            workers=workers,
            round_number=round_number,
            security=security,
            max_corrupt=max_corrupt,
            entropy=entropy,
            ledger=ledger,
        )
    except AbortError as exc:
        # The caller numbers clients by position in ``updates``, not by protocol id.
        renumber(exc, PROTOCOL_CLIENT, lambda cid: f"client at position {cid - 1}")
        raise
    aggregate = _add_forgeries(run.outcome.aggregate, forgeries, run.outcome.survivors,
                               quantization.k)
    with ledger.charge(SERVER, "dequantize"):
        try:
            decoded = decode_weighted(aggregate, quantization)
        except InputError as exc:
            raise AbortError(f"the unmasked sum fails its range check: {exc}") from None
    survivors = tuple(cid - 1 for cid in run.outcome.survivors)
    # Clipping changes an update (unlike rounding): count it, never do it silently.
    clipped = sum(count_clipped(arrays[i], quantization) for i in survivors)
    if clipped:
        log.info("round %d: %d coordinates clipped to +-%g before quantization",
                 round_number, clipped, quantization.clip)
    return RoundResult(
        aggregate=aggregate,
        mean=decoded.mean,
        total_weight=decoded.total_weight,
        survivors=survivors,
        metrics=round_metrics(kind, run, arrays[0].size, quantization),
        clipped=clipped,
    )


#: A Byzantine client's forgery, taking its honest protected vector and the
#: quantization and returning the vector of Z_{2^k} it protects instead.
Forgery = Callable[
    [npt.NDArray[np.unsignedinteger], QuantizationConfig], npt.NDArray[np.unsignedinteger]
]


def _forge(
    protected: dict[int, npt.NDArray[np.unsignedinteger]],
    forged: Mapping[int, Forgery],
    quantization: QuantizationConfig,
) -> dict[int, npt.NDArray[np.uint64]]:
    """Replace each forging client's protected vector by zeros and return, by client
    id, the vector it forges (reduced mod 2^k) to add to the unmasked sum."""
    if not isinstance(forged, Mapping):
        raise InputError("forged must map client positions to functions")
    out = {}
    for pos, forge in forged.items():
        cid = pos + 1 if isinstance(pos, int) and not isinstance(pos, bool) else -1
        if cid not in protected or not callable(forge):
            raise InputError(f"forged position {pos!r} does not index the updates")
        honest = protected[cid]
        vector = np.asarray(forge(honest.copy(), quantization))
        if vector.shape != honest.shape or vector.dtype.kind not in "ui":
            raise InputError(f"the forged vector of position {pos} must be {honest.size} integers")
        out[cid] = _mod_k(vector.astype(np.uint64), quantization.k)
        protected[cid] = np.zeros_like(honest)
    return out


def _mod_k(vector: npt.NDArray[np.uint64], k: int) -> npt.NDArray[np.uint64]:
    return vector if k == 64 else vector & np.uint64((1 << k) - 1)


def _add_forgeries(
    aggregate: npt.NDArray[np.unsignedinteger],
    forgeries: Mapping[int, npt.NDArray[np.uint64]],
    survivors: Sequence[int],
    k: int,
) -> npt.NDArray[np.unsignedinteger]:
    if not forgeries:
        return aggregate
    total = aggregate.astype(np.uint64)
    for cid, vector in forgeries.items():
        if cid in survivors:
            total += vector  # uint64 wraps mod 2^64; reduced mod 2^k below
    return _mod_k(total, k).astype(aggregate.dtype)


def round_metrics(
    backend: Backend,
    run: SimulatedRound,
    dim: int,
    quantization: QuantizationConfig,
) -> RoundMetrics:
    """Costs of a round; bytes are averaged over the clients whose input was summed."""
    ledger = run.ledger
    uploaded = run.outcome.survivors
    return RoundMetrics(
        backend=backend,
        clients=len(run.outcome.survivors) + len(run.outcome.dropped),
        neighbours=run.neighbours,
        threshold=run.threshold,
        dim=dim,
        bits=quantization.bits,
        modulus_bits=quantization.k,
        survivors=len(uploaded),
        client_cpu_s=ledger.client_median(),
        client_cpu_s_max=ledger.client_max(),
        server_cpu_s=ledger.by_party.get(SERVER, 0.0),
        keyholder_cpu_s=ledger.by_party.get(KEY_HOLDER, 0.0),
        stage_cpu_s=dict(ledger.by_stage),
        bytes_up_per_client=float(np.mean([run.bytes_up.get(c, 0) for c in uploaded])),
        bytes_down_per_client=float(np.mean([run.bytes_down.get(c, 0) for c in uploaded])),
    )


def run_masking_round(
    backend: Backend | str,
    updates: Sequence[npt.ArrayLike],
    weights: Sequence[int],
    quantization: QuantizationConfig,
    dropouts: Mapping[int, DropStage] | None = None,
    *,
    neighbours: int | None = None,
    threshold: int | None = None,
    round_number: int = 0,
    entropy: Entropy = system_entropy,
) -> RoundResult:
    """:func:`run_round` for ``secagg`` or ``secagg+`` (positions are 0-based; protocol
    ids are position + 1). The cohort is checked against the quantization budget."""
    if not Backend.parse(backend).masking:
        raise ConfigurationError(f"{backend!r} is not a masking backend")
    return run_round(
        backend,
        updates,
        weights,
        quantization=quantization,
        dropouts=dropouts,
        neighbours=neighbours,
        threshold=threshold,
        round_number=round_number,
        entropy=entropy,
    )


def run_paillier_round(
    updates: Sequence[npt.ArrayLike],
    weights: Sequence[int],
    quantization: QuantizationConfig,
    dropouts: Mapping[int, DropStage] | None = None,
    *,
    key_bits: int = 2048,
    key: PrivateKey | None = None,
    workers: int | None = None,
    round_number: int = 0,
    entropy: Entropy = system_entropy,
) -> RoundResult:
    """:func:`run_round` for ``paillier``: position 0 is the key holder."""
    return run_round(
        Backend.PAILLIER,
        updates,
        weights,
        quantization=quantization,
        dropouts=dropouts,
        key_bits=key_bits,
        paillier_key=key,
        workers=workers,
        round_number=round_number,
        entropy=entropy,
    )
