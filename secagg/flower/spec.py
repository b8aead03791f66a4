"""What the server tells each sampled node about the round it is in: :class:`RoundSpec`.

The spec travels in the first message of a round (beside the model), with an explicit,
versioned binary encoding::

    "SF" | version u8 | backend u8 | round u32 | client u32 | clients u32 | dim u32
    | quantization (22 bytes, :meth:`QuantizationConfig.encode`) | neighbours u32
    | threshold u32 | key bits u32 | min uploads u32

Decoding is strict (exact length, known backend, every field in range) and the
protocol configuration is rebuilt with the library's own checks, so a node refuses a
round whose parameters are unsafe (a threshold below a majority, a bit budget that
wraps) whatever the server says.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from secagg.errors import DecodeError
from secagg.masking.config import Graph, MaskingConfig
from secagg.paillier.session import PaillierConfig
from secagg.plain import PlainConfig
from secagg.quantize import QuantizationConfig
from secagg.result import Backend
from secagg.validation import require_int

MAGIC = b"SF"
VERSION = 1
_BACKENDS = (Backend.PLAIN, Backend.SECAGG, Backend.SECAGG_PLUS, Backend.PAILLIER)
_HEAD = struct.Struct(">2sBBIIII")
_TAIL = struct.Struct(">IIII")
_QUANT_BYTES = len(QuantizationConfig().encode())
SPEC_BYTES = _HEAD.size + _QUANT_BYTES + _TAIL.size

ProtocolConfig = MaskingConfig | PaillierConfig | PlainConfig


@dataclass(frozen=True)
class RoundSpec:
    """One node's view of a round: the backend, its protocol id ``client`` (1..n), the
    cohort size, the update length ``dim`` (float parameters of the model), the
    quantization, and the backend's own parameters (``neighbours``/``threshold`` for
    the masking backends, 0 for their defaults; ``key_bits`` and ``min_uploads`` for
    Paillier, whose key holder is protocol id 1). Raises ConfigurationError for
    impossible values when made."""

    backend: Backend
    round_number: int
    client: int
    num_clients: int
    dim: int
    quantization: QuantizationConfig
    neighbours: int = 0
    threshold: int = 0
    key_bits: int = 2048
    min_uploads: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "backend", Backend.parse(self.backend))
        n = require_int("num_clients", self.num_clients, 1, 2**32 - 2)
        require_int("client", self.client, 1, n)
        for name in ("round_number", "dim", "neighbours", "threshold", "key_bits", "min_uploads"):
            require_int(name, getattr(self, name), 0, 2**32 - 1)

    def config(self) -> ProtocolConfig:
        """The protocol configuration every party of the round builds from the spec.
        Raises ConfigurationError (or a subclass) for unsafe or impossible values."""
        if self.backend.masking:
            graph = Graph.COMPLETE if self.backend is Backend.SECAGG else Graph.HARARY
            return MaskingConfig.create(
                graph,
                self.num_clients,
                self.dim,
                self.quantization,
                self.neighbours or None,
                self.threshold or None,
                round_number=self.round_number,
            )
        if self.backend is Backend.PAILLIER:
            return PaillierConfig(
                self.round_number,
                self.dim,
                self.quantization,
                tuple(range(1, self.num_clients + 1)),
                key_holder=1,
                key_bits=self.key_bits,
                min_uploads=self.min_uploads or None,
            )
        return PlainConfig(self.num_clients, self.dim, self.quantization, self.round_number)

    def encode(self) -> bytes:
        head = _HEAD.pack(
            MAGIC,
            VERSION,
            _BACKENDS.index(self.backend),
            self.round_number,
            self.client,
            self.num_clients,
            self.dim,
        )
        tail = _TAIL.pack(self.neighbours, self.threshold, self.key_bits, self.min_uploads)
        return head + self.quantization.encode() + tail

    @classmethod
    def decode(cls, data: bytes) -> RoundSpec:
        """Raises DecodeError for bytes that are not a spec of this version, and
        ConfigurationError for fields no spec may hold."""
        if not isinstance(data, bytes) or len(data) != SPEC_BYTES:
            raise DecodeError(f"a round spec is {SPEC_BYTES} bytes")
        magic, version, backend, rnd, client, clients, dim = _HEAD.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError("not a secagg round spec")
        if version != VERSION:
            raise DecodeError(f"round spec version {version}, expected {VERSION}")
        if backend >= len(_BACKENDS):
            raise DecodeError(f"unknown backend code {backend}")
        quant = QuantizationConfig.decode(data[_HEAD.size : _HEAD.size + _QUANT_BYTES])
        neighbours, threshold, key_bits, min_uploads = _TAIL.unpack_from(
            data, _HEAD.size + _QUANT_BYTES
        )
        return cls(
            _BACKENDS[backend],
            rnd,
            client,
            clients,
            dim,
            quant,
            neighbours,
            threshold,
            key_bits,
            min_uploads,
        )
