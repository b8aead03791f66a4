"""The Paillier aggregation protocol as three one-shot state machines, with no I/O.

Roles and messages (all through the server)::

    key holder  --PAILLIER_PUBLIC_KEY-->  server  --(same bytes)-->  every client
    client      --PAILLIER_CIPHERTEXTS-->  server            (multiplied in on arrival)
    server      --PAILLIER_DECRYPTION_REQUEST-->  key holder (aggregate ciphertexts only)
    key holder  --PAILLIER_AGGREGATE-->  server              (the survivors' sum)

Security property: the server holds no decryption key and sees only ciphertexts and the
final sum; the key holder sees only the aggregate. Nobody learns an individual input
unless the server and the key holder collude (or the server, acting maliciously, asks the
key holder to decrypt something other than the aggregate; the key holder decrypts once
per session). Each party takes bytes and returns bytes; each method is allowed in one
stage only (else :class:`~secagg.errors.StageError`), and every message is validated
completely before any state changes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import ClassVar

import gmpy2
import numpy as np
import numpy.typing as npt

from secagg.codec import SERVER_ID, Header, MessageType
from secagg.errors import (
    AbortError,
    DuplicateMessageError,
    InputError,
    InvalidCiphertextError,
    InvalidPublicKeyError,
    MisaddressedMessageError,
    SessionMismatchError,
    StageError,
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
)
from secagg.paillier.packing import pack_slots, unpack_slots
from secagg.paillier.session import PaillierConfig, session_id
from secagg.primitives.entropy import Entropy, system_entropy


def _check_header(
    header: Header,
    *,
    session: bytes,
    round_number: int,
    senders: tuple[int, ...] | frozenset[int],
    recipient: int,
) -> None:
    if header.session_id != session or header.round != round_number:
        raise SessionMismatchError("message from another session or round", sender=header.sender)
    if header.sender not in senders:
        raise UnknownClientError(f"unexpected sender {header.sender}", sender=header.sender)
    if header.recipient != recipient:
        raise MisaddressedMessageError(
            f"message addressed to {header.recipient}, not {recipient}", sender=header.sender
        )


def _accept_public_key(config: PaillierConfig, data: bytes) -> tuple[PublicKey, bytes]:
    """Decode, validate and session-check a public key message; returns (key, session id)."""
    message = PublicKeyMessage.decode(data)
    public = validate_public_key(message.n, config.allowed_key_bits)
    if public.bits != config.key_bits:
        raise InvalidPublicKeyError(
            f"modulus of {public.bits} bits, the round expects {config.key_bits}"
        )
    session = session_id(config, public)
    _check_header(
        message.header,
        session=session,
        round_number=config.round_number,
        senders=(config.key_holder,),
        recipient=SERVER_ID,
    )
    return public, session


class _Machine:
    """A stage enum and an explicit transition table shared by the three roles."""

    _TRANSITIONS: ClassVar[Mapping[enum.Enum, frozenset[enum.Enum]]] = {}

    def __init__(self, start: enum.Enum) -> None:
        self._stage = start

    @property
    def stage(self) -> enum.Enum:
        return self._stage

    def _require(self, *stages: enum.Enum) -> None:
        if self._stage not in stages:
            raise StageError(f"not allowed in stage {self._stage.name}")

    def _advance(self, to: enum.Enum) -> None:
        if to not in self._TRANSITIONS.get(self._stage, frozenset()):
            raise StageError(f"no transition {self._stage.name} -> {to.name}")
        self._stage = to


# --- key holder ------------------------------------------------------------------


class KeyHolderStage(enum.Enum):
    START = "start"
    PUBLISHED = "published"  # public key sent; waiting for the decryption request
    DONE = "done"  # decrypted once; never again in this session
    ABORTED = "aborted"


class KeyHolder(_Machine):
    """Generates the key pair, publishes n bound to the session, decrypts the aggregate once.

    ``workers`` processes share the CRT decryption. ``key`` lets a caller reuse a pair
    (tests, or a key holder serving several rounds); otherwise one is generated from
    ``entropy``. After :meth:`decrypt`, ``worker_cpu_s`` is the pool workers' CPU time.
    """

    _TRANSITIONS: ClassVar[Mapping[enum.Enum, frozenset[enum.Enum]]] = {
        KeyHolderStage.START: frozenset({KeyHolderStage.PUBLISHED, KeyHolderStage.ABORTED}),
        KeyHolderStage.PUBLISHED: frozenset({KeyHolderStage.DONE, KeyHolderStage.ABORTED}),
    }

    def __init__(
        self,
        config: PaillierConfig,
        *,
        key: PrivateKey | None = None,
        workers: int = 1,
        entropy: Entropy = system_entropy,
    ) -> None:
        super().__init__(KeyHolderStage.START)
        self.config = config
        self._key = key
        self._workers = workers
        self._entropy = entropy
        self._session = b""
        self.worker_cpu_s = 0.0

    @property
    def public_key(self) -> PublicKey:
        if self._key is None:
            raise StageError("no key pair yet")
        return self._key.public

    def publish(self) -> bytes:
        """Generate (or take) the key pair; return the PAILLIER_PUBLIC_KEY message."""
        self._require(KeyHolderStage.START)
        if self._key is None:
            self._key = generate_keypair(
                self.config.key_bits, self._entropy, allowed_bits=self.config.allowed_key_bits
            )
        elif self._key.public.bits != self.config.key_bits:
            raise InputError("the given key pair does not have the configured size")
        self._session = session_id(self.config, self._key.public)
        header = Header(
            MessageType.PAILLIER_PUBLIC_KEY,
            self._session,
            self.config.round_number,
            self.config.key_holder,
            SERVER_ID,
        )
        data = PublicKeyMessage(header, self._key.public.n).encode()
        self._advance(KeyHolderStage.PUBLISHED)
        return data

    def decrypt(self, data: bytes) -> bytes:
        """Decrypt the aggregate in a PAILLIER_DECRYPTION_REQUEST; return PAILLIER_AGGREGATE.

        Raises the MessageError family for a request from elsewhere, InvalidCiphertextError
        for a ciphertext outside Z*_{n^2} or a wrong count, DecodeError if the plaintext
        overflows its slots, StageError for a second request.
        """
        self._require(KeyHolderStage.PUBLISHED)
        if self._key is None:  # unreachable after publish
            raise StageError("no key pair")
        config = self.config
        request = DecryptionRequest.decode(data, max_count=config.ciphertexts)
        _check_header(
            request.header,
            session=self._session,
            round_number=config.round_number,
            senders=(SERVER_ID,),
            recipient=config.key_holder,
        )
        public = self._key.public
        if request.width != public.ciphertext_bytes or request.count != config.ciphertexts:
            raise InvalidCiphertextError("aggregate has the wrong ciphertext width or count")
        values = request.values()
        check_ciphertexts(values, public)
        # One-shot from here: a second request, even after a failure below, is refused.
        self._advance(KeyHolderStage.DONE)
        plaintexts, self.worker_cpu_s = decrypt_many(self._key, values, workers=self._workers)
        vector = unpack_slots(plaintexts, config.length, config.packing)
        header = Header(
            MessageType.PAILLIER_AGGREGATE,
            self._session,
            config.round_number,
            config.key_holder,
            SERVER_ID,
        )
        dtype = np.uint32 if config.quantization.k <= 32 else np.uint64
        return AggregateMessage.from_vector(
            header, vector.astype(dtype), config.quantization.k
        ).encode()

    def abort(self) -> None:
        """Forget the key pair: this session can never be decrypted."""
        self._key = None
        self._stage = KeyHolderStage.ABORTED


# --- client ----------------------------------------------------------------------


class ClientStage(enum.Enum):
    AWAIT_KEY = "await-key"
    READY = "ready"  # key validated, encryption table built
    UPLOADED = "uploaded"


class PaillierClient(_Machine):
    """Encrypts one protected vector [w*q, w] under the validated public key, once."""

    _TRANSITIONS: ClassVar[Mapping[enum.Enum, frozenset[enum.Enum]]] = {
        ClientStage.AWAIT_KEY: frozenset({ClientStage.READY}),
        ClientStage.READY: frozenset({ClientStage.UPLOADED}),
    }

    def __init__(
        self, config: PaillierConfig, client_id: int, *, entropy: Entropy = system_entropy
    ) -> None:
        if client_id not in config.clients:
            raise InputError(f"client {client_id} is not in the round")
        super().__init__(ClientStage.AWAIT_KEY)
        self.config = config
        self.client_id = client_id
        self._entropy = entropy
        self._session = b""
        self._public: PublicKey | None = None
        self._encryptor: Encryptor | None = None

    def receive_public_key(self, data: bytes) -> None:
        """Validate the key holder's n and its session binding; precompute h_s's table.

        Raises InvalidPublicKeyError, DecodeError or the MessageError family.
        """
        self._require(ClientStage.AWAIT_KEY)
        public, session = _accept_public_key(self.config, data)
        self._encryptor = Encryptor(
            public,
            mode=self.config.exponent,
            expected_count=self.config.ciphertexts,
            entropy=self._entropy,
        )
        self._public, self._session = public, session
        self._advance(ClientStage.READY)

    def upload(self, protected: npt.NDArray[np.unsignedinteger]) -> bytes:
        """Pack and encrypt ``protected`` (from :func:`secagg.weighting.encode_weighted`).

        Raises InputError for a wrong length or a value beyond w_max (2^b - 1), which
        could make the n_max-client sum overflow a slot.
        """
        self._require(ClientStage.READY)
        if self._encryptor is None or self._public is None:  # unreachable in READY
            raise StageError("no public key")
        config = self.config
        q = config.quantization
        if protected.shape != (config.length,) or protected.dtype.kind != "u":
            raise InputError(f"protected vector must be {config.length} unsigned values")
        if protected.size and int(protected.max()) > q.max_weight * q.levels:
            raise InputError("protected value beyond w_max (2^b - 1): outside the budget")
        ciphertexts = self._encryptor.encrypt(pack_slots(protected, config.packing))
        header = Header(
            MessageType.PAILLIER_CIPHERTEXTS,
            self._session,
            config.round_number,
            self.client_id,
            SERVER_ID,
        )
        data = CiphertextsMessage.from_values(
            header, ciphertexts, self._public.ciphertext_bytes
        ).encode()
        self._advance(ClientStage.UPLOADED)
        return data


# --- server ----------------------------------------------------------------------


class ServerStage(enum.Enum):
    AWAIT_KEY = "await-key"
    COLLECTING = "collecting"  # multiplying uploads in as they arrive
    DECRYPTING = "decrypting"  # request sent to the key holder
    DONE = "done"
    ABORTED = "aborted"


class PaillierServer(_Machine):
    """Relays the key, multiplies uploads into the running product mod n^2, asks for one
    decryption. Holds no private key.

    Duplicates: a second upload from a client that already uploaded raises
    DuplicateMessageError and the client counts as dropped: its first upload is divided
    back out (it is multiplied into a separate product that is inverted once at close)
    so it is neither double counted nor half counted. To do so the server keeps each
    accepted upload's bytes until the stage closes (one upload's size per client).
    """

    _TRANSITIONS: ClassVar[Mapping[enum.Enum, frozenset[enum.Enum]]] = {
        ServerStage.AWAIT_KEY: frozenset({ServerStage.COLLECTING, ServerStage.ABORTED}),
        ServerStage.COLLECTING: frozenset({ServerStage.DECRYPTING, ServerStage.ABORTED}),
        ServerStage.DECRYPTING: frozenset({ServerStage.DONE, ServerStage.ABORTED}),
    }

    def __init__(self, config: PaillierConfig) -> None:
        super().__init__(ServerStage.AWAIT_KEY)
        self.config = config
        self._public: PublicKey | None = None
        self._session = b""
        self._product: list[gmpy2.mpz] = []
        self._removed: list[gmpy2.mpz] = []
        self._uploaded: set[int] = set()
        self._retained: dict[int, CiphertextsMessage] = {}  # until the stage closes
        self._dropped: set[int] = set()

    @property
    def survivors(self) -> tuple[int, ...]:
        """Client ids whose upload is in the product (increasing)."""
        return tuple(sorted(self._uploaded - self._dropped))

    @property
    def session(self) -> bytes:
        return self._session

    def receive_public_key(self, data: bytes) -> bytes:
        """Validate the key holder's message; return the bytes to forward to every client."""
        self._require(ServerStage.AWAIT_KEY)
        self._public, self._session = _accept_public_key(self.config, data)
        self._advance(ServerStage.COLLECTING)
        return data

    def receive_upload(self, data: bytes) -> None:
        """Validate one client's ciphertexts and multiply them into the product.

        Raises DecodeError, SessionMismatchError, UnknownClientError, MisaddressedMessageError,
        InvalidCiphertextError (wrong count or width, c outside Z*_{n^2}) with no state
        change, or DuplicateMessageError after removing that client's first upload.
        """
        self._require(ServerStage.COLLECTING)
        public = self._public
        if public is None:  # unreachable while collecting
            raise StageError("no public key")
        config = self.config
        message = CiphertextsMessage.decode(data, max_count=config.ciphertexts)
        sender = message.header.sender
        _check_header(
            message.header,
            session=self._session,
            round_number=config.round_number,
            senders=config.clients,
            recipient=SERVER_ID,
        )
        if sender in self._uploaded:
            if sender not in self._dropped:
                self._remove(self._retained.pop(sender))
                self._dropped.add(sender)
            raise DuplicateMessageError(
                f"second upload from client {sender}: it now counts as dropped", sender=sender
            )
        if message.width != public.ciphertext_bytes or message.count != config.ciphertexts:
            raise InvalidCiphertextError(
                f"upload of {message.count} x {message.width} bytes; expected "
                f"{config.ciphertexts} x {public.ciphertext_bytes}"
            )
        values = message.values()
        check_ciphertexts(values, public)
        n2 = public.n_square
        if self._product:
            self._product = [a * c % n2 for a, c in zip(self._product, values, strict=True)]
        else:
            self._product = values
        self._uploaded.add(sender)
        self._retained[sender] = message

    def _remove(self, message: CiphertextsMessage) -> None:
        if self._public is None:
            raise StageError("no public key")
        n2 = self._public.n_square
        values = message.values()
        if self._removed:
            self._removed = [a * c % n2 for a, c in zip(self._removed, values, strict=True)]
        else:
            self._removed = values

    def close_uploads(self) -> bytes:
        """End collection; return the PAILLIER_DECRYPTION_REQUEST for the key holder.

        Raises AbortError (and aborts) if no client's upload survived.
        """
        self._require(ServerStage.COLLECTING)
        public = self._public
        if public is None:
            raise StageError("no public key")
        if not self.survivors:
            self.abort()
            raise AbortError("no upload survived: nothing to decrypt")
        n2 = public.n_square
        product = self._product
        if self._removed:
            product = [
                a * gmpy2.invert(r, n2) % n2 for a, r in zip(product, self._removed, strict=True)
            ]
        header = Header(
            MessageType.PAILLIER_DECRYPTION_REQUEST,
            self._session,
            self.config.round_number,
            SERVER_ID,
            self.config.key_holder,
        )
        data = DecryptionRequest.from_values(header, product, public.ciphertext_bytes).encode()
        # Uploads were kept only to undo duplicates; the stage is closed, so drop them.
        self._retained.clear()
        self._product, self._removed = [], []
        self._advance(ServerStage.DECRYPTING)
        return data

    def receive_aggregate(self, data: bytes) -> npt.NDArray[np.unsignedinteger]:
        """Check the key holder's PAILLIER_AGGREGATE; return the survivors' sum [sum w*q, sum w]."""
        self._require(ServerStage.DECRYPTING)
        config = self.config
        message = AggregateMessage.decode(data)
        _check_header(
            message.header,
            session=self._session,
            round_number=config.round_number,
            senders=(config.key_holder,),
            recipient=SERVER_ID,
        )
        if message.length != config.length or message.slot_bits != config.quantization.k:
            raise InvalidCiphertextError("aggregate has the wrong length or slot width")
        vector = message.vector()
        self._advance(ServerStage.DONE)
        return vector

    def abort(self) -> None:
        """Abort the round: nothing is (or will be) decrypted through this server."""
        self._product, self._removed = [], []
        self._retained.clear()
        self._stage = ServerStage.ABORTED
