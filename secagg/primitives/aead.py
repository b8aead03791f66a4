"""AES-256-GCM for everything the server relays between clients.

Security property: the server (or anyone) cannot read or alter a sealed share, nor move
it to another sender, recipient, round or session, because all of these are in the
associated data; a failed check raises :class:`AuthenticationError`.

A key is used for one session and one pair of clients, for at most one message in each
direction (X25519 is symmetric, so both directions share it; the associated data tells
them apart). With random 96-bit nonces that is far below the birthday bound.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from secagg.errors import AuthenticationError
from secagg.primitives.entropy import Entropy, system_entropy

NONCE_BYTES = 12
TAG_BYTES = 16
KEY_SIZES = (16, 24, 32)


def _check_key(key: bytes) -> None:
    if len(key) not in KEY_SIZES:
        raise AuthenticationError(f"AES-GCM key must be 16, 24 or 32 bytes, got {len(key)}")


def seal_with_nonce(key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """Return ``nonce || ciphertext || tag``. Exposed for known-answer tests only."""
    _check_key(key)
    if len(nonce) != NONCE_BYTES:
        raise AuthenticationError("AES-GCM nonce must be 12 bytes")
    return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)


def seal(
    key: bytes, plaintext: bytes, associated_data: bytes, entropy: Entropy = system_entropy
) -> bytes:
    """Encrypt and authenticate ``plaintext`` bound to ``associated_data``."""
    return seal_with_nonce(key, entropy(NONCE_BYTES), plaintext, associated_data)


def open_sealed(key: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """Decrypt ``nonce || ciphertext || tag``; raise AuthenticationError if anything differs."""
    _check_key(key)
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise AuthenticationError("sealed message shorter than nonce and tag")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated_data)
    except InvalidTag as exc:
        raise AuthenticationError("AEAD authentication failed") from exc
