"""The Paillier aggregation protocol as one-shot parties with no I/O.

Roles and messages (all through the server)::

    key holder  --PAILLIER_PUBLIC_KEY-->  server  --(same bytes)-->  every client
    client      --PAILLIER_CIPHERTEXTS-->  server            (multiplied in on arrival)
    server      --PAILLIER_DECRYPTION_REQUEST-->  key holder (the aggregate, and whose
                                                              uploads are in it)
    key holder  --PAILLIER_AGGREGATE-->  server              (the survivors' sum)

The key holder is one of the round's clients: :class:`PaillierClient` for that id holds
a :class:`KeyHolder` and answers both roles, so a transport addresses one party per
client id. Every party has the transport interface of :mod:`secagg.protocol.party`.

Security property: the server holds no decryption key and sees only ciphertexts and
the final sum; the key holder sees only the aggregate, decrypts once per session, and
refuses an aggregate said to hold fewer than ``config.min_uploads`` uploads (an honest
server never asks; against a lying server see docs/threat-model.md). Nobody learns an
individual input unless the server and the key holder collude. Every message is
validated completely before any state changes; a refusal aborts the refusing party.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar, NoReturn

import gmpy2
import numpy as np
import numpy.typing as npt

from secagg import weighting
from secagg.codec import SERVER_ID, Fields, FieldWriter, Header, MessageType, peek_header
from secagg.errors import (
    AbortError,
    ConfigurationError,
    DecodeError,
    DuplicateMessageError,
    InputError,
    InvalidCiphertextError,
    InvalidPublicKeyError,
    MisaddressedMessageError,
    ReplayedMessageError,
    SecAggError,
    SenderMismatchError,
    SessionMismatchError,
    StageError,
    StateIntegrityError,
    TooFewContributorsError,
    UnexpectedMessageError,
    UnknownClientError,
)
from secagg.paillier.decrypt import decrypt_many
from secagg.paillier.djn import Encryptor, check_ciphertexts
from secagg.paillier.keys import PrivateKey, PublicKey, generate_keypair, validate_public_key
from secagg.paillier.messages import (
    AggregateMessage,
    CiphertextsMessage,
    DecryptionRequest,
    PublicKeyMessage,
    ciphertext_values,
    key_statement,
    upload_statement,
)
from secagg.paillier.packing import pack_slots, unpack_slots
from secagg.paillier.session import PaillierConfig, config_digest, session_id
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.prg import mask_dtype
from secagg.primitives.signatures import IdentityKey
from secagg.protocol.bans import Bans, check_sender, screen
from secagg.protocol.identity import NO_MODEL, Verifier, check_model_digest, check_verifier
from secagg.protocol.machine import Machine, transitions
from secagg.protocol.observer import Observer, Work, report
from secagg.protocol.party import Outcome, Waiting
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


def _check_header(
    header: Header,
    *,
    session: bytes,
    round_number: int,
    sender: int,
    recipient: int,
) -> None:
    if header.session_id != session or header.round != round_number:
        raise SessionMismatchError("message from another session or round", sender=header.sender)
    if header.sender != sender:
        raise SenderMismatchError(
            f"message from {header.sender}, expected {sender}", sender=header.sender
        )
    if header.recipient != recipient:
        raise MisaddressedMessageError(
            f"message addressed to {header.recipient}, not {recipient}", sender=header.sender
        )


def _accept_public_key(
    config: PaillierConfig, data: bytes, roster: Verifier | None, model: bytes
) -> tuple[PublicKey, bytes]:
    """Decode, validate and session-check a public key message (and in the malicious mode
    the key holder's signature on it); returns (key, session id)."""
    message = PublicKeyMessage.decode(data, signed=config.malicious)
    public = validate_public_key(message.n, config.allowed_key_bits)
    if public.bits != config.key_bits:
        raise InvalidPublicKeyError(
            f"modulus of {public.bits} bits, the round expects {config.key_bits}"
        )
    session = session_id(config, public, model)
    _check_header(
        message.header,
        session=session,
        round_number=config.round_number,
        sender=config.key_holder,
        recipient=SERVER_ID,
    )
    if roster is not None:  # the server cannot substitute a key it made itself
        roster.verify(
            config.key_holder,
            key_statement(session, config.key_holder, public.n),
            message.signature,
        )
    return public, session


def _roster(config: PaillierConfig, roster: Verifier | None) -> Verifier | None:
    if config.malicious:
        return check_verifier(roster, config.roster_digest)
    if roster is not None:
        raise ConfigurationError("a roster is for the malicious mode")
    return None


def _model(config: PaillierConfig, model_digest: bytes | None) -> bytes:
    """The model digest a party binds into the session (malicious mode only)."""
    if config.malicious:
        return check_model_digest(model_digest)
    if model_digest is not None:
        raise ConfigurationError("a model digest is for the malicious mode")
    return NO_MODEL


def _identity_key(config: PaillierConfig, identity: IdentityKey | None) -> IdentityKey | None:
    if config.malicious and not isinstance(identity, IdentityKey):
        raise ConfigurationError("the malicious mode needs this party's IdentityKey")
    if not config.malicious and identity is not None:
        raise ConfigurationError("an identity key is for the malicious mode")
    return identity


def _write_key(w: FieldWriter, key: PrivateKey) -> None:
    for prime in (key.p, key.q):
        w.var(prime.to_bytes((prime.bit_length() + 7) // 8, "big"))


def _read_key(r: Fields, config: PaillierConfig) -> PrivateKey:
    limit = config.key_bits // 8
    p, q = (int.from_bytes(r.var(limit), "big") for _ in range(2))
    public = validate_public_key(p * q, config.allowed_key_bits)
    return PrivateKey(public, p, q)


# --- key holder ------------------------------------------------------------------


class KeyHolderStage(enum.Enum):
    START = "start"
    PUBLISHED = "published"  # public key sent; waiting for the decryption request
    DONE = "done"  # decrypted once; never again in this session
    ABORTED = "aborted"


_HOLDER_ORDER = list(KeyHolderStage)


@dataclass(frozen=True, eq=False)
class _HolderStart:
    key: PrivateKey | None  # a key to reuse, else one is generated at start


@dataclass(frozen=True, eq=False)
class _Published:
    key: PrivateKey
    session: bytes


class KeyHolder(Machine[KeyHolderStage]):
    """Generates the key pair, publishes n bound to the session, decrypts the aggregate once.

    ``workers`` processes share the CRT decryption. ``key`` reuses a key pair (tests, or
    a key holder serving several rounds); otherwise one is generated from ``entropy``
    at :meth:`start`. ``observer`` is told the ciphertexts decrypted. In the malicious
    mode ``identity`` signs the published key and ``roster`` checks the contributors'
    signed uploads, which the key holder multiplies itself.
    """

    _TRANSITIONS: ClassVar = transitions(_HOLDER_ORDER[:3], KeyHolderStage.ABORTED)
    _ABORTED: ClassVar = KeyHolderStage.ABORTED

    def __init__(
        self,
        config: PaillierConfig,
        *,
        key: PrivateKey | None = None,
        workers: int = 1,
        entropy: Entropy = system_entropy,
        observer: Observer | None = None,
        guard: RestoreGuard | None = None,
        identity: IdentityKey | None = None,
        roster: Verifier | None = None,
        model_digest: bytes | None = None,
    ) -> None:
        if not isinstance(config, PaillierConfig):
            raise ConfigurationError("config must be a PaillierConfig")
        if key is not None and (
            not isinstance(key, PrivateKey) or key.public.bits != config.key_bits
        ):
            raise InputError("the given key pair does not have the configured size")
        super().__init__(KeyHolderStage.START, _HolderStart(key))
        self.config = config
        self._identity = _identity_key(config, identity)
        self._roster = _roster(config, roster)
        self._model = _model(config, model_digest)
        self._workers = require_int("workers", workers, 1, 1024)
        self._entropy = entropy
        self._observer = observer
        self._parent: Callable[[], None] | None = None
        self._lineage = new_lineage(entropy)
        self._bind(self._lineage, guard)

    def _on_progress(self) -> None:
        # Inside a PaillierClient the client records the pair's progress as one step.
        if self._parent is not None:
            self._parent()
        else:
            super()._on_progress()

    @property
    def id(self) -> int:
        return self.config.key_holder

    @property
    def public_key(self) -> PublicKey:
        """The published key. Raises StageError before :meth:`start`."""
        return self._record(_Published).key.public

    def start(self) -> bytes:
        """Generate (or take) the key pair; return the PAILLIER_PUBLIC_KEY message."""
        with self._refusing():
            self._require(KeyHolderStage.START)
            key = self._record(_HolderStart).key
            if key is None:
                key = generate_keypair(
                    self.config.key_bits, self._entropy, allowed_bits=self.config.allowed_key_bits
                )
            session = session_id(self.config, key.public, self._model)
            header = Header(
                MessageType.PAILLIER_PUBLIC_KEY,
                session,
                self.config.round_number,
                self.config.key_holder,
                SERVER_ID,
            )
            signature = b""
            if self._identity is not None:
                statement = key_statement(session, self.config.key_holder, key.public.n)
                signature = self._identity.sign(statement)
            data = PublicKeyMessage(header, key.public.n, signature).encode()
            self._advance(KeyHolderStage.PUBLISHED, _Published(key, session))
            return data

    def handle(self, data: bytes) -> bytes:
        """Decrypt the aggregate of a PAILLIER_DECRYPTION_REQUEST; return PAILLIER_AGGREGATE.

        Refuses (and aborts): a request from elsewhere (the MessageError family), one
        naming fewer than ``config.min_uploads`` contributors or clients outside the
        round (TooFewContributorsError / UnknownClientError), a ciphertext outside
        Z*_{n^2} (InvalidCiphertextError), a plaintext that overflows its slots
        (DecodeError); a second request raises StageError.
        """
        with self._refusing():
            self._require(KeyHolderStage.PUBLISHED)
            published = self._record(_Published)
            config = self.config
            public = published.key.public
            request = DecryptionRequest.decode(
                data,
                count=config.ciphertexts,
                width=public.ciphertext_bytes,
                max_contributors=len(config.clients),
                signed=config.malicious,
            )
            _check_header(
                request.header,
                session=published.session,
                round_number=config.round_number,
                sender=SERVER_ID,
                recipient=config.key_holder,
            )
            outsiders = set(request.contributors) - set(config.clients)
            if outsiders:
                raise UnknownClientError(f"clients {sorted(outsiders)} are not in the round")
            if len(request.contributors) < config.minimum:
                raise TooFewContributorsError(
                    f"aggregate of {len(request.contributors)} uploads; at least "
                    f"{config.minimum} are needed before anything is decrypted"
                )
            values = request.values()
            check_ciphertexts(values, public)
            if self._roster is not None:
                values = self._signed_product(request, published, values)
            # One-shot from here: a second request, even after a failure below, is refused.
            self._advance(KeyHolderStage.DONE)
            plaintexts = decrypt_many(published.key, values, workers=self._workers)
            report(self._observer, self.id, "decrypt", Work.DECRYPTIONS, len(values))
            vector = unpack_slots(plaintexts, config.length, config.packing)
            header = Header(
                MessageType.PAILLIER_AGGREGATE,
                published.session,
                config.round_number,
                config.key_holder,
                SERVER_ID,
            )
            dtype = mask_dtype(config.quantization.k)
            return AggregateMessage.from_vector(
                header, vector.astype(dtype), config.quantization.k
            ).encode()

    def _signed_product(
        self, request: DecryptionRequest, published: _Published, product: list[gmpy2.mpz]
    ) -> list[gmpy2.mpz]:
        """Malicious mode: every contributor signed its upload for this session, and the
        server's product is exactly the product of those uploads (recomputed here), so
        the server cannot slip in one client's ciphertext with encryptions of zero."""
        roster, public = self._roster, published.key.public
        if roster is None:
            raise StageError("no roster")
        mine: list[gmpy2.mpz] = []
        for client, (signature, blob) in zip(request.contributors, request.uploads, strict=True):
            roster.verify(client, upload_statement(published.session, client, blob), signature)
            values = ciphertext_values(blob, request.width)
            check_ciphertexts(values, public)
            mine = _multiply(mine, values, public)
        report(self._observer, self.id, "decrypt", Work.SIGNATURE_CHECKS, len(request.uploads))
        if mine != product:
            raise InvalidCiphertextError("the aggregate is not the product of the signed uploads")
        return mine

    def save(self, *, key: bytes | None = None) -> bytes:
        """The key holder's state as bytes. **It holds the private key** (p and q):
        whoever reads it can decrypt every upload. Seal it with ``key`` (32 bytes)."""
        header = StateHeader(
            PartyKind.PAILLIER_KEY_HOLDER,
            config_digest(self.config),
            self.id,
            self._lineage,
            self.progress,
        )
        w = FieldWriter()
        self._write(w)
        return encode_state(header, w.getvalue(), key=key)

    def _write(self, w: FieldWriter) -> None:
        w.u8(self.progress)
        if self.stage is KeyHolderStage.START:
            start = self._record(_HolderStart).key
            w.u8(start is not None)
            if start is not None:
                _write_key(w, start)
        elif self.stage is KeyHolderStage.PUBLISHED:
            _write_key(w, self._record(_Published).key)

    @classmethod
    def _read(
        cls,
        r: Fields,
        config: PaillierConfig,
        *,
        workers: int,
        entropy: Entropy,
        observer: Observer | None,
        lineage: bytes,
        identity: IdentityKey | None,
        roster: Verifier | None,
        model_digest: bytes | None,
    ) -> KeyHolder:
        """A key holder rebuilt from :meth:`_write`'s fields (not yet bound to a guard).
        Raises DecodeError or InvalidPublicKeyError."""
        stage = _HOLDER_ORDER[require_int("stage", r.u8(), 0, 3, DecodeError)]
        record: object = None
        if stage is KeyHolderStage.START:
            record = _HolderStart(_read_key(r, config) if r.u8() else None)
        elif stage is KeyHolderStage.PUBLISHED:
            private = _read_key(r, config)
            record = _Published(
                private, session_id(config, private.public, _model(config, model_digest))
            )
        holder = cls.__new__(cls)
        Machine.__init__(holder, stage, record)
        holder.config = config
        holder._identity = _identity_key(config, identity)
        holder._roster = _roster(config, roster)
        holder._model = _model(config, model_digest)
        holder._workers = require_int("workers", workers, 1, 1024)
        holder._entropy = entropy
        holder._observer = observer
        holder._parent = None
        holder._lineage = lineage
        return holder

    @classmethod
    def restore(
        cls,
        data: bytes,
        config: PaillierConfig,
        *,
        key: bytes | None = None,
        guard: RestoreGuard | None = None,
        workers: int = 1,
        entropy: Entropy = system_entropy,
        observer: Observer | None = None,
        identity: IdentityKey | None = None,
        roster: Verifier | None = None,
        model_digest: bytes | None = None,
    ) -> KeyHolder:
        """Rebuild a key holder from :meth:`save`'s bytes (in the malicious mode give its
        identity key and roster again). Raises the StateError family."""
        require_guard(config.malicious, guard)
        header, body = decode_state(
            data,
            kind=PartyKind.PAILLIER_KEY_HOLDER,
            config_digest=config_digest(config),
            client=config.key_holder,
            key=key,
        )
        try:
            holder = cls._read(
                body,
                config,
                workers=workers,
                entropy=entropy,
                observer=observer,
                lineage=header.lineage,
                identity=identity,
                roster=roster,
                model_digest=model_digest,
            )
            body.done()
            if holder.progress != header.step:
                raise DecodeError("stage and step disagree")
        except (DecodeError, InvalidPublicKeyError) as exc:
            raise body_error(DecodeError(str(exc))) from exc
        holder._bind(header.lineage, guard)
        return holder


# --- client ----------------------------------------------------------------------


class ClientStage(enum.Enum):
    AWAIT_KEY = "await-key"
    UPLOADED = "uploaded"
    ABORTED = "aborted"


_CLIENT_ORDER = list(ClientStage)


def _is_key_message(data: bytes) -> bool:
    try:
        return peek_header(data).type is MessageType.PAILLIER_PUBLIC_KEY
    except SecAggError:
        return False


@dataclass(frozen=True, eq=False)
class _Input:
    protected: Vector | None  # None until provide_input


class PaillierClient(Machine[ClientStage]):
    """Encrypts its protected vector [w*q, w] under the validated public key, once.

    Parameters
    ----------
    config: the round's parameters.
    client_id: this client's id (one of ``config.clients``).
    protected: the protected vector (``config.length`` unsigned values, each at most
        w_max (2^b - 1), from :func:`secagg.weighting.encode_weighted`).
    key, workers: for the key holder only (``client_id == config.key_holder``): a key
        pair to reuse and the decryption processes.
    entropy, observer: randomness (``os.urandom``) and an optional cost observer.
    identity, roster: the malicious mode only (and required there): this client's
        Ed25519 identity key (it signs its upload) and the cohort's roster (it checks
        the key holder's signature on the key before encrypting anything under it).

    The key holder's :class:`PaillierClient` holds its :class:`KeyHolder` as
    ``key_holder`` (None for every other client) and answers for it.
    Raises InputError for a bad id or vector.
    """

    # An uploaded key holder still decrypts, so UPLOADED can abort too.
    _TRANSITIONS: ClassVar = transitions(
        _CLIENT_ORDER[:2],
        ClientStage.ABORTED,
        extra={ClientStage.UPLOADED: frozenset({ClientStage.ABORTED})},
    )
    _ABORTED: ClassVar = ClientStage.ABORTED

    def __init__(
        self,
        config: PaillierConfig,
        client_id: int,
        protected: npt.ArrayLike | None,
        *,
        key: PrivateKey | None = None,
        workers: int = 1,
        entropy: Entropy = system_entropy,
        observer: Observer | None = None,
        guard: RestoreGuard | None = None,
        identity: IdentityKey | None = None,
        roster: Verifier | None = None,
        model_digest: bytes | None = None,
    ) -> None:
        if not isinstance(config, PaillierConfig):
            raise ConfigurationError("config must be a PaillierConfig")
        if isinstance(client_id, bool) or client_id not in config.clients:
            raise InputError(f"client {client_id!r} is not in the round")
        vector = None if protected is None else check_protected(config, protected)
        super().__init__(ClientStage.AWAIT_KEY, _Input(vector))
        self.config = config
        self._id = int(client_id)
        self._identity = _identity_key(config, identity)
        self._roster = _roster(config, roster)
        self._model = _model(config, model_digest)
        self._entropy = entropy
        self._observer = observer
        self._lineage = new_lineage(entropy)
        self.key_holder: KeyHolder | None = None
        if client_id == config.key_holder:
            self.key_holder = KeyHolder(
                config,
                key=key,
                workers=workers,
                entropy=entropy,
                observer=observer,
                identity=identity,
                roster=roster,
                model_digest=model_digest,
            )
            self.key_holder._parent = self._on_progress
        elif key is not None:
            raise InputError("only the key holder takes a key pair")
        self._bind(self._lineage, guard)

    @property
    def progress(self) -> int:
        """The client's stage and, for the key holder, its key holder's, as one step."""
        holder = 0 if self.key_holder is None else self.key_holder.progress
        return super().progress * len(_HOLDER_ORDER) + holder

    @property
    def id(self) -> int:
        return self._id

    @property
    def needs_input(self) -> bool:
        """True while the client was made without its protected vector and has not been
        given it (:meth:`provide_input` must come before the key message)."""
        return self.stage is ClientStage.AWAIT_KEY and self._record(_Input).protected is None

    def provide_input(self, protected: npt.ArrayLike) -> None:
        """Give a client made with ``protected=None`` its protected vector before it
        encrypts. Raises StageError if it has one already or has uploaded, InputError
        for a bad vector."""
        if not self.needs_input:
            raise StageError("this client already has its input, or has uploaded")
        self._update(_Input(check_protected(self.config, protected)))

    def input_due(self, data: bytes | None) -> bool:
        """True when the step answering ``data`` (None: :meth:`start`) needs the input
        this client does not have yet (the key message): a transport that makes inputs
        on demand gives it then, and holds no client's vector any earlier."""
        return data is not None and self.needs_input and _is_key_message(data)

    def start(self) -> bytes | None:
        """The key holder's public key message; None for every other client (which
        speaks only when it has the key). Raises StageError once the client is done."""
        with self._refusing():
            self._require(ClientStage.AWAIT_KEY)
            return self.key_holder.start() if self.key_holder is not None else None

    def handle(self, data: bytes) -> bytes:
        """Answer a PAILLIER_PUBLIC_KEY with this client's ciphertexts, or (key holder
        only) a PAILLIER_DECRYPTION_REQUEST with the aggregate."""
        if self.needs_input and _is_key_message(data):
            # a caller's omission, not a refusal: the client goes on
            raise StageError("provide_input must come before the key message")
        with self._refusing():
            kind = peek_header(data).type
            if kind is MessageType.PAILLIER_DECRYPTION_REQUEST and self.key_holder is not None:
                return self.key_holder.handle(data)
            if kind is not MessageType.PAILLIER_PUBLIC_KEY:
                raise UnexpectedMessageError(f"a client does not take {kind.name} messages")
            return self._upload(data)

    def _upload(self, data: bytes) -> bytes:
        """Validate the key holder's n and its session binding; pack and encrypt."""
        self._require(ClientStage.AWAIT_KEY)
        protected = self._record(_Input).protected
        if protected is None:  # unreachable: handle checks needs_input first
            raise StageError("no input")
        public, session = _accept_public_key(self.config, data, self._roster, self._model)
        config = self.config
        encryptor = Encryptor(
            public,
            mode=config.exponent,
            expected_count=config.ciphertexts,
            entropy=self._entropy,
        )
        ciphertexts = encryptor.encrypt(pack_slots(protected, config.packing))
        report(self._observer, self.id, "encrypt", Work.ENCRYPTIONS, len(ciphertexts))
        header = Header(
            MessageType.PAILLIER_CIPHERTEXTS, session, config.round_number, self.id, SERVER_ID
        )
        message = CiphertextsMessage.from_values(header, ciphertexts, public.ciphertext_bytes)
        if self._identity is not None:
            signature = self._identity.sign(upload_statement(session, self.id, message.blob))
            message = replace(message, signature=signature)
        self._advance(ClientStage.UPLOADED)
        return message.encode()

    def abort(self) -> None:
        super().abort()
        if self.key_holder is not None:
            self.key_holder.abort()

    def save(self, *, key: bytes | None = None) -> bytes:
        """The client's state as bytes: its input until it uploads, and the key holder's
        state (**the private key**) for the key holder. Seal it with ``key`` (32 bytes)."""
        header = StateHeader(
            PartyKind.PAILLIER_CLIENT,
            config_digest(self.config),
            self.id,
            self._lineage,
            self.progress,
        )
        w = FieldWriter().u8(_CLIENT_ORDER.index(self.stage))
        if self.stage is ClientStage.AWAIT_KEY:
            protected = self._record(_Input).protected
            w.u8(protected is not None)
            if protected is not None:
                w.var(protected.astype(protected.dtype.newbyteorder("<"), copy=False).tobytes())
        if self.key_holder is not None:
            self.key_holder._write(w)
        return encode_state(header, w.getvalue(), key=key)

    @classmethod
    def restore(
        cls,
        data: bytes,
        config: PaillierConfig,
        *,
        client_id: int | None = None,
        key: bytes | None = None,
        guard: RestoreGuard | None = None,
        workers: int = 1,
        entropy: Entropy = system_entropy,
        observer: Observer | None = None,
        identity: IdentityKey | None = None,
        roster: Verifier | None = None,
        model_digest: bytes | None = None,
    ) -> PaillierClient:
        """Rebuild a client from :meth:`save`'s bytes (in the malicious mode give its
        identity key and roster again). Raises the StateError family."""
        require_guard(config.malicious, guard)
        header, body = decode_state(
            data,
            kind=PartyKind.PAILLIER_CLIENT,
            config_digest=config_digest(config),
            client=client_id,
            key=key,
        )
        if header.client not in config.clients:
            raise StateIntegrityError("saved client is not in the round")
        client = cls.__new__(cls)
        try:
            stage = _CLIENT_ORDER[require_int("stage", body.u8(), 0, 2, DecodeError)]
            record: object = None
            if stage is ClientStage.AWAIT_KEY:
                vector = None
                if require_int("input flag", body.u8(), 0, 1, DecodeError):
                    dtype = np.dtype(mask_dtype(config.quantization.k))
                    raw = body.var(config.length * dtype.itemsize)
                    vector = check_protected(
                        config, np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype)
                    )
                record = _Input(vector)
            Machine.__init__(client, stage, record)
            client.key_holder = None
            if header.client == config.key_holder:
                client.key_holder = KeyHolder._read(
                    body,
                    config,
                    workers=workers,
                    entropy=entropy,
                    observer=observer,
                    lineage=header.lineage,
                    identity=identity,
                    roster=roster,
                    model_digest=model_digest,
                )
                client.key_holder._parent = client._on_progress
            body.done()
            if client.progress != header.step:
                raise DecodeError("stage and step disagree")
        except (DecodeError, InputError, InvalidPublicKeyError) as exc:
            raise body_error(DecodeError(str(exc))) from exc
        client.config = config
        client._id = header.client
        client._identity = _identity_key(config, identity)
        client._roster = _roster(config, roster)
        client._model = _model(config, model_digest)
        client._entropy = entropy
        client._observer = observer
        client._lineage = header.lineage
        client._bind(header.lineage, guard)
        return client


def check_protected(config: PaillierConfig, protected: npt.ArrayLike) -> Vector:
    """The protected vector checked against the round's length and budget
    (:func:`secagg.weighting.check_protected`). Raises InputError."""
    return weighting.check_protected(protected, config.length, config.quantization)


# --- server ----------------------------------------------------------------------


class ServerStage(enum.Enum):
    AWAIT_KEY = "await-key"
    COLLECTING = "collecting"  # multiplying uploads in as they arrive
    DECRYPTING = "decrypting"  # request sent to the key holder
    DONE = "done"
    ABORTED = "aborted"


_SERVER_ORDER = list(ServerStage)


@dataclass(eq=False)
class _Collecting:
    public: PublicKey
    session: bytes
    product: list[gmpy2.mpz] = field(default_factory=list)
    removed: list[gmpy2.mpz] = field(default_factory=list)  # first uploads of duplicates
    uploaded: set[int] = field(default_factory=set)
    retained: dict[int, CiphertextsMessage] = field(default_factory=dict)  # until close
    dropped: set[int] = field(default_factory=set)

    @property
    def survivors(self) -> tuple[int, ...]:
        return tuple(sorted(self.uploaded - self.dropped))


@dataclass(eq=False)
class _AwaitKey:
    message: bytes | None = None  # the key holder's PAILLIER_PUBLIC_KEY, once accepted


@dataclass(eq=False)
class _Decrypting:
    session: bytes
    survivors: tuple[int, ...]
    aggregate: Vector | None = None


class PaillierServer(Machine[ServerStage]):
    """Relays the key, multiplies uploads into the running product mod n^2, asks for one
    decryption of at least ``config.min_uploads`` uploads. Holds no private key.

    Duplicates: an exact copy of an accepted upload is refused and changes nothing. A
    second, *different* upload from one client raises DuplicateMessageError and the
    client counts as dropped: its first upload is divided back out (it is multiplied
    into a separate product that is inverted once at close) so it is neither double
    counted nor half counted. To do so the server keeps each accepted upload's bytes
    until the stage closes (one upload's size per client).

    Malicious mode (``roster`` required): the server checks the key holder's signature
    on the key and each client's on its upload (a forgery drops its sender), and sends
    the key holder every signed upload with the product, for it to check.
    """

    _TRANSITIONS: ClassVar = transitions(_SERVER_ORDER[:4], ServerStage.ABORTED)
    _ABORTED: ClassVar = ServerStage.ABORTED

    def __init__(
        self,
        config: PaillierConfig,
        *,
        roster: Verifier | None = None,
        model_digest: bytes | None = None,
    ) -> None:
        if not isinstance(config, PaillierConfig):
            raise ConfigurationError("config must be a PaillierConfig")
        super().__init__(ServerStage.AWAIT_KEY, _AwaitKey())
        self.config = config
        self._roster = _roster(config, roster)
        self._model = _model(config, model_digest)
        self._bans = Bans()

    @property
    def round(self) -> int:
        return self.config.round_number

    @property
    def finished(self) -> bool:
        return self.stage in (ServerStage.DONE, ServerStage.ABORTED)

    @property
    def survivors(self) -> tuple[int, ...]:
        """Client ids whose upload is in the product (increasing)."""
        if self.stage is ServerStage.COLLECTING:
            return self._record(_Collecting).survivors
        if self.stage is ServerStage.DECRYPTING:
            return self._record(_Decrypting).survivors
        if self.stage is ServerStage.DONE:
            return self._record(Outcome).survivors
        return ()

    @property
    def result(self) -> Outcome:
        """The survivors' sum [sum w*q, sum w] once DONE. Raises StageError before."""
        self._require(ServerStage.DONE)
        return self._record(Outcome)

    def _fail(self, reason: str) -> NoReturn:
        self.abort()
        raise AbortError(reason)

    # -- receiving ----------------------------------------------------------------

    def receive(self, sender: int, data: bytes) -> None:
        """Check one message from the transport-authenticated ``sender``: the key
        holder's public key, a client's upload, or the key holder's aggregate.

        Raises the MessageError family, InvalidPublicKeyError or InvalidCiphertextError
        with no change to anything accepted; a second, different upload raises
        DuplicateMessageError after removing that client's first upload. A refusal that
        counts against the sender drops it for the round (:mod:`secagg.protocol.bans`);
        late, stale and copied messages change nothing. StageError when nothing is
        expected.
        """
        stage = self.stage
        if stage not in (ServerStage.AWAIT_KEY, ServerStage.COLLECTING, ServerStage.DECRYPTING):
            raise StageError(f"server is {stage.value}: no message expected")
        check_sender(sender, self.config.clients)
        self._bans.check(sender)
        with self._bans.judging(sender):
            if stage is ServerStage.AWAIT_KEY:
                self._receive_key(sender, data)
            elif stage is ServerStage.COLLECTING:
                self._receive_upload(sender, data)
            else:
                self._receive_aggregate(sender, data)

    @property
    def dropped(self) -> dict[int, str]:
        """Clients dropped for a refused message, with the reason."""
        return dict(self._bans.reasons)

    def _receive_key(self, sender: int, data: bytes) -> None:
        awaiting = self._record(_AwaitKey)
        screen(data, MessageType.PAILLIER_PUBLIC_KEY, session=None, round_number=self.round)
        claimed = PublicKeyMessage.decode(data, signed=self.config.malicious).header.sender
        if claimed != sender:
            raise SenderMismatchError(f"client {sender} sent client {claimed}'s key", sender=sender)
        if sender != self.config.key_holder:
            raise UnknownClientError(f"client {sender} is not the key holder", sender=sender)
        if awaiting.message is not None:
            if awaiting.message == bytes(data):
                raise ReplayedMessageError("copy of the key holder's key", sender=sender)
            raise DuplicateMessageError("the key holder's key arrived already", sender=sender)
        _accept_public_key(self.config, data, self._roster, self._model)
        awaiting.message = bytes(data)

    def _receive_upload(self, sender: int, data: bytes) -> None:
        collecting = self._record(_Collecting)
        config, public = self.config, collecting.public
        screen(
            data,
            MessageType.PAILLIER_CIPHERTEXTS,
            session=collecting.session,
            round_number=self.round,
        )
        message = CiphertextsMessage.decode(
            data, count=config.ciphertexts, width=public.ciphertext_bytes, signed=config.malicious
        )
        _check_header(
            message.header,
            session=collecting.session,
            round_number=config.round_number,
            sender=sender,
            recipient=SERVER_ID,
        )
        first = collecting.retained.get(sender)
        if first is not None and first.blob == message.blob:
            raise ReplayedMessageError(f"copy of client {sender}'s upload", sender=sender)
        values = message.values()
        check_ciphertexts(values, public)  # a refused second upload changes nothing
        if self._roster is not None:
            statement = upload_statement(collecting.session, sender, message.blob)
            self._roster.verify(sender, statement, message.signature)
        if sender in collecting.uploaded:
            if sender not in collecting.dropped:
                if first is not None:
                    collecting.removed = _multiply(collecting.removed, first.values(), public)
                collecting.retained.pop(sender, None)
                collecting.dropped.add(sender)
            raise DuplicateMessageError(
                f"second, different upload from client {sender}: it now counts as dropped",
                sender=sender,
            )
        collecting.product = _multiply(collecting.product, values, public)
        collecting.uploaded.add(sender)
        collecting.retained[sender] = message

    def _receive_aggregate(self, sender: int, data: bytes) -> None:
        decrypting = self._record(_Decrypting)
        config = self.config
        screen(
            data,
            MessageType.PAILLIER_AGGREGATE,
            session=decrypting.session,
            round_number=self.round,
        )
        message = AggregateMessage.decode(
            data, length=config.length, slot_bits=config.quantization.k
        )
        if message.header.sender != sender:
            raise SenderMismatchError(
                f"message names client {message.header.sender}", sender=sender
            )
        if sender != config.key_holder:
            raise UnknownClientError(f"client {sender} is not the key holder", sender=sender)
        if decrypting.aggregate is not None:
            raise ReplayedMessageError("the aggregate arrived already", sender=sender)
        _check_header(
            message.header,
            session=decrypting.session,
            round_number=config.round_number,
            sender=config.key_holder,
            recipient=SERVER_ID,
        )
        decrypting.aggregate = message.vector()

    # -- what the stage waits for ---------------------------------------------------

    def waiting(self) -> Waiting:
        stage, holder = self.stage, self.config.key_holder
        if stage is ServerStage.AWAIT_KEY:
            return _one(stage.value, holder, self._record(_AwaitKey).message is not None)
        if stage is ServerStage.COLLECTING:
            collecting = self._record(_Collecting)
            done = frozenset(collecting.uploaded)
            have = len(collecting.survivors)
            needed = max(0, self.config.minimum - have)
            pending = frozenset(self.config.clients) - done - set(self._bans.reasons)
            return Waiting(stage.value, pending, done, needed, needed == 0)
        if stage is ServerStage.DECRYPTING:
            return _one(stage.value, holder, self._record(_Decrypting).aggregate is not None)
        return Waiting(stage.value, frozenset(), frozenset(), 0, False)

    # -- closing ------------------------------------------------------------------

    def close(self) -> dict[int, bytes]:
        """End the current stage: forward the key to every client; send the aggregate
        ciphertexts to the key holder; or finish with the key holder's aggregate.

        Raises AbortError (and aborts) when the key never came, fewer than
        ``config.min_uploads`` uploads survived, or the aggregate never came.
        """
        stage = self.stage
        if stage is ServerStage.AWAIT_KEY:
            key_message = self._record(_AwaitKey).message
            if key_message is None:
                self._fail("the key holder published no key: nothing can be encrypted")
            public, session = _accept_public_key(
                self.config, key_message, self._roster, self._model
            )
            self._advance(ServerStage.COLLECTING, _Collecting(public, session))
            return {cid: key_message for cid in self.config.clients}
        if stage is ServerStage.COLLECTING:
            return {self.config.key_holder: self._close_uploads()}
        if stage is ServerStage.DECRYPTING:
            decrypting = self._record(_Decrypting)
            if decrypting.aggregate is None:
                self._fail("the key holder vanished before decrypting; the round is aborted")
            dropped = tuple(c for c in self.config.clients if c not in decrypting.survivors)
            self._advance(
                ServerStage.DONE, Outcome(decrypting.aggregate, decrypting.survivors, dropped)
            )
            return {}
        raise StageError(f"server is {stage.value}: nothing to close")

    def _close_uploads(self) -> bytes:
        collecting = self._record(_Collecting)
        survivors = collecting.survivors
        if len(survivors) < self.config.minimum:
            self._fail(f"{len(survivors)} uploads survived; decrypting needs {self.config.minimum}")
        public = collecting.public
        n2 = public.n_square
        product = collecting.product
        if collecting.removed:
            product = [
                a * gmpy2.invert(r, n2) % n2
                for a, r in zip(product, collecting.removed, strict=True)
            ]
        header = Header(
            MessageType.PAILLIER_DECRYPTION_REQUEST,
            collecting.session,
            self.config.round_number,
            SERVER_ID,
            self.config.key_holder,
        )
        request = DecryptionRequest.from_values(header, survivors, product, public.ciphertext_bytes)
        if self.config.malicious:  # the key holder recomputes the product from these
            uploads = tuple(
                (collecting.retained[c].signature, collecting.retained[c].blob) for c in survivors
            )
            request = replace(request, uploads=uploads)
        data = request.encode()
        # Uploads were kept only to undo duplicates; the record goes with the stage.
        self._advance(ServerStage.DECRYPTING, _Decrypting(collecting.session, survivors))
        return data


def _multiply(acc: list[gmpy2.mpz], values: list[gmpy2.mpz], public: PublicKey) -> list[gmpy2.mpz]:
    """The element-wise product mod n^2 (``values`` itself when ``acc`` is empty)."""
    if not acc:
        return values
    n2 = public.n_square
    return [a * c % n2 for a, c in zip(acc, values, strict=True)]


def _one(stage: str, client: int, received: bool) -> Waiting:
    """A stage that waits for one message from one client."""
    got = frozenset({client}) if received else frozenset()
    pending = frozenset() if received else frozenset({client})
    return Waiting(stage, pending, got, 0 if received else 1, received)
