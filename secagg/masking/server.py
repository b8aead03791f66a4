"""The server's side of the masking protocol: collect a stage, close it, in order.

No I/O. :meth:`MaskingServer.receive` takes one message from a sender the transport
vouches for; :meth:`MaskingServer.close` ends the stage and returns the messages to
send; :meth:`MaskingServer.waiting` says what the stage still waits for, so a transport
can close it on a deadline (a client that has not answered counts as dropped).

Refusals. A message is checked whole before anything changes, and a refusal never
removes anything accepted earlier:

- a well-formed message of another stage, or from another session or round (late or
  replayed), and an exact copy of an accepted message, are refused and change nothing:
  a replay can never get its genuine sender dropped;
- a message whose header names another sender than the transport's, a malformed one,
  one that fails its stage's checks (weak, copied or repeated keys, shares to the
  wrong clients, a response that does not answer its request) and a second, different
  message of one stage get the *transport's* sender dropped for the rest of the round;
  what it sent before stays (its keys, its shares, and a masked input already in the
  running sum: it then counts as vanished after upload);
- a second, *different* masked input under an id already in the sum aborts the round
  (one of the two is forged and the sum could be wrong).

The server never holds both secrets of one client: it requests b_u shares only for
clients whose masked input it has, and s_u^SK shares only for clients whose input it
does not. Each reconstructed secret is checked (b_u against the sender's commitment,
s_u^SK against its public key); a wrong share is found with the redundancy or the round
aborts (:class:`UnrecoverableSecretError`), never a silently wrong sum.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, NoReturn

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from secagg import columnpack
from secagg.errors import (
    AbortError,
    ConfigurationError,
    CorruptSharesError,
    DuplicateMessageError,
    InsufficientSharesError,
    MisaddressedMessageError,
    ModelMismatchError,
    ReplayedMessageError,
    SenderMismatchError,
    StageError,
    UnknownClientError,
    UnrecoverableSecretError,
    WeakKeyError,
)
from secagg.masking import masks
from secagg.masking.config import MaskingConfig, announce_id, session_id
from secagg.masking.graph import all_neighbourhoods, all_ring_neighbours, is_complete
from secagg.masking.keytree import KeyTree
from secagg.masking.messages import (
    AdvertiseKeys,
    ClientMessage,
    ConsistencyRequest,
    ConsistencySignature,
    ForwardedShares,
    KeyBroadcast,
    MaskedInput,
    ServerMessage,
    ShareKeys,
    UnmaskingRequest,
    UnmaskingResponse,
    survivors_statement,
)
from secagg.primitives.entropy import system_entropy
from secagg.primitives.keyagreement import KeyPair, check_public_key
from secagg.primitives.shamir import Share, recover
from secagg.protocol.bans import Bans, check_sender, screen
from secagg.protocol.identity import NO_MODEL, Verifier, check_model_digest, check_verifier
from secagg.protocol.machine import Machine, transitions
from secagg.protocol.observer import Observer, Work, report
from secagg.protocol.party import Outcome, Waiting


class ServerStage(enum.Enum):
    COLLECTING_KEYS = "collecting keys"
    COLLECTING_SHARES = "collecting shares"
    COLLECTING_INPUTS = "collecting masked inputs"
    COLLECTING_SIGNATURES = "collecting survivor-set signatures"  # malicious mode only
    COLLECTING_UNMASKING = "collecting unmasking shares"
    DONE = "done"
    ABORTED = "aborted"


_ORDER = list(ServerStage)

_EXPECTED: dict[ServerStage, type[ClientMessage]] = {
    ServerStage.COLLECTING_KEYS: AdvertiseKeys,
    ServerStage.COLLECTING_SHARES: ShareKeys,
    ServerStage.COLLECTING_INPUTS: MaskedInput,
    ServerStage.COLLECTING_SIGNATURES: ConsistencySignature,
    ServerStage.COLLECTING_UNMASKING: UnmaskingResponse,
}


# --- stage records ---------------------------------------------------------------


@dataclass(eq=False)
class _Keys:
    keys: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)  # id -> (c_pk, s_pk)
    owners: dict[int, int] = field(default_factory=dict)  # canonical key -> its client
    # malicious mode: id -> (model digest, signature) of its AdvertiseKeys
    attestations: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class _Round:
    """What every stage after the key list shares: the session and its graph."""

    keys: Mapping[int, tuple[bytes, bytes]]
    session: bytes
    graph: Mapping[int, frozenset[int]]


@dataclass(eq=False)
class _Shares:
    round: _Round
    received: dict[int, ShareKeys] = field(default_factory=dict)


@dataclass(eq=False)
class _Inputs:
    round: _Round
    live: frozenset[int]  # U2: clients that sent shares
    commitments: Mapping[int, bytes]  # client -> commitment to b_u
    sum: columnpack.PackedSum
    uploaded: set[int] = field(default_factory=set)  # U3: inputs in the sum


@dataclass(eq=False)
class _Signatures:
    inputs: _Inputs
    survivors: tuple[int, ...]  # the U3 announced to every survivor
    received: dict[int, bytes] = field(default_factory=dict)  # signer -> signature


@dataclass(eq=False)
class _Unmasking:
    inputs: _Inputs
    requests: Mapping[int, UnmaskingRequest]
    received: dict[int, UnmaskingResponse] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class _Done:
    outcome: Outcome
    round: _Round


def key_lists(
    config: MaskingConfig,
    keys: Mapping[int, tuple[bytes, bytes]],
    attestations: Mapping[int, tuple[bytes, bytes]] | None,
    model_digest: bytes,
) -> tuple[bytes, dict[int, frozenset[int]], dict[int, KeyBroadcast]]:
    """Close the keys: the session id, the graph over the clients in ``keys``, and each
    one's KeyBroadcast (its own and its neighbours' keys, with ``attestations`` in the
    malicious mode, and the key tree paths that let it check the digest)."""
    tree = KeyTree(config.num_clients, keys)
    session = session_id(config, tree.root, model_digest)
    announce = announce_id(config)
    outbox = {}
    if is_complete(config):  # every client gets every key (one list, encoded once)
        graph = all_neighbourhoods(config, session, keys)
        listed = sorted(keys)
        entries = tuple((c, *keys[c]) for c in listed)
        signed = tuple(attestations[c] for c in listed) if attestations is not None else ()
        for cid in keys:
            outbox[cid] = KeyBroadcast(
                announce, config.round_number, cid, tree.root, entries, signed
            )
        return session, graph, outbox
    ring = all_ring_neighbours(config, session)
    graph = {cid: ring[cid] & keys.keys() for cid in keys}
    for cid in keys:
        listed = sorted(graph[cid] | {cid})
        entries = tuple((c, *keys[c]) for c in listed)
        signed = tuple(attestations[c] for c in listed) if attestations is not None else ()
        # Paths for the client and every ring neighbour, absent ones included.
        proofs = b"".join(tree.path(c) for c in sorted(ring[cid] | {cid}))
        outbox[cid] = KeyBroadcast(
            announce, config.round_number, cid, tree.root, entries, signed, proofs
        )
    return session, graph, outbox


class MaskingServer(Machine[ServerStage]):
    """The aggregation server for one round. It learns only the survivors' sum.

    ``observer`` (optional) is told the PRG vectors the unmasking expands. In the
    malicious mode it needs the cohort's ``roster`` and the ``model_digest`` of the model
    it sent: it verifies every signature too, so that one client's forged or stale
    message drops that client instead of making honest clients abort.
    """

    _TRANSITIONS: ClassVar = transitions(
        _ORDER[:6],
        ServerStage.ABORTED,
        # the honest mode has no consistency round
        extra={ServerStage.COLLECTING_INPUTS: frozenset({ServerStage.COLLECTING_UNMASKING})},
    )
    _ABORTED: ClassVar = ServerStage.ABORTED

    def __init__(
        self,
        config: MaskingConfig,
        *,
        observer: Observer | None = None,
        roster: Verifier | None = None,
        model_digest: bytes | None = None,
    ) -> None:
        if not isinstance(config, MaskingConfig):
            raise ConfigurationError("config must be a MaskingConfig")
        self._roster: Verifier | None = None
        self._model = NO_MODEL
        if config.malicious:
            self._roster = check_verifier(roster, config.roster_digest, config.num_clients)
            self._model = check_model_digest(model_digest)
        elif roster is not None or model_digest is not None:
            raise ConfigurationError("a roster and model digest are for the malicious mode")
        super().__init__(ServerStage.COLLECTING_KEYS, _Keys())
        self.config = config
        self._observer = observer
        self._announce = announce_id(config)
        self._bans = Bans()  # transport senders dropped for a refused message
        self._fingerprints: dict[int, bytes] = {}  # this stage: sender -> its message's tag
        # Holders whose share disagreed with the reconstructed secret: a suspicion
        # about the (holder, dealer) pair, since a dealer can share inconsistently.
        self.flagged: dict[int, str] = {}
        # Fingerprints use a key only this server knows (see _fingerprint).
        self._fingerprint_mac = AESGCM(system_entropy(16))
        self._fingerprint_nonce = system_entropy(12)

    # -- what the transport sees ----------------------------------------------------

    @property
    def round(self) -> int:
        return self.config.round_number

    @property
    def finished(self) -> bool:
        return self.stage in (ServerStage.DONE, ServerStage.ABORTED)

    @property
    def result(self) -> Outcome:
        """The survivors' sum once the round is DONE. Raises StageError before."""
        self._require(ServerStage.DONE)
        return self._record(_Done).outcome

    @property
    def session_id(self) -> bytes:
        """The session id, known once the keys are closed (empty before)."""
        current = self._current_round()
        return current.session if current is not None else b""

    @property
    def dropped(self) -> Mapping[int, str]:
        """Clients dropped for a refused message, with the reason."""
        return self._bans.reasons

    def neighbours_of(self, client: int) -> frozenset[int]:
        """The client's neighbourhood (empty before the keys are closed)."""
        current = self._current_round()
        return current.graph.get(client, frozenset()) if current else frozenset()

    def _current_round(self) -> _Round | None:
        stage = self.stage
        if stage is ServerStage.COLLECTING_SHARES:
            return self._record(_Shares).round
        if stage is ServerStage.COLLECTING_INPUTS:
            return self._record(_Inputs).round
        if stage is ServerStage.COLLECTING_SIGNATURES:
            return self._record(_Signatures).inputs.round
        if stage is ServerStage.COLLECTING_UNMASKING:
            return self._record(_Unmasking).inputs.round
        if stage is ServerStage.DONE:
            return self._record(_Done).round
        return None

    # -- receiving ----------------------------------------------------------------

    def receive(self, sender: int, data: bytes) -> None:
        """Check one message from the transport-authenticated ``sender`` and keep it.

        Raises, with no change to anything accepted: StageError (no stage is collecting),
        UnknownClientError (not a client of the round, or already dropped),
        UnexpectedMessageError / SessionMismatchError / ReplayedMessageError for late,
        stale and copied messages (the sender stays in), and DecodeError,
        SenderMismatchError, WeakKeyError or another refusal that drops the sender
        (:mod:`secagg.protocol.bans`). AbortError when a second, different masked input
        arrives.
        """
        expected = _EXPECTED.get(self.stage)
        if expected is None:
            raise StageError(f"server is {self.stage.value}: no message expected")
        check_sender(sender, range(1, self.config.num_clients + 1))
        self._bans.check(sender)
        with self._bans.judging(sender):
            screen(data, expected.TYPE, session=self._expected_session(), round_number=self.round)
            message = expected.decode(data, self.config)
            if message.sender != sender:
                raise SenderMismatchError(
                    f"client {sender} sent a message in the name of client {message.sender}",
                    sender=sender,
                )
            fingerprint = self._fingerprint(data)
            if sender in self._fingerprints:
                if fingerprint == self._fingerprints[sender]:
                    raise ReplayedMessageError(f"copy of client {sender}'s message", sender=sender)
                if isinstance(message, MaskedInput):
                    self._abort_round(
                        f"two different masked inputs from client {sender}: one is forged, and "
                        "the one already in the sum cannot be taken out"
                    )
                raise DuplicateMessageError(
                    f"a second, different message from client {sender}", sender=sender
                )
            self._check(message)
        self._store(message)
        self._fingerprints[sender] = fingerprint

    def _expected_session(self) -> bytes:
        current = self._current_round() if self.stage is not ServerStage.COLLECTING_KEYS else None
        return current.session if current else self._announce

    def _fingerprint(self, data: bytes | memoryview) -> bytes:
        """GMAC (AES-GCM with no plaintext) under a key and nonce only this server knows,
        used as an almost-universal hash: two different messages of at most L 16-byte
        blocks, chosen without seeing the key, get the same tag with probability at most
        (L + 1) / 2^128 (about 2^-110 at 3 MB). The nonce repeats, which is safe here
        because the tags never leave the server (no one can solve for the hash key)."""
        return self._fingerprint_mac.encrypt(self._fingerprint_nonce, b"", data)

    def _check(self, m: ClientMessage) -> None:
        s = m.sender
        if isinstance(m, AdvertiseKeys):
            self._check_keys(m)
        elif isinstance(m, ShareKeys):
            current = self._record(_Shares).round
            if s not in current.graph:
                raise UnknownClientError(f"client {s} advertised no keys", sender=s)
            if {cid for cid, _ in m.sealed} != current.graph[s]:
                raise MisaddressedMessageError(
                    "shares must go to exactly the sender's neighbours", sender=s
                )
        elif isinstance(m, MaskedInput):
            if s not in self._record(_Inputs).live:
                raise UnknownClientError(f"client {s} sent no shares", sender=s)
        elif isinstance(m, ConsistencySignature):
            signatures = self._record(_Signatures)
            if s not in signatures.survivors:
                raise UnknownClientError(f"client {s} was not asked to sign", sender=s)
            if self._roster is None:
                raise StageError("no roster")
            statement = survivors_statement(signatures.inputs.round.session, signatures.survivors)
            self._roster.verify(s, statement, m.signature)
        elif isinstance(m, UnmaskingResponse):
            request = self._record(_Unmasking).requests.get(s)
            if request is None:
                raise UnknownClientError(f"client {s} was not asked to unmask", sender=s)
            if (
                tuple(c for c, _ in m.self_mask_shares) != request.survivors
                or tuple(c for c, _ in m.key_shares) != request.dropped
            ):
                raise MisaddressedMessageError("response does not answer the request", sender=s)

    def _check_keys(self, m: AdvertiseKeys) -> None:
        """Both keys usable X25519 keys, distinct, and no copy of another client's key:
        one client's bad key drops that client, not the round."""
        values = [check_public_key(m.encryption_key), check_public_key(m.masking_key)]
        if values[0] == values[1]:
            raise WeakKeyError("the encryption and masking keys are the same key")
        owners = self._record(_Keys).owners
        for value in values:
            if value in owners:
                raise WeakKeyError(f"a key copies one already advertised by client {owners[value]}")
        if self._roster is not None:
            if m.model_digest != self._model:
                raise ModelMismatchError(
                    f"client {m.sender} received another model than this server sent",
                    sender=m.sender,
                )
            self._roster.verify(m.sender, m.statement, m.signature)

    def _store(self, m: ClientMessage) -> None:
        if isinstance(m, AdvertiseKeys):
            record = self._record(_Keys)
            record.keys[m.sender] = (m.encryption_key, m.masking_key)
            record.attestations[m.sender] = (m.model_digest, m.signature)
            for key in (m.encryption_key, m.masking_key):
                record.owners[check_public_key(key)] = m.sender
        elif isinstance(m, ShareKeys):
            self._record(_Shares).received[m.sender] = m
        elif isinstance(m, MaskedInput):
            inputs = self._record(_Inputs)
            inputs.sum.add(m.payload)
            inputs.uploaded.add(m.sender)
        elif isinstance(m, ConsistencySignature):
            self._record(_Signatures).received[m.sender] = m.signature
        else:
            self._record(_Unmasking).received[m.sender] = m

    def _abort_round(self, reason: str) -> NoReturn:
        self.abort()
        raise AbortError(reason)

    # -- what the stage waits for ---------------------------------------------------

    def waiting(self) -> Waiting:
        """Which clients may still answer this stage, and whether it can close now."""
        stage = self.stage
        if stage not in _EXPECTED:
            return Waiting(stage.value, frozenset(), frozenset(), 0, False)
        asked, received = self._asked(), frozenset(self._fingerprints)
        problem = self._closing_problem()
        pending = frozenset(asked - received - set(self._bans.reasons))
        needed = 0 if problem is None else self._shortfall()
        return Waiting(stage.value, pending, received, needed, problem is None)

    def _asked(self) -> frozenset[int]:
        """Clients this stage expects a message from."""
        stage = self.stage
        if stage is ServerStage.COLLECTING_KEYS:
            return frozenset(range(1, self.config.num_clients + 1))
        if stage is ServerStage.COLLECTING_SHARES:
            return frozenset(self._record(_Shares).round.keys)
        if stage is ServerStage.COLLECTING_INPUTS:
            return self._record(_Inputs).live
        if stage is ServerStage.COLLECTING_SIGNATURES:
            return frozenset(self._record(_Signatures).survivors) - set(self._bans.reasons)
        return frozenset(self._record(_Unmasking).requests)

    def _shortfall(self) -> int:
        """A lower bound on the accepted messages still needed to close."""
        t = self.config.threshold
        stage = self.stage
        if stage is ServerStage.COLLECTING_UNMASKING:
            return max(0, t - self._fewest_shares())
        return max(1, t + 1 - len(self._fingerprints))

    def _closing_problem(self) -> str | None:
        """Why closing now would abort, or None."""
        t = self.config.threshold
        stage = self.stage
        if stage is ServerStage.COLLECTING_KEYS:
            got = len(self._record(_Keys).keys)
            return None if got >= t + 1 else f"{got} clients advertised keys, too few for t"
        if stage is ServerStage.COLLECTING_SHARES:
            got = len(self._record(_Shares).received)
            return None if got >= t + 1 else f"{got} clients sent shares, too few for t"
        if stage is ServerStage.COLLECTING_INPUTS:
            return self._inputs_problem()
        if stage is ServerStage.COLLECTING_SIGNATURES:
            signatures = self._record(_Signatures)
            return self._inputs_problem(signatures.inputs, self._consistent(signatures))
        if stage is ServerStage.COLLECTING_UNMASKING:
            fewest = self._fewest_shares()
            return None if fewest >= t else f"a needed secret has {fewest} shares, fewer than t"
        return f"server is {stage.value}"

    # -- closing ------------------------------------------------------------------

    def close(self) -> dict[int, bytes]:
        """End the current stage; return the encoded messages to send, by recipient.

        Closing the last stage returns no messages and makes :attr:`result` available.
        Raises AbortError (and aborts) when the stage cannot go on, StageError when no
        stage is open.
        """
        stage = self.stage
        outbox: Mapping[int, ServerMessage]
        if stage is ServerStage.COLLECTING_KEYS:
            outbox = self._close_keys()
        elif stage is ServerStage.COLLECTING_SHARES:
            outbox = self._close_shares()
        elif stage is ServerStage.COLLECTING_INPUTS:
            outbox = self._close_inputs()
        elif stage is ServerStage.COLLECTING_SIGNATURES:
            outbox = self._close_signatures()
        elif stage is ServerStage.COLLECTING_UNMASKING:
            self._close_unmasking()
            return {}
        else:
            raise StageError(f"server is {stage.value}: nothing to close")
        self._fingerprints = {}
        return {cid: message.encode() for cid, message in outbox.items()}

    # -- round 0: AdvertiseKeys ---------------------------------------------------

    def _close_keys(self) -> dict[int, KeyBroadcast]:
        """For every client that advertised: the digest of all keys, and its own and its
        neighbours' keys (O(n k) in all, not O(n^2))."""
        problem = self._closing_problem()
        if problem is not None:
            self._abort_round(problem)
        record = self._record(_Keys)
        keys = dict(record.keys)
        attestations = record.attestations if self.config.malicious else None
        session, graph, outbox = key_lists(self.config, keys, attestations, self._model)
        self._advance(ServerStage.COLLECTING_SHARES, _Shares(_Round(keys, session, graph)))
        return outbox

    # -- round 1: ShareKeys -------------------------------------------------------

    def _close_shares(self) -> dict[int, ForwardedShares]:
        """Route each sealed share to its recipient."""
        problem = self._closing_problem()
        if problem is not None:
            self._abort_round(problem)
        shares = self._record(_Shares)
        live = frozenset(shares.received)
        inbox: dict[int, list[tuple[int, bytes]]] = {cid: [] for cid in live}
        for sender in sorted(live):
            for recipient, blob in shares.received[sender].sealed:
                if recipient in inbox:
                    inbox[recipient].append((sender, blob))
        current = shares.round
        commitments = {cid: m.commitment for cid, m in shares.received.items()}
        self._advance(
            ServerStage.COLLECTING_INPUTS,
            _Inputs(
                current,
                live,
                commitments,
                columnpack.PackedSum(self.config.length, self.config.modulus_bits),
            ),
        )
        return {
            cid: ForwardedShares(current.session, self.round, cid, tuple(items))
            for cid, items in inbox.items()
        }

    # -- round 2: MaskedInputCollection ---------------------------------------------

    def _inputs_problem(
        self, inputs: _Inputs | None = None, responders: set[int] | None = None
    ) -> str | None:
        """Why the unmasking could not succeed with the inputs so far, or None: every
        survivor, and every dropped client some survivor masked against, needs t
        surviving (and not dropped) neighbours to answer (``responders``: those that
        may answer, by default every survivor not dropped for a refused message)."""
        inputs = inputs if inputs is not None else self._record(_Inputs)
        graph = inputs.round.graph
        survivors = set(inputs.uploaded)
        if not survivors:
            return "no masked input arrived: there is nothing to aggregate"
        if responders is None:
            responders = survivors - set(self._bans.reasons)
        for cid in sorted(inputs.live):
            needed = cid in survivors or bool(graph[cid] & survivors)
            alive = graph[cid] & responders
            if needed and len(alive) < self.config.threshold:
                return f"client {cid} has {len(alive)} surviving neighbours, fewer than t"
        return None

    def _close_inputs(self) -> Mapping[int, UnmaskingRequest | ConsistencyRequest]:
        """Ask each survivor for the shares the sum needs (in the malicious mode: first to
        sign the survivor set); abort first if some needed secret could not be recovered."""
        problem = self._inputs_problem()
        if problem is not None:
            self._abort_round(problem)
        inputs = self._record(_Inputs)
        # A survivor refused since its upload stays in the sum but is asked for nothing.
        responders = set(inputs.uploaded) - set(self._bans.reasons)
        if self.config.malicious:
            survivors = tuple(sorted(inputs.uploaded))
            self._advance(ServerStage.COLLECTING_SIGNATURES, _Signatures(inputs, survivors))
            return {
                cid: ConsistencyRequest(inputs.round.session, self.round, cid, survivors)
                for cid in sorted(responders)
            }
        return self._request_unmasking(inputs, responders, {})

    def _request_unmasking(
        self, inputs: _Inputs, responders: set[int], signatures: Mapping[int, bytes]
    ) -> dict[int, UnmaskingRequest]:
        graph = inputs.round.graph
        survivors = set(inputs.uploaded)
        dropped = set(inputs.live) - survivors
        requests = {}
        for cid in sorted(responders):
            live = graph[cid] & inputs.live
            # Only the neighbours' signatures: those are the ones the client checks.
            signed = tuple(sorted((s, signatures[s]) for s in graph[cid] if s in signatures))
            requests[cid] = UnmaskingRequest(
                inputs.round.session,
                self.round,
                cid,
                tuple(sorted(live & survivors)),
                tuple(sorted(live & dropped)),
                signed,
            )
        self._advance(ServerStage.COLLECTING_UNMASKING, _Unmasking(inputs, requests))
        return requests

    # -- malicious mode: ConsistencyCheck --------------------------------------------

    def _consistent(self, signatures: _Signatures) -> set[int]:
        """The signers that will accept an unmasking request: each needs t of its
        neighbours to have signed the same survivor set."""
        graph = signatures.inputs.round.graph
        signers = set(signatures.received)
        return {cid for cid in signers if len(graph[cid] & signers) >= self.config.threshold}

    def _close_signatures(self) -> dict[int, UnmaskingRequest]:
        """Send each signer that has t signing neighbours its unmasking request, with
        its neighbours' signatures; abort if the secrets could then not be recovered."""
        signatures = self._record(_Signatures)
        responders = self._consistent(signatures)
        problem = self._inputs_problem(signatures.inputs, responders)
        if problem is not None:
            self._abort_round(problem)
        return self._request_unmasking(signatures.inputs, responders, signatures.received)

    # -- round 3: Unmasking -------------------------------------------------------

    def _needed_secrets(self) -> tuple[list[int], list[int]]:
        """(survivors, whose b_u is needed; dropped clients, whose s_u^SK is needed)."""
        inputs = self._record(_Unmasking).inputs
        survivors = sorted(inputs.uploaded)
        graph = inputs.round.graph
        dropped = sorted(c for c in inputs.live - inputs.uploaded if graph[c] & inputs.uploaded)
        return survivors, dropped

    def _collected_shares(self) -> tuple[dict[int, list[Share]], dict[int, list[Share]]]:
        unmasking = self._record(_Unmasking)
        survivors, dropped = self._needed_secrets()
        self_shares: dict[int, list[Share]] = {c: [] for c in survivors}
        key_shares: dict[int, list[Share]] = {c: [] for c in dropped}
        for holder in sorted(unmasking.received):
            r = unmasking.received[holder]
            for owner, y in r.self_mask_shares:
                self_shares[owner].append(Share(holder, (y,)))
            for owner, y in r.key_shares:
                if owner in key_shares:
                    key_shares[owner].append(Share(holder, (y,)))
        return self_shares, key_shares

    def _fewest_shares(self) -> int:
        self_shares, key_shares = self._collected_shares()
        counts = [len(s) for s in self_shares.values()] + [len(s) for s in key_shares.values()]
        return min(counts, default=self.config.threshold)

    def _close_unmasking(self) -> None:
        """Reconstruct the secrets, remove the masks; the survivors' sum is the result.

        Aborts (UnrecoverableSecretError) if some needed secret has fewer than t shares
        or its shares are corrupt beyond what the redundancy corrects; at that point the
        server holds, per client, shares of at most one of its two secrets.
        """
        unmasking = self._record(_Unmasking)
        inputs = unmasking.inputs
        current = inputs.round
        t, k = self.config.threshold, self.config.modulus_bits
        survivors, dropped = self._needed_secrets()
        self_shares, key_shares = self._collected_shares()

        def commitment_of(owner: int) -> Callable[[int, bytes], bool]:
            def verify(_index: int, b_u: bytes) -> bool:
                expected = inputs.commitments[owner]
                return masks.self_seed_commitment(b_u, current.session, owner) == expected

            return verify

        def public_key_of(owner: int) -> Callable[[int, bytes], bool]:
            def verify(_index: int, private: bytes) -> bool:
                # As keys, not bytes: an advertised key may carry bit 255.
                derived = check_public_key(KeyPair.from_private(private).public)
                return derived == check_public_key(current.keys[owner][1])

            return verify

        self_seeds, key_pairs = {}, {}
        try:
            for cid in survivors:
                found = recover(self_shares[cid], t, verify=commitment_of(cid))
                self._flag(found.bad, f"corrupt share of b_{cid}")
                self_seeds[cid] = found.secrets[0]
            for cid in dropped:
                found = recover(key_shares[cid], t, verify=public_key_of(cid))
                self._flag(found.bad, f"corrupt share of s_{cid}^SK")
                key_pairs[cid] = KeyPair.from_private(found.secrets[0])
        except InsufficientSharesError as exc:
            self.abort()
            raise UnrecoverableSecretError(f"too few unmasking responses: {exc}") from exc
        except CorruptSharesError as exc:
            self._flag(exc.bad, "corrupt share")
            self.abort()
            raise UnrecoverableSecretError(f"corrupt shares: {exc}") from exc

        total = inputs.sum.vector()
        terms = [masks.self_mask(self_seeds[cid], current.session, cid, -1) for cid in survivors]
        uploaded = set(survivors)
        for cid in dropped:
            for peer in sorted(current.graph[cid] & uploaded):
                seed = masks.pairwise_seed(key_pairs[cid], current.keys[peer][1], current.session)
                # remove the mask ``peer`` added against ``cid``
                terms.append(masks.pairwise_mask(seed, current.session, peer, cid, -1))
        report(self._observer, 0, "unmask", Work.PRG_VECTORS, len(terms))
        masks.apply(total, terms, k)
        cohort = range(1, self.config.num_clients + 1)
        outcome = Outcome(total, tuple(survivors), tuple(c for c in cohort if c not in uploaded))
        self._advance(ServerStage.DONE, _Done(outcome, current))

    def _flag(self, holders: frozenset[int], reason: str) -> None:
        for holder in holders:
            self.flagged.setdefault(holder, reason)
