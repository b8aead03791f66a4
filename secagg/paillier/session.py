"""The Paillier round configuration and the session id that binds it.

Security property: the session id is SHA-256 over a domain label, the round number,
every configuration field and the public key, so a message from another round, another
configuration or under another key fails the session check
(:class:`~secagg.errors.SessionMismatchError`) instead of being summed.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from secagg.codec import MAX_ID, SERVER_ID, check_ids
from secagg.errors import ConfigurationError, DecodeError
from secagg.masking.config import default_max_corrupt, minimum_sum_size
from secagg.paillier.djn import ExponentMode
from secagg.paillier.keys import PRODUCTION_KEY_BITS, PublicKey
from secagg.paillier.packing import PackingConfig
from secagg.protocol.identity import NO_MODEL, Security
from secagg.quantize import QuantizationConfig
from secagg.validation import require_int
from secagg.weighting import WEIGHT_SLOTS, protected_length

SESSION_LABEL = b"secagg/v3/paillier-session\x00"


@dataclass(frozen=True)
class PaillierConfig:
    """What every party of one Paillier round agrees on before it starts.

    Parameters
    ----------
    round_number: u32 round counter, bound into the session id.
    dim: coordinates of one update (the protected vector has ``dim + 1`` elements).
    quantization: clip, bits and the n_max / w_max budget; its k is the slot width.
    clients: the ids (nonzero, increasing) of the clients invited to the round, at
        least 3.
    key_holder: the client that generates the key pair and decrypts the aggregate.
    key_bits: |n|, 2048 (default) or 3072.
    exponent: DJN exponent length (see :class:`~secagg.paillier.djn.ExponentMode`).
    min_uploads: the fewest uploads an aggregate may hold to be decrypted; None picks
        the masking protocols' guarantee for this cohort size
        (:func:`~secagg.masking.config.minimum_sum_size`, at least 3, so that even the key
        holder, who knows its own input, sees a sum of at least two others). A smaller
        value is refused: one client's update must never be decrypted on its own.
    security: HONEST (default) or MALICIOUS: the key holder signs its key, clients sign
        their uploads, and the key holder decrypts only a product it recomputed from at
        least ``min_uploads`` signed uploads.
    roster_digest: MALICIOUS only: the digest of the roster every party holds.
    max_corrupt: MALICIOUS only: how many clients may collude with the server (default
        n // 20). Colluders can sign encryptions of zero, so ``min_uploads`` must exceed
        the honest floor by ``max_corrupt``: an aggregate then always holds the floor's
        number of honest uploads.
    allowed_key_bits: key sizes accepted; only tests pass anything but (2048, 3072).

    Raises ConfigurationError for inconsistent or unencodable fields and BitBudgetError
    when no slot fits below n or more clients are invited than the budget's n_max.
    """

    round_number: int
    dim: int
    quantization: QuantizationConfig
    clients: tuple[int, ...]
    key_holder: int = 1
    key_bits: int = 2048
    exponent: ExponentMode = ExponentMode.HALF
    min_uploads: int | None = None
    security: Security = Security.HONEST
    roster_digest: bytes = b""
    max_corrupt: int | None = None
    allowed_key_bits: tuple[int, ...] = field(default=PRODUCTION_KEY_BITS, compare=False)

    def __post_init__(self) -> None:
        require_int("round_number", self.round_number, 0, MAX_ID)
        require_int("dim", self.dim, 1, MAX_ID - WEIGHT_SLOTS)
        if not isinstance(self.quantization, QuantizationConfig):
            raise ConfigurationError("quantization must be a QuantizationConfig")
        if not isinstance(self.clients, tuple):
            raise ConfigurationError("clients must be a tuple of client ids")
        for cid in self.clients:
            require_int("client id", cid, 1, MAX_ID)
        if len(self.clients) < 3:
            # The key holder sees the decrypted sum and knows its own input: with two
            # clients it would learn the other's exactly (masking needs 3 as well).
            raise ConfigurationError(
                "a Paillier round needs at least 3 clients: with fewer, a sum reveals an input"
            )
        try:
            check_ids(self.clients)
        except DecodeError as exc:
            raise ConfigurationError(str(exc)) from exc
        # At least 3, so that even the key holder, who knows its own input, learns only
        # a sum of two or more others.
        if not isinstance(self.security, Security):
            raise ConfigurationError(f"security must be a Security, got {self.security!r}")
        if self.security is Security.MALICIOUS:
            if self.max_corrupt is None:
                object.__setattr__(self, "max_corrupt", default_max_corrupt(len(self.clients)))
            require_int("max_corrupt", self.max_corrupt, 0, len(self.clients) - 1)
        elif self.max_corrupt not in (None, 0):
            raise ConfigurationError("max_corrupt applies to the malicious mode")
        else:
            object.__setattr__(self, "max_corrupt", 0)
        floor = max(3, minimum_sum_size(len(self.clients))) + self.colluding
        if self.min_uploads is None:
            object.__setattr__(self, "min_uploads", floor)
        elif require_int("min_uploads", self.min_uploads, 3, len(self.clients)) < floor:
            raise ConfigurationError(
                f"min_uploads {self.min_uploads} is below {floor}: the fewest inputs a "
                f"masking round of {len(self.clients)} clients ever reveals a sum of"
                + (f", plus {self.colluding} colluding clients" if self.colluding else "")
            )
        if self.minimum > len(self.clients):
            raise ConfigurationError(
                f"{len(self.clients)} clients cannot reach min_uploads {self.minimum}"
            )
        if not isinstance(self.exponent, ExponentMode):
            raise ConfigurationError(f"exponent must be an ExponentMode, got {self.exponent!r}")
        require_int("key_holder", self.key_holder, 0, MAX_ID)
        require_int("key_bits", self.key_bits, 1, 1 << 16)
        self.quantization.check_cohort(len(self.clients))
        if self.malicious != (
            isinstance(self.roster_digest, bytes) and len(self.roster_digest) == 32
        ):
            raise ConfigurationError(
                "the malicious mode needs the roster's 32-byte digest (and only it takes one)"
            )
        if self.key_holder == SERVER_ID or self.key_holder not in self.clients:
            raise ConfigurationError("the key holder must be one of the round's clients")
        if self.key_bits not in self.allowed_key_bits or self.key_bits % 16:
            raise ConfigurationError(f"key size {self.key_bits} not in {self.allowed_key_bits}")
        self.packing  # noqa: B018 - raises BitBudgetError now rather than later

    @property
    def malicious(self) -> bool:
        return self.security is Security.MALICIOUS

    @property
    def colluding(self) -> int:
        """Clients that may collude with the server (0 in the honest mode)."""
        return self.max_corrupt or 0

    @property
    def minimum(self) -> int:
        """The fewest uploads an aggregate must hold to be decrypted."""
        if self.min_uploads is None:  # unreachable: __post_init__ sets it
            raise ConfigurationError("min_uploads unset")
        return self.min_uploads

    @property
    def packing(self) -> PackingConfig:
        return PackingConfig.for_budget(self.quantization, self.key_bits)

    @property
    def length(self) -> int:
        """Elements of the protected vector [w*q, w]."""
        return protected_length(self.dim)

    @property
    def ciphertexts(self) -> int:
        """Ciphertexts per upload."""
        return self.packing.plaintexts(self.length)

    def encode(self) -> bytes:
        """Canonical bytes of every field (for the session id)."""
        parts = [
            struct.pack(
                ">IIIIBI",
                self.round_number,
                self.dim,
                self.key_holder,
                self.key_bits,
                int(self.exponent),
                self.minimum,
            ),
            self.quantization.encode(),
            struct.pack(">BI", list(Security).index(self.security), self.colluding),
            self.roster_digest,
            struct.pack(">I", len(self.clients)),
            b"".join(struct.pack(">I", c) for c in self.clients),
        ]
        return b"".join(parts)


def config_digest(config: PaillierConfig) -> bytes:
    """SHA-256 of the configuration alone (binds saved client states to it)."""
    return hashlib.sha256(b"secagg/v3/paillier-config" + config.encode()).digest()


def session_id(config: PaillierConfig, public: PublicKey, model_digest: bytes = NO_MODEL) -> bytes:
    """SHA-256(label || config || model || n): the 32-byte id every message of the round
    carries. The model digest (malicious mode) is the one the computing party received,
    so parties holding different models are in different sessions."""
    n_bytes = public.to_bytes()
    digest = hashlib.sha256(SESSION_LABEL)
    digest.update(config.encode())
    digest.update(model_digest)
    digest.update(struct.pack(">I", len(n_bytes)) + n_bytes)
    return digest.digest()
