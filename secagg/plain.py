"""Plain summation with the same party interface as the secure protocols: **no privacy**.

Each client sends its protected vector in the clear (column-packed at k bits per
element, like a masked input); the server adds them mod 2^k. It exists as the
reference the secure backends are compared with, in the conformance tests and over
real transports: the same quantization, the same messages framing, the same stages
and dropouts, and a sum that must be identical. The server sees every input.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass, field
from typing import ClassVar, NoReturn

import numpy as np
import numpy.typing as npt

from secagg import columnpack, weighting
from secagg.codec import MAX_ID, SERVER_ID, FieldWriter, Header, MessageType, Reader, Writer
from secagg.errors import (
    AbortError,
    ConfigurationError,
    DecodeError,
    DuplicateMessageError,
    EncodeError,
    InputError,
    ReplayedMessageError,
    SenderMismatchError,
    StageError,
    UnexpectedMessageError,
)
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.prg import mask_dtype
from secagg.protocol.bans import Bans, check_sender, screen
from secagg.protocol.machine import Machine, transitions
from secagg.protocol.party import Outcome, Waiting
from secagg.protocol.state import (
    PartyKind,
    RestoreGuard,
    StateHeader,
    body_error,
    decode_state,
    encode_state,
    new_lineage,
)
from secagg.quantize import QuantizationConfig
from secagg.validation import require_int
from secagg.weighting import WEIGHT_SLOTS

Vector = npt.NDArray[np.unsignedinteger]


@dataclass(frozen=True)
class PlainConfig:
    """One plain round: clients 1..``num_clients``, updates of ``dim`` coordinates, the
    quantization budget (n <= max_clients), the round number, and the fewest inputs
    (``min_survivors``, default 1) the server accepts to release a sum.

    Raises ConfigurationError / BitBudgetError when made.
    """

    num_clients: int
    dim: int
    quantization: QuantizationConfig
    round_number: int = 0
    min_survivors: int = 1

    def __post_init__(self) -> None:
        n = require_int("num_clients", self.num_clients, 1, MAX_ID - 1)
        require_int("dim", self.dim, 1, MAX_ID - WEIGHT_SLOTS)
        require_int("round_number", self.round_number, 0, MAX_ID)
        require_int("min_survivors", self.min_survivors, 1, n)
        if not isinstance(self.quantization, QuantizationConfig):
            raise ConfigurationError("quantization must be a QuantizationConfig")
        self.quantization.check_cohort(n)

    @property
    def length(self) -> int:
        return self.dim + WEIGHT_SLOTS

    @property
    def modulus_bits(self) -> int:
        return self.quantization.k

    def digest(self) -> bytes:
        fields = struct.pack(
            ">IIII", self.num_clients, self.dim, self.round_number, self.min_survivors
        )
        label = b"secagg/v3/plain-config"
        return hashlib.sha256(label + fields + self.quantization.encode()).digest()

    @property
    def session_id(self) -> bytes:
        """Binds the messages of the round (there are no keys to bind)."""
        return hashlib.sha256(b"secagg/v3/plain-session" + self.digest()).digest()


@dataclass(frozen=True, eq=False)
class PlainInput:
    """Client -> server: the protected vector in the clear, column-packed at k bits."""

    TYPE: ClassVar[MessageType] = MessageType.PLAIN_INPUT
    session_id: bytes
    round: int
    sender: int
    bits: int
    length: int
    payload: bytes | memoryview

    def encode(self) -> bytes:
        if len(self.payload) != columnpack.packed_size(self.length, self.bits):
            raise EncodeError("payload does not match the vector's length and bits")
        w = Writer(Header(self.TYPE, self.session_id, self.round, self.sender, SERVER_ID))
        return w.u8(self.bits).u32(self.length).fixed(self.payload).getvalue()

    @classmethod
    def decode(cls, data: bytes, config: PlainConfig) -> PlainInput:
        r = Reader(data, cls.TYPE)
        h = r.header
        if h.recipient != SERVER_ID:
            raise DecodeError("a plain input goes to the server", sender=h.sender)
        bits, length = r.u8(), r.u32()
        if (bits, length) != (config.modulus_bits, config.length):
            raise DecodeError(
                f"input of {length} x {bits} bits, expected {config.length} x "
                f"{config.modulus_bits}",
                sender=h.sender,
            )
        payload = r.view(columnpack.packed_size(length, bits))
        r.done()
        try:
            columnpack.check(payload, length, bits)
        except DecodeError as exc:
            raise DecodeError(str(exc), sender=h.sender) from exc
        return cls(h.session_id, h.round, h.sender, bits, length, payload)


def check_protected(config: PlainConfig, protected: npt.ArrayLike) -> Vector:
    """The protected vector checked against the round's length and budget
    (:func:`secagg.weighting.check_protected`). Raises InputError."""
    return weighting.check_protected(protected, config.length, config.quantization)


class ClientStage(enum.Enum):
    NEW = "new"
    SENT = "sent"
    ABORTED = "aborted"


_CLIENT_ORDER = list(ClientStage)


@dataclass(frozen=True, eq=False)
class _Input:
    protected: npt.NDArray[np.unsignedinteger] | None  # None until provide_input


class PlainClient(Machine[ClientStage]):
    """Sends its protected vector in the clear, once (see the module's warning)."""

    _TRANSITIONS: ClassVar = transitions(_CLIENT_ORDER[:2], ClientStage.ABORTED)
    _ABORTED: ClassVar = ClientStage.ABORTED

    def __init__(
        self,
        config: PlainConfig,
        client_id: int,
        protected: npt.ArrayLike | None,
        *,
        entropy: Entropy = system_entropy,
        guard: RestoreGuard | None = None,
    ) -> None:
        if not isinstance(config, PlainConfig):
            raise ConfigurationError("config must be a PlainConfig")
        self.config = config
        self._id = require_int("client id", client_id, 1, config.num_clients, InputError)
        vector = None if protected is None else check_protected(config, protected)
        super().__init__(ClientStage.NEW, _Input(vector))
        self._entropy = entropy
        self._lineage = new_lineage(entropy)
        self._bind(self._lineage, guard)

    @property
    def id(self) -> int:
        return self._id

    @property
    def needs_input(self) -> bool:
        """True while the client was made without its vector and has not been given it."""
        return self.stage is ClientStage.NEW and self._record(_Input).protected is None

    def provide_input(self, protected: npt.ArrayLike) -> None:
        """Give a client made with ``protected=None`` its vector. Raises StageError if it
        has one already or has sent it, InputError for a bad vector."""
        if not self.needs_input:
            raise StageError("this client already has its input, or has sent it")
        self._update(_Input(check_protected(self.config, protected)))

    def input_due(self, data: bytes | None) -> bool:
        """True when the step answering ``data`` (None: :meth:`start`) needs the input
        this client does not have yet: a transport that makes inputs on demand gives
        it then, and holds no client's vector any earlier."""
        return data is None and self.needs_input

    def start(self) -> bytes:
        """The client's input, in the clear. Raises StageError (without aborting) before
        :meth:`provide_input` when made without one."""
        if self.needs_input:
            raise StageError("provide_input must come before start")
        with self._refusing():
            self._require(ClientStage.NEW)
            vector = self._record(_Input).protected
            if vector is None:  # unreachable: needs_input covers it
                raise StageError("no input")
            k = self.config.modulus_bits
            message = PlainInput(
                self.config.session_id,
                self.config.round_number,
                self.id,
                k,
                self.config.length,
                columnpack.pack(vector, k),
            )
            self._advance(ClientStage.SENT)
            return message.encode()

    def handle(self, data: bytes) -> bytes:
        """A plain client takes no message: anything refused (and aborts)."""
        with self._refusing():
            raise UnexpectedMessageError("a plain client takes no messages")

    def save(self, *, key: bytes | None = None) -> bytes:
        """The client's state (its input, until sent) as bytes."""
        header = StateHeader(
            PartyKind.PLAIN_CLIENT,
            self.config.digest(),
            self.id,
            self._lineage,
            self.progress,
        )
        w = FieldWriter().u8(self.progress)
        if self.stage is ClientStage.NEW:
            vector = self._record(_Input).protected
            w.u8(vector is not None)
            if vector is not None:
                w.var(vector.astype(vector.dtype.newbyteorder("<"), copy=False).tobytes())
        return encode_state(header, w.getvalue(), key=key)

    @classmethod
    def restore(
        cls,
        data: bytes,
        config: PlainConfig,
        *,
        client_id: int | None = None,
        key: bytes | None = None,
        guard: RestoreGuard | None = None,
        entropy: Entropy = system_entropy,
    ) -> PlainClient:
        """Rebuild a client from :meth:`save`'s bytes. Raises the StateError family."""
        header, body = decode_state(
            data,
            kind=PartyKind.PLAIN_CLIENT,
            config_digest=config.digest(),
            client=client_id,
            key=key,
        )
        try:
            stage = _CLIENT_ORDER[require_int("stage", body.u8(), 0, 2, DecodeError)]
            if _CLIENT_ORDER.index(stage) != header.step:
                raise DecodeError("stage and step disagree")
            record: object = None
            if stage is ClientStage.NEW:
                vector = None
                if require_int("input flag", body.u8(), 0, 1, DecodeError):
                    dtype = np.dtype(mask_dtype(config.modulus_bits))
                    raw = body.var(config.length * dtype.itemsize)
                    vector = check_protected(
                        config, np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype)
                    )
                record = _Input(vector)
            body.done()
            client_id = require_int("client", header.client, 1, config.num_clients, DecodeError)
        except (DecodeError, InputError) as exc:
            raise body_error(DecodeError(str(exc))) from exc
        client = cls.__new__(cls)
        Machine.__init__(client, stage, record)
        client.config = config
        client._id = client_id
        client._entropy = entropy
        client._lineage = header.lineage
        client._bind(header.lineage, guard)
        return client


class ServerStage(enum.Enum):
    COLLECTING = "collecting"
    DONE = "done"
    ABORTED = "aborted"


@dataclass(eq=False)
class _Collecting:
    sum: columnpack.PackedSum
    received: dict[int, bytes] = field(default_factory=dict)  # sender -> its message


class PlainServer(Machine[ServerStage]):
    """Adds the clients' clear inputs mod 2^k (see the module's warning)."""

    _TRANSITIONS: ClassVar = transitions(list(ServerStage)[:2], ServerStage.ABORTED)
    _ABORTED: ClassVar = ServerStage.ABORTED

    def __init__(self, config: PlainConfig) -> None:
        if not isinstance(config, PlainConfig):
            raise ConfigurationError("config must be a PlainConfig")
        super().__init__(
            ServerStage.COLLECTING,
            _Collecting(columnpack.PackedSum(config.length, config.modulus_bits)),
        )
        self.config = config
        self._bans = Bans()

    @property
    def dropped(self) -> dict[int, str]:
        """Clients dropped for a refused message, with the reason."""
        return dict(self._bans.reasons)

    @property
    def finished(self) -> bool:
        return self.stage is not ServerStage.COLLECTING

    @property
    def result(self) -> Outcome:
        self._require(ServerStage.DONE)
        return self._record(Outcome)

    def receive(self, sender: int, data: bytes) -> None:
        """Check and add one client's input. Raises the MessageError family (nothing
        accepted changes; the refusals of :mod:`secagg.protocol.bans` drop the sender)
        or StageError."""
        self._require(ServerStage.COLLECTING)
        collecting = self._record(_Collecting)
        check_sender(sender, range(1, self.config.num_clients + 1))
        self._bans.check(sender)
        with self._bans.judging(sender):
            config = self.config
            screen(
                data, PlainInput.TYPE, session=config.session_id, round_number=config.round_number
            )
            message = PlainInput.decode(data, config)
            if message.sender != sender:
                raise SenderMismatchError(f"message names client {message.sender}", sender=sender)
            if sender in collecting.received:
                if collecting.received[sender] == bytes(data):
                    raise ReplayedMessageError(f"copy of client {sender}'s input", sender=sender)
                raise DuplicateMessageError(f"second input from client {sender}", sender=sender)
        collecting.sum.add(message.payload)
        collecting.received[sender] = bytes(data)

    def waiting(self) -> Waiting:
        if self.stage is not ServerStage.COLLECTING:
            return Waiting(self.stage.value, frozenset(), frozenset(), 0, False)
        received = frozenset(self._record(_Collecting).received)
        pending = (
            frozenset(range(1, self.config.num_clients + 1)) - received - set(self._bans.reasons)
        )
        needed = max(0, self.config.min_survivors - len(received))
        return Waiting(self.stage.value, pending, received, needed, needed == 0)

    def close(self) -> dict[int, bytes]:
        """Finish: the sum of the inputs received. Raises AbortError below min_survivors."""
        self._require(ServerStage.COLLECTING)
        collecting = self._record(_Collecting)
        survivors = tuple(sorted(collecting.received))
        if len(survivors) < self.config.min_survivors:
            self._fail(
                f"{len(survivors)} inputs arrived; the round needs {self.config.min_survivors}"
            )
        dropped = tuple(c for c in range(1, self.config.num_clients + 1) if c not in survivors)
        self._advance(ServerStage.DONE, Outcome(collecting.sum.vector(), survivors, dropped))
        return {}

    def _fail(self, reason: str) -> NoReturn:
        self.abort()
        raise AbortError(reason)


__all__ = ["ClientStage", "PlainClient", "PlainConfig", "PlainInput", "PlainServer", "ServerStage"]
