"""One exception tree for everything secagg raises.

Every class states the security reason for the refusal in its docstring, so that a
caller who catches :class:`SecAggError` can log *why* a message or request was refused
without logging any secret.
"""

from __future__ import annotations


class SecAggError(Exception):
    """Root of every error raised by secagg."""


# --- configuration and input -------------------------------------------------------


class ConfigurationError(SecAggError, ValueError):
    """A configuration is impossible or unsafe; raised when it is made, never later."""


class BitBudgetError(ConfigurationError):
    """The modulus leaves no room for the sum of all clients: the sum would wrap around."""


class ThresholdError(ConfigurationError):
    """The Shamir threshold does not fit the neighbourhood it protects."""


class InputError(SecAggError, ValueError):
    """An input vector has the wrong shape, dtype or range."""


class NonFiniteInputError(InputError):
    """An update holds NaN or Inf; it cannot be quantized without corrupting the sum."""


# --- primitives --------------------------------------------------------------------


class CryptoError(SecAggError):
    """A cryptographic operation failed or was given unsafe material."""


class KeyAgreementError(CryptoError):
    """A peer's X25519 public key is malformed or yields the all-zero shared secret."""


class AuthenticationError(CryptoError):
    """An AEAD ciphertext failed authentication: it was forged, altered or misdirected."""


class ShamirError(CryptoError):
    """Shares are malformed or inconsistent."""


class InsufficientSharesError(ShamirError):
    """Fewer than t distinct shares: nothing about the secret can be (or is) recovered."""


class InvalidPublicKeyError(CryptoError):
    """A received Paillier public key fails validation and must not be encrypted to."""


class InvalidCiphertextError(CryptoError):
    """A received Paillier ciphertext is outside Z*_{n^2} and would corrupt the product."""


# --- protocol ----------------------------------------------------------------------


class ProtocolError(SecAggError):
    """A protocol rule was broken."""


class StageError(ProtocolError):
    """An operation was asked for at the wrong stage (state machines are one-shot)."""


class MessageError(ProtocolError):
    """A message was refused. ``sender`` is the claimed sender id, when it could be read."""

    def __init__(self, message: str, *, sender: int | None = None) -> None:
        super().__init__(message)
        self.sender = sender


class DecodeError(MessageError):
    """Malformed or truncated bytes: wrong magic, version, type, length or field range."""


class SessionMismatchError(MessageError):
    """The message belongs to another session or round: a replay from elsewhere."""


class DuplicateMessageError(MessageError):
    """A second message from the same sender in the same stage: a replay within the round."""


class MisaddressedMessageError(MessageError):
    """The message names a recipient or sender that this party does not expect."""


class UnknownClientError(MessageError):
    """The message comes from, or names, a client outside the round or neighbourhood."""


class RefusedRequestError(ProtocolError):
    """A client refused an unmasking request that could reveal an individual input."""


class BothSharesRequestedError(RefusedRequestError):
    """Revealing both the self-mask share and the key share of one client unmasks its input."""


class SelfShareRequestedError(RefusedRequestError):
    """A client holds no share of its own secrets; a request naming it is malformed."""


class UnknownNeighbourError(RefusedRequestError):
    """The request names a client whose shares this client never received."""


class DuplicateIdError(RefusedRequestError):
    """The request names the same client twice."""


class AlreadyDroppedError(RefusedRequestError):
    """The request calls a client alive that had already dropped in an earlier stage."""


class IncompleteRequestError(RefusedRequestError):
    """The request leaves a neighbour unaccounted for; its mask could not be removed."""


class TooFewSurvivorsError(RefusedRequestError):
    """Too few neighbours survived: unmasking now could expose this client's own input."""


class AbortError(ProtocolError):
    """The round was aborted; no individual input was revealed."""
