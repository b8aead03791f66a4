"""The client's side of the masking protocol, one step per round, in order.

No I/O. The transport interface is :meth:`MaskingClient.start` (the AdvertiseKeys
bytes) and :meth:`MaskingClient.handle` (a server message in, the reply out); the typed
steps (:meth:`advertise_keys`, :meth:`share_keys`, :meth:`masked_input`,
:meth:`unmask`) are the same steps on decoded messages. The client is one-shot: a step
out of order raises :class:`StageError`, and any refused message moves it to ABORTED,
after which it answers nothing. Every message is checked whole, into locals, before
the stage record is replaced.

State lives in one record per stage (``_New``, ``_Advertised``,
``_SharesSent``, ``_InputSent``): what the client holds is exactly what
that stage needs. :meth:`save` / :meth:`restore` carry it across processes.
"""

from __future__ import annotations

import enum
import operator
import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from secagg import columnpack, weighting
from secagg.codec import Fields, FieldWriter, MessageType, peek_header
from secagg.errors import (
    AbortError,
    AlreadyDroppedError,
    BothSharesRequestedError,
    ConfigurationError,
    ConsistencyCheckError,
    DecodeError,
    DuplicateIdError,
    IncompleteRequestError,
    InputError,
    KeyDigestError,
    MisaddressedMessageError,
    ModelMismatchError,
    SecAggError,
    SelfShareRequestedError,
    SessionMismatchError,
    SignatureError,
    StageError,
    StateIntegrityError,
    StateMismatchError,
    TooFewSurvivorsError,
    UnexpectedMessageError,
    UnknownClientError,
    UnknownNeighbourError,
    WeakKeyError,
)
from secagg.masking import masks
from secagg.masking.config import MaskingConfig, announce_id, session_id
from secagg.masking.graph import is_complete, ring_neighbours
from secagg.masking.keytree import LEVEL_BYTES, KeyTree, depth, first_unproven
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
    advertise_statement,
    survivors_statement,
)
from secagg.primitives.aead import open_sealed, seal
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.keyagreement import (
    PUBLIC_KEY_BYTES,
    KeyPair,
    Label,
    derive_key,
    refused_public_key,
)
from secagg.primitives.prg import mask_dtype
from secagg.primitives.shamir import ELEMENT_BYTES, PRIME, split
from secagg.primitives.signatures import IdentityKey
from secagg.protocol.identity import (
    NO_MODEL,
    Verifier,
    check_model_digest,
    check_verifier,
)
from secagg.protocol.machine import Machine, transitions
from secagg.protocol.observer import Observer, Work, report
from secagg.protocol.state import (
    PartyKind,
    RestoreGuard,
    StateHeader,
    body_error,
    decode_state,
    encode_state,
    new_lineage,
    require_guard,
)
from secagg.validation import require_int

Vector = npt.NDArray[np.unsignedinteger]


class ClientStage(enum.Enum):
    NEW = "new"
    KEYS_ADVERTISED = "keys advertised"
    SHARES_SENT = "shares sent"
    INPUT_SENT = "input sent"
    SURVIVORS_SIGNED = "survivors signed"  # malicious mode: the consistency round
    DONE = "done"
    ABORTED = "aborted"


_ORDER = list(ClientStage)


def share_associated_data(session: bytes, round_number: int, sender: int, recipient: int) -> bytes:
    """AEAD associated data of a sealed share: it cannot move to another pair or round."""
    return b"secagg/v1/share" + session + struct.pack(">III", round_number, sender, recipient)


# --- stage records: what the client holds from each stage on -------------------------


@dataclass(frozen=True, eq=False)
class _New:
    protected: Vector | None  # None until provide_input


@dataclass(frozen=True, eq=False)
class _Advertised:
    protected: Vector | None
    encryption: KeyPair  # c_u
    masking: KeyPair  # s_u


@dataclass(frozen=True, eq=False)
class _SharesSent:
    protected: Vector | None
    masking: KeyPair
    session: bytes
    neighbours: frozenset[int]  # among the clients in the key list
    masking_keys: Mapping[int, bytes]  # neighbour -> s_v^PK
    share_keys: Mapping[int, bytes]  # neighbour -> AEAD key of this session
    self_seed: bytes  # b_u


@dataclass(frozen=True, eq=False)
class _InputSent:
    session: bytes
    neighbours: frozenset[int]
    held: Mapping[int, tuple[int, int]]  # live neighbour -> (share of b_v, share of s_v^SK)


@dataclass(frozen=True, eq=False)
class _Signed:
    inputs: _InputSent
    survivors: tuple[int, ...]  # the U3 this client signed


@dataclass(frozen=True, eq=False)
class _Identity:
    """Malicious mode: who this client is, whom it trusts, and the model it received."""

    key: IdentityKey
    roster: Verifier
    model: bytes


class MaskingClient(Machine[ClientStage]):
    """One client in one round of SecAgg / SecAgg+.

    Parameters
    ----------
    config: the round's public parameters (round number included).
    client_id: this client's id, 1..n.
    protected: the client's protected vector, ``config.length`` unsigned integers, each
        at most ``config.max_input`` (from :func:`secagg.weighting.encode_weighted`).
        The client keeps a reference, not a copy: do not modify it during the round.
    entropy: source of keys, seeds, Shamir coefficients and nonces (``os.urandom``).
    observer: optional cost observer (:mod:`secagg.protocol.observer`).
    guard: optional :class:`~secagg.protocol.state.RestoreGuard` that records each
        step as it is taken, so no saved copy of this client can be restored behind it.
    identity, roster, model_digest: the malicious mode only (and required there): this
        client's Ed25519 :class:`~secagg.primitives.signatures.IdentityKey`, the
        cohort's :class:`~secagg.protocol.identity.Roster` (or verifier; its digest must
        be the config's), and the 32-byte digest of the model this client received.

    Raises InputError for a bad id or vector, ConfigurationError for a bad config.
    """

    _TRANSITIONS: ClassVar = transitions(
        [s for s in _ORDER[:6]],
        ClientStage.ABORTED,
        # the honest mode has no consistency round
        extra={ClientStage.INPUT_SENT: frozenset({ClientStage.DONE})},
    )
    _ABORTED: ClassVar = ClientStage.ABORTED

    def __init__(
        self,
        config: MaskingConfig,
        client_id: int,
        protected: npt.ArrayLike | None,
        *,
        entropy: Entropy = system_entropy,
        observer: Observer | None = None,
        guard: RestoreGuard | None = None,
        identity: IdentityKey | None = None,
        roster: Verifier | None = None,
        model_digest: bytes | None = None,
    ) -> None:
        if not isinstance(config, MaskingConfig):
            raise ConfigurationError("config must be a MaskingConfig")
        self.config = config
        self._id = require_int("client id", client_id, 1, config.num_clients, InputError)
        self._identity = _identity(config, identity, roster, model_digest)
        vector = None if protected is None else check_protected(config, protected)
        super().__init__(ClientStage.NEW, _New(vector))
        self._entropy = entropy
        self._observer = observer
        self._announce = announce_id(config)
        self._lineage = new_lineage(entropy)
        self._bind(self._lineage, guard)

    @property
    def id(self) -> int:
        return self._id

    @property
    def round(self) -> int:
        return self.config.round_number

    @property
    def live_neighbours(self) -> int:
        """Neighbours whose shares this client received (it masks against each)."""
        if self.stage is ClientStage.INPUT_SENT:
            return len(self._record(_InputSent).held)
        if self.stage is ClientStage.SURVIVORS_SIGNED:
            return len(self._record(_Signed).inputs.held)
        return 0

    @property
    def needs_input(self) -> bool:
        """True while the client was made without its protected vector and has not been
        given it: :meth:`provide_input` must come before the masked-input step."""
        record = self._current_input_record()
        return record is not None and record.protected is None

    def _current_input_record(self) -> _New | _Advertised | _SharesSent | None:
        kinds = {
            ClientStage.NEW: _New,
            ClientStage.KEYS_ADVERTISED: _Advertised,
            ClientStage.SHARES_SENT: _SharesSent,
        }
        kind = kinds.get(self.stage)
        return None if kind is None else self._record(kind)

    def provide_input(self, protected: npt.ArrayLike) -> None:
        """Give a client made with ``protected=None`` its protected vector, at any point
        before it masks (a transport that trains only when the input is due, e.g. a
        Flower node, keeps no vector in its saved state until then). Raises StageError
        if the client already has one or is past masking, InputError for a bad vector."""
        record = self._current_input_record()
        if record is None or record.protected is not None:
            raise StageError("this client already has its input, or is past masking")
        self._update(replace(record, protected=check_protected(self.config, protected)))

    def input_due(self, data: bytes | None) -> bool:
        """True when the step answering ``data`` (None: :meth:`start`) needs the input
        this client does not have yet (the forwarded shares, answered by the masked
        input): a transport that makes inputs on demand gives it then, and holds no
        client's vector any earlier."""
        return (
            data is not None
            and self.needs_input
            and _is_type(data, MessageType.FORWARDED_SHARES)
        )

    # -- the transport interface ----------------------------------------------------

    def start(self) -> bytes:
        """The AdvertiseKeys message, as bytes."""
        return self.advertise_keys().encode()

    def handle(self, data: bytes) -> bytes:
        """Answer one server message (KeyBroadcast, ForwardedShares or UnmaskingRequest)
        with the next message, as bytes. Raises (and aborts) on any refusal; raises
        StageError without aborting for ForwardedShares before :meth:`provide_input`."""
        if self.needs_input and _is_type(data, MessageType.FORWARDED_SHARES):
            raise StageError("provide_input must come before the masked input")
        with self._refusing():
            kind = peek_header(data).type
            if kind is MessageType.KEY_BROADCAST:
                return self.share_keys(KeyBroadcast.decode(data, self.config)).encode()
            if kind is MessageType.FORWARDED_SHARES:
                return self.masked_input(ForwardedShares.decode(data, self.config)).encode()
            if kind is MessageType.CONSISTENCY_REQUEST:
                request = ConsistencyRequest.decode(data, self.config)
                return self.sign_survivors(request).encode()
            if kind is MessageType.UNMASKING_REQUEST:
                return self.unmask(UnmaskingRequest.decode(data, self.config)).encode()
            raise UnexpectedMessageError(f"a client does not take {kind.name} messages")

    # -- helpers ------------------------------------------------------------------

    def _bound_session(self) -> bytes:
        """What binds the next incoming message: the announce id until the key list
        arrives, then the session id."""
        if self.stage is ClientStage.SHARES_SENT:
            return self._record(_SharesSent).session
        if self.stage is ClientStage.INPUT_SENT:
            return self._record(_InputSent).session
        if self.stage is ClientStage.SURVIVORS_SIGNED:
            return self._record(_Signed).inputs.session
        return self._announce

    def _check_binding(self, session: bytes, round_number: int, recipient: int) -> None:
        if round_number != self.round or session != self._bound_session():
            raise SessionMismatchError("message from another session or round")
        if recipient != self.id:
            raise MisaddressedMessageError(f"message for client {recipient}")

    # -- round 0: AdvertiseKeys ---------------------------------------------------

    def advertise_keys(self) -> AdvertiseKeys:
        """Generate the two key pairs and publish their public halves."""
        with self._refusing():
            self._require(ClientStage.NEW)
            new = self._record(_New)
            encryption = KeyPair.generate(self._entropy)
            masking = KeyPair.generate(self._entropy)
            message = AdvertiseKeys(
                self._announce, self.round, self.id, encryption.public, masking.public
            )
            if self._identity is not None:
                model = self._identity.model
                signature = self._identity.key.sign(replace(message, model_digest=model).statement)
                message = replace(message, model_digest=model, signature=signature)
            self._advance(
                ClientStage.KEYS_ADVERTISED, _Advertised(new.protected, encryption, masking)
            )
            return message

    # -- round 1: ShareKeys -------------------------------------------------------

    def share_keys(self, broadcast: KeyBroadcast) -> ShareKeys:
        """Check the key list, derive the session, Shamir-share b_u and s_u^SK to neighbours.

        Refuses, and aborts, a list that is from another session, misaddressed, lacks or
        alters this client's own keys, names a client twice or a client that is not its
        neighbour on the ring (UnknownClientError), whose key digest does not commit to
        the keys shown, to this client's own or to an absent neighbour's absence
        (KeyDigestError), holds a low-order or all-zero key
        (WeakKeyError) or the same key twice (compared as X25519 keys), or leaves this
        client fewer neighbours than t (AbortError). In the malicious mode also a list
        where a neighbour received another model (ModelMismatchError) or a neighbour's
        keys are not signed by its roster identity (SignatureError). A neighbour missing
        from the list did not advertise: it counts as dropped.
        """
        with self._refusing():
            self._require(ClientStage.KEYS_ADVERTISED)
            mine = self._record(_Advertised)
            self._check_binding(broadcast.session_id, broadcast.round, broadcast.recipient)
            keys = {cid: (c_pk, s_pk) for cid, c_pk, s_pk in broadcast.keys}
            if len(keys) != len(broadcast.keys):
                raise DecodeError("a client appears twice in the key list")
            if keys.get(self.id) != (mine.encryption.public, mine.masking.public):
                raise DecodeError("the key list does not hold this client's own keys")
            check_key_list(keys)
            model = NO_MODEL if self._identity is None else self._identity.model
            session = session_id(self.config, broadcast.key_digest, model)
            ring = ring_neighbours(self.config, session, self.id)
            neighbours = frozenset(keys) - {self.id}
            strangers = neighbours - ring
            if strangers:
                raise UnknownClientError(
                    f"the key list names client {min(strangers)}, not a neighbour"
                )
            self._check_key_digest(broadcast, keys, ring)
            if len(neighbours) < self.config.threshold:
                raise AbortError(f"only {len(neighbours)} neighbours for threshold t")
            if self._identity is not None:
                self._check_attestations(broadcast)

            holders = sorted(neighbours)
            share_keys = {}
            for peer in holders:
                shared = mine.encryption.agree(keys[peer][0])
                share_keys[peer] = derive_key(
                    shared, label=Label.SHARE_ENCRYPTION, session_id=session
                )
            report(self._observer, self.id, "share", Work.KEY_AGREEMENTS, len(holders))
            self_seed = self._entropy(32)
            shares = split(
                [self_seed, mine.masking.private], holders, self.config.threshold, self._entropy
            )
            sealed = []
            for holder, share in zip(holders, shares, strict=True):
                plaintext = (
                    struct.pack(">II", self.id, holder)
                    + share.ys[0].to_bytes(ELEMENT_BYTES, "big")
                    + share.ys[1].to_bytes(ELEMENT_BYTES, "big")
                )
                ad = share_associated_data(session, self.round, self.id, holder)
                sealed.append((holder, seal(share_keys[holder], plaintext, ad, self._entropy)))
            commitment = masks.self_seed_commitment(self_seed, session, self.id)
            record = _SharesSent(
                mine.protected,
                mine.masking,
                session,
                neighbours,
                {peer: keys[peer][1] for peer in holders},
                share_keys,
                self_seed,
            )
            self._advance(ClientStage.SHARES_SENT, record)
            return ShareKeys(session, self.round, self.id, commitment, tuple(sealed))

    def _check_key_digest(
        self,
        broadcast: KeyBroadcast,
        keys: Mapping[int, tuple[bytes, bytes]],
        ring: frozenset[int],
    ) -> None:
        """The key digest commits to this client's own keys and to exactly what it was
        shown for each ring neighbour (its keys, or that it did not advertise): for a
        complete graph by rebuilding the key tree from the whole list, otherwise by one
        key tree path per client. Raises KeyDigestError."""
        digest = broadcast.key_digest
        if is_complete(self.config):
            if broadcast.proofs or KeyTree(self.config.num_clients, keys).root != digest:
                raise KeyDigestError("the key list does not hash to its digest")
            return
        checked = sorted(ring | {self.id})
        step = depth(self.config.num_clients) * LEVEL_BYTES
        if len(broadcast.proofs) != step * len(checked):
            raise KeyDigestError(f"the key list carries paths for {len(checked)} clients")
        proofs = broadcast.proofs
        claims = [
            (cid, keys.get(cid), proofs[i * step : (i + 1) * step]) for i, cid in enumerate(checked)
        ]
        wrong = first_unproven(digest, claims)
        if wrong is not None:
            raise KeyDigestError(f"client {wrong}'s keys are not the digest's")

    def _check_attestations(self, broadcast: KeyBroadcast) -> None:
        """Malicious mode: every client of the list (this client and its neighbours) got
        this client's model, and each neighbour's keys carry its roster signature."""
        identity = self._identity
        if identity is None or len(broadcast.attestations) != len(broadcast.keys):
            raise DecodeError("the key list carries no signatures")
        for (cid, c_pk, s_pk), (model, signature) in zip(
            broadcast.keys, broadcast.attestations, strict=True
        ):
            if model != identity.model:
                raise ModelMismatchError(f"client {cid} received another model than this client")
            if cid != self.id:
                statement = advertise_statement(self._announce, cid, c_pk, s_pk, model)
                identity.roster.verify(cid, statement, signature)
        report(self._observer, self.id, "share", Work.SIGNATURE_CHECKS, len(broadcast.keys) - 1)

    # -- round 2: MaskedInputCollection ---------------------------------------------

    def masked_input(self, forwarded: ForwardedShares) -> MaskedInput:
        """Open the neighbours' shares, then mask the protected vector and send it.

        Raises (and aborts) SessionMismatchError / MisaddressedMessageError,
        UnknownNeighbourError for a share from a non-neighbour, AuthenticationError for a
        forged share, AbortError if fewer than t neighbours are live.
        """
        if self.needs_input:  # a caller's omission, not a refusal: the client goes on
            raise StageError("provide_input must come before the masked input")
        with self._refusing():
            self._require(ClientStage.SHARES_SENT)
            state = self._record(_SharesSent)
            if state.protected is None:  # unreachable: needs_input covers it
                raise StageError("no input")
            self._check_binding(forwarded.session_id, forwarded.round, forwarded.recipient)
            held: dict[int, tuple[int, int]] = {}
            for sender, blob in forwarded.sealed:
                if sender not in state.neighbours:
                    raise UnknownNeighbourError(f"share from non-neighbour {sender}")
                ad = share_associated_data(state.session, self.round, sender, self.id)
                plaintext = open_sealed(state.share_keys[sender], blob, ad)
                held[sender] = self._parse_share(plaintext, sender)
            if len(held) + 1 < self.config.threshold:
                raise AbortError("too few live neighbours to recover this client")

            k = self.config.modulus_bits
            terms = [masks.self_mask(state.self_seed, state.session, self.id, +1)]
            for peer in sorted(held):
                seed = masks.pairwise_seed(state.masking, state.masking_keys[peer], state.session)
                terms.append(masks.pairwise_mask(seed, state.session, self.id, peer, +1))
            report(self._observer, self.id, "upload", Work.KEY_AGREEMENTS, len(held))
            report(self._observer, self.id, "upload", Work.PRG_VECTORS, len(terms))
            # Mask straight into the packing workspace and pack there: one buffer per message.
            length = self.config.length
            buffer = columnpack.workspace(length, k)
            masks.masked(state.protected, terms, k, out=buffer[:length])
            payload = columnpack.pack_in_place(buffer, k)
            # b_u, the private keys and the input are dropped with the old record: the
            # server recovers b_u from the neighbours' shares.
            self._advance(ClientStage.INPUT_SENT, _InputSent(state.session, state.neighbours, held))
            return MaskedInput(state.session, self.round, self.id, k, length, payload)

    def _parse_share(self, plaintext: bytes, sender: int) -> tuple[int, int]:
        if len(plaintext) != SHARE_PLAINTEXT_BYTES:
            raise DecodeError("share plaintext has the wrong length", sender=sender)
        owner, holder = struct.unpack(">II", plaintext[:8])
        if (owner, holder) != (sender, self.id):
            raise MisaddressedMessageError("share sealed for another pair", sender=sender)
        y_b = int.from_bytes(plaintext[8 : 8 + ELEMENT_BYTES], "big")
        y_sk = int.from_bytes(plaintext[8 + ELEMENT_BYTES :], "big")
        if y_b >= PRIME or y_sk >= PRIME:
            raise DecodeError("share value outside the field", sender=sender)
        return y_b, y_sk

    # -- malicious mode: ConsistencyCheck --------------------------------------------

    def sign_survivors(self, request: ConsistencyRequest) -> ConsistencySignature:
        """Sign the survivor set U3 the server announced (Bonawitz et al. 2017, round 3).

        Refuses (and aborts, ConsistencyCheckError) a set that leaves this client out,
        names a neighbour whose shares it never received, or leaves it fewer than t - 1
        surviving neighbours.
        """
        with self._refusing():
            self._require(ClientStage.INPUT_SENT)
            state = self._record(_InputSent)
            identity = self._identity
            if identity is None:
                raise UnexpectedMessageError("the honest mode has no consistency round")
            self._check_binding(request.session_id, request.round, request.recipient)
            survivors = set(request.survivors)
            if self.id not in survivors:
                raise ConsistencyCheckError("the survivor set leaves out this client")
            if (survivors & state.neighbours) - set(state.held):
                raise ConsistencyCheckError("a survivor never sent this client its shares")
            if len(survivors & set(state.held)) + 1 < self.config.threshold:
                raise ConsistencyCheckError("too few surviving neighbours to unmask safely")
            statement = survivors_statement(state.session, request.survivors)
            signature = identity.key.sign(statement)
            self._advance(ClientStage.SURVIVORS_SIGNED, _Signed(state, request.survivors))
            return ConsistencySignature(state.session, self.round, self.id, signature)

    def _check_consistency(self, signed: _Signed, request: UnmaskingRequest) -> None:
        """The request follows the set this client signed, and at least t of its
        neighbours signed that same set (checked against the roster)."""
        identity = self._identity
        if identity is None:
            raise StageError("no identity")
        live, survivors = set(signed.inputs.held), set(signed.survivors)
        if set(request.survivors) != live & survivors or set(request.dropped) != live - survivors:
            raise ConsistencyCheckError("the request does not follow the signed survivor set")
        signers = tuple(signer for signer, _ in request.signatures)
        if not all(map(operator.lt, signers, signers[1:])):
            # One signature counted twice would stand in for a missing neighbour.
            raise ConsistencyCheckError("the signatures must name distinct signers, increasing")
        statement = survivors_statement(signed.inputs.session, signed.survivors)
        valid, checked = 0, 0
        for signer, signature in request.signatures:
            if (
                signer == self.id
                or signer not in survivors
                or signer not in signed.inputs.neighbours
            ):
                continue
            checked += 1
            try:
                identity.roster.verify(signer, statement, signature)
            except SignatureError:
                continue
            valid += 1
            if valid >= self.config.threshold:
                break
        report(self._observer, self.id, "unmask", Work.SIGNATURE_CHECKS, checked)
        if valid < self.config.threshold:
            raise ConsistencyCheckError(
                f"{valid} neighbours signed the survivor set this client was told, "
                f"{self.config.threshold} needed: the server may be showing clients "
                "different sets"
            )

    # -- round 3: Unmasking -------------------------------------------------------

    def unmask(self, request: UnmaskingRequest) -> UnmaskingResponse:
        """Reveal shares of b_v for surviving neighbours and of s_v^SK for dropped ones.

        Refuses (and aborts) a request that names a client in both lists, itself, an
        unknown id, an id twice, a client that had dropped before sending shares, leaves
        a live neighbour out, or lists fewer than t - 1 surviving neighbours; in the
        malicious mode also one that does not follow the signed survivor set or lacks t
        neighbours' signatures on it (ConsistencyCheckError).
        """
        with self._refusing():
            if self._identity is None:
                self._require(ClientStage.INPUT_SENT)
                state = self._record(_InputSent)
            else:
                self._require(ClientStage.SURVIVORS_SIGNED)
                signed = self._record(_Signed)
                state = signed.inputs
            self._check_binding(request.session_id, request.round, request.recipient)
            if self._identity is not None:
                self._check_consistency(signed, request)
            survivors, dropped = request.survivors, request.dropped
            named = survivors + dropped
            live = set(state.held)
            if len(set(survivors)) != len(survivors) or len(set(dropped)) != len(dropped):
                raise DuplicateIdError("the request names a client twice")
            both = set(survivors) & set(dropped)
            if both:
                raise BothSharesRequestedError(f"both shares of client {min(both)} were requested")
            if self.id in named:
                raise SelfShareRequestedError("the request names this client")
            for cid in named:
                if cid in state.neighbours and cid not in live:
                    raise AlreadyDroppedError(f"client {cid} dropped before ShareKeys")
                if cid not in live:
                    raise UnknownNeighbourError(f"client {cid} is not a neighbour")
            if set(named) != live:
                raise IncompleteRequestError("the request omits a live neighbour")
            if len(survivors) + 1 < self.config.threshold:
                raise TooFewSurvivorsError("too few surviving neighbours to unmask")

            response = UnmaskingResponse(
                state.session,
                self.round,
                self.id,
                tuple((cid, state.held[cid][0]) for cid in sorted(survivors)),
                tuple((cid, state.held[cid][1]) for cid in sorted(dropped)),
            )
            self._advance(ClientStage.DONE)
            return response

    # -- saving and restoring -------------------------------------------------------

    def save(self, *, key: bytes | None = None) -> bytes:
        """The client's state as bytes, for :meth:`restore` in this or another process.

        **The result holds this client's secrets** (private keys, b_u, the shares it
        holds for its neighbours, its input): anyone who reads it can unmask this
        client. Keep it where only the client can read it, or give ``key`` (32 bytes)
        to seal it with AES-256-GCM. See :mod:`secagg.protocol.state`.
        """
        header = StateHeader(
            PartyKind.MASKING_CLIENT,
            self.config.digest(),
            self.id,
            self._lineage,
            self.progress,
        )
        body = FieldWriter().u8(self.progress)
        if self._identity is not None:  # which identity and model this client runs with
            body.fixed(self._identity.key.public).fixed(self._identity.model)
        _write_record(body, self)
        return encode_state(header, body.getvalue(), key=key)

    @classmethod
    def restore(
        cls,
        data: bytes,
        config: MaskingConfig,
        *,
        client_id: int | None = None,
        key: bytes | None = None,
        guard: RestoreGuard | None = None,
        entropy: Entropy = system_entropy,
        observer: Observer | None = None,
        identity: IdentityKey | None = None,
        roster: Verifier | None = None,
    ) -> MaskingClient:
        """Rebuild a client from :meth:`save`'s bytes; it behaves exactly as the original.

        ``config`` must be the round's configuration; ``client_id``, when given, must be
        the saved client's. Give the client's :class:`RestoreGuard` to refuse restoring
        one saved state twice, or behind the client's own progress (it stays bound to
        the restored client). In the malicious mode give the client's identity key and
        roster again (the state records which identity and model it ran with, not the
        long-lived identity secret). Raises StateVersionError, StateIntegrityError,
        StateMismatchError, StateRollbackError, ConfigurationError.
        """
        require_guard(config.malicious, guard)
        header, body = decode_state(
            data,
            kind=PartyKind.MASKING_CLIENT,
            config_digest=config.digest(),
            client=client_id,
            key=key,
        )
        try:
            stage = _ORDER[require_int("stage", body.u8(), 0, len(_ORDER) - 1, DecodeError)]
            if _ORDER.index(stage) != header.step:
                raise DecodeError("stage and step disagree")
            saved_identity = model = None
            if config.malicious:
                saved_identity, model = body.fixed(32), body.fixed(32)
            record = _read_record(stage, body, config)
            body.done()
        except (DecodeError, InputError) as exc:
            raise body_error(DecodeError(str(exc))) from exc
        checked = _identity(config, identity, roster, model)
        if checked is not None and checked.key.public != saved_identity:
            raise StateMismatchError("the state was saved by a client with another identity")
        client = cls.__new__(cls)
        client.config = config
        client._id = require_int(
            "client id", header.client, 1, config.num_clients, StateIntegrityError
        )
        Machine.__init__(client, stage, record)
        client._identity = checked
        client._entropy = entropy
        client._observer = observer
        client._announce = announce_id(config)
        client._lineage = header.lineage
        client._bind(header.lineage, guard)
        return client


def _identity(
    config: MaskingConfig,
    identity: IdentityKey | None,
    roster: Verifier | None,
    model_digest: bytes | None,
) -> _Identity | None:
    """The malicious mode's identity, checked; None in the honest mode."""
    if not config.malicious:
        if identity is not None or roster is not None or model_digest is not None:
            raise ConfigurationError("identity, roster and model digest are for the malicious mode")
        return None
    if not isinstance(identity, IdentityKey):
        raise ConfigurationError("the malicious mode needs this client's IdentityKey")
    verified = check_verifier(roster, config.roster_digest, config.num_clients)
    return _Identity(identity, verified, check_model_digest(model_digest))


def _is_type(data: bytes, kind: MessageType) -> bool:
    try:
        return peek_header(data).type is kind
    except SecAggError:
        return False


def check_protected(config: MaskingConfig, protected: npt.ArrayLike) -> Vector:
    """The protected vector checked against the round's length and budget
    (:func:`secagg.weighting.check_protected`). Raises InputError."""
    return weighting.check_protected(protected, config.length, config.quantization)


def check_key_list(keys: Mapping[int, tuple[bytes, bytes]]) -> None:
    """Every advertised key is a usable X25519 key, and no key appears twice.

    Keys are compared as X25519 keys (bit 255 ignored, non-canonical encodings reduced),
    not as bytes (:func:`~secagg.primitives.keyagreement.check_public_keys`). Raises
    WeakKeyError naming the client whose key is refused.
    """
    owners = sorted(keys)
    refused = refused_public_key([key for cid in owners for key in keys[cid]])
    if refused is not None:
        position, reason = refused
        raise WeakKeyError(f"a public key of client {owners[position // 2]} {reason}")


# --- the saved body of each stage record ---------------------------------------------


def _write_vector(w: FieldWriter, vector: Vector | None) -> None:
    """A presence byte, then the vector (little-endian) when there is one."""
    w.u8(vector is not None)
    if vector is not None:
        w.var(vector.astype(vector.dtype.newbyteorder("<"), copy=False).tobytes())


def _read_vector(r: Fields, config: MaskingConfig) -> Vector | None:
    if not require_int("input flag", r.u8(), 0, 1, DecodeError):
        return None
    dtype = np.dtype(mask_dtype(config.modulus_bits))
    raw = r.var(config.length * dtype.itemsize)
    if len(raw) != config.length * dtype.itemsize:
        raise DecodeError("saved input has the wrong length")
    return check_protected(config, np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype))


def _write_record(w: FieldWriter, client: MaskingClient) -> None:
    stage = client.stage
    if stage is ClientStage.NEW:
        _write_vector(w, client._record(_New).protected)
    elif stage is ClientStage.KEYS_ADVERTISED:
        adv = client._record(_Advertised)
        _write_vector(w, adv.protected)
        w.fixed(adv.encryption.private).fixed(adv.masking.private)
    elif stage is ClientStage.SHARES_SENT:
        s = client._record(_SharesSent)
        _write_vector(w, s.protected)
        w.fixed(s.masking.private).fixed(s.session).fixed(s.self_seed)
        w.ids(sorted(s.neighbours))
        for peer in sorted(s.neighbours):
            w.fixed(s.masking_keys[peer]).fixed(s.share_keys[peer])
    elif stage in (ClientStage.INPUT_SENT, ClientStage.SURVIVORS_SIGNED):
        signed = client._record(_Signed) if stage is ClientStage.SURVIVORS_SIGNED else None
        i = signed.inputs if signed is not None else client._record(_InputSent)
        w.fixed(i.session).ids(sorted(i.neighbours)).ids(sorted(i.held))
        for peer in sorted(i.held):
            y_b, y_sk = i.held[peer]
            w.fixed(y_b.to_bytes(ELEMENT_BYTES, "big")).fixed(y_sk.to_bytes(ELEMENT_BYTES, "big"))
        if signed is not None:
            w.ids(signed.survivors)


def _read_element(r: Fields) -> int:
    value = int.from_bytes(r.fixed(ELEMENT_BYTES), "big")
    if value >= PRIME:
        raise DecodeError("saved share outside the field")
    return value


def _read_record(stage: ClientStage, r: Fields, config: MaskingConfig) -> object:
    n = config.num_clients
    if stage is ClientStage.NEW:
        return _New(_read_vector(r, config))
    if stage is ClientStage.KEYS_ADVERTISED:
        protected = _read_vector(r, config)
        return _Advertised(protected, _key_pair(r.fixed(32)), _key_pair(r.fixed(32)))
    if stage is ClientStage.SHARES_SENT:
        protected = _read_vector(r, config)
        masking = _key_pair(r.fixed(32))
        session, self_seed = r.fixed(32), r.fixed(32)
        neighbours = r.ids(n)
        masking_keys, share_keys = {}, {}
        for peer in neighbours:
            masking_keys[peer] = r.fixed(PUBLIC_KEY_BYTES)
            share_keys[peer] = r.fixed(32)
        return _SharesSent(
            protected, masking, session, frozenset(neighbours), masking_keys, share_keys, self_seed
        )
    if stage in (ClientStage.INPUT_SENT, ClientStage.SURVIVORS_SIGNED):
        session = r.fixed(32)
        around = frozenset(r.ids(n))
        live = r.ids(n)
        if not set(live) <= around:
            raise DecodeError("saved shares from a non-neighbour")
        held = {peer: (_read_element(r), _read_element(r)) for peer in live}
        inputs = _InputSent(session, around, held)
        if stage is ClientStage.INPUT_SENT:
            return inputs
        return _Signed(inputs, r.ids(n))
    return None


def _key_pair(private: bytes) -> KeyPair:
    return KeyPair.from_private(private)
