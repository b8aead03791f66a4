"""Ed25519 identity keys: who a client is, across rounds.

Security property: a signature made with an :class:`IdentityKey` verifies under its
public key (32 bytes) and under no other, and cannot be made without the private key
(EUF-CMA, RFC 8032 through OpenSSL). Each signed message starts with a label for its
use and carries the round's session context, so a signature is never valid for another
use, round or session. Identity keys are long-lived; everything they sign is public.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from secagg.errors import ConfigurationError, SignatureError
from secagg.primitives.entropy import Entropy, system_entropy

IDENTITY_KEY_BYTES = 32
SIGNATURE_BYTES = 64


@dataclass(frozen=True)
class IdentityKey:
    """A client's Ed25519 signing key. ``private`` is its 32-byte seed (secret)."""

    private: bytes = field(repr=False)
    public: bytes
    _key: Ed25519PrivateKey = field(repr=False, compare=False)

    @classmethod
    def generate(cls, entropy: Entropy = system_entropy) -> IdentityKey:
        """A new identity from 32 bytes of ``entropy``."""
        return cls.from_private(entropy(IDENTITY_KEY_BYTES))

    @classmethod
    def from_private(cls, private: bytes) -> IdentityKey:
        """Rebuild an identity from its 32-byte seed. Raises ConfigurationError."""
        if not isinstance(private, bytes) or len(private) != IDENTITY_KEY_BYTES:
            raise ConfigurationError("an Ed25519 identity key is 32 bytes")
        key = Ed25519PrivateKey.from_private_bytes(private)
        return cls(private, key.public_key().public_bytes_raw(), key)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def __repr__(self) -> str:  # never print the private key
        return f"IdentityKey(public={self.public.hex()})"


def verify_signature(public: bytes, signature: bytes, message: bytes) -> None:
    """Check an Ed25519 signature. Raises SignatureError (also for malformed inputs)."""
    if not isinstance(public, bytes) or len(public) != IDENTITY_KEY_BYTES:
        raise SignatureError("an identity public key is 32 bytes")
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise SignatureError("an Ed25519 signature is 64 bytes")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("signature does not verify") from exc
