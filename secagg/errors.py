"""One exception tree for everything secagg raises.

Every class states the security reason for the refusal in its docstring, so that a
caller who catches :class:`SecAggError` can log *why* a message or request was refused
without logging any secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable

#: How the protocol layer names a client in a message (by its protocol id).
PROTOCOL_CLIENT = re.compile(r"\bclient (\d+)\b")
#: How run_round and the aggregators name a client (by its position in the updates).
POSITION_CLIENT = re.compile(r"\bclient at position (\d+)\b")


class SecAggError(Exception):
    """Root of every error raised by secagg."""


def renumber(exc: BaseException, pattern: re.Pattern[str], name: Callable[[int], str]) -> None:
    """Rewrite, in place, each client ``pattern`` matches in ``exc``'s message as
    ``name(number)``: each layer reports clients in its caller's numbering (protocol
    ids, then positions in the updates given, then e.g. a FedAvg job's client ids)."""
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (pattern.sub(lambda m: name(int(m.group(1))), exc.args[0]), *exc.args[1:])


# --- configuration and input -------------------------------------------------------


class ConfigurationError(SecAggError, ValueError):
    """A configuration is impossible or unsafe; raised when it is made, never later."""


class BitBudgetError(ConfigurationError):
    """The modulus leaves no room for the sum of all clients: the sum would wrap around."""


class ThresholdError(ConfigurationError):
    """The Shamir threshold does not fit the neighbourhood it protects."""


class InputError(SecAggError, ValueError):
    """An input vector has the wrong shape, dtype or range."""


class EncodeError(InputError):
    """A message or state field cannot be encoded (wrong length, out of range): a caller
    mistake, never evidence of a forged message (that is :class:`DecodeError`)."""


class NonFiniteInputError(InputError):
    """An update holds NaN or Inf; it cannot be quantized without corrupting the sum."""


class WeightError(InputError):
    """A weight is not an integer in 1..w_max: a fractional, boolean, NaN or oversized
    weight would silently change (or overflow) the weighted sum."""


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


class CorruptSharesError(ShamirError):
    """Some shares are wrong and too few are right to find out which: nothing is
    reconstructed, because a wrong secret would silently corrupt the sum.

    ``bad`` holds the share points found inconsistent, when they could be identified.
    """

    def __init__(self, message: str, *, bad: frozenset[int] = frozenset()) -> None:
        super().__init__(message)
        self.bad = bad


class WeakKeyError(KeyAgreementError):
    """An X25519 public key is low-order, all-zero or a copy of another key in the round:
    a mask or share key derived from it would be known to others."""


class SignatureError(CryptoError):
    """A signature does not verify under the signer's identity key in the roster: the
    message was forged, altered, replayed from another round or session, or the roster
    entry is wrong."""


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


class UnexpectedMessageError(MessageError):
    """A well-formed message of another stage or protocol: late, early or replayed. It is
    refused and changes nothing, so a stale copy cannot get its sender dropped."""


class SessionMismatchError(MessageError):
    """The message belongs to another session or round: a replay from elsewhere."""


class DuplicateMessageError(MessageError):
    """A second message from the same sender in the same stage: a replay within the round."""


class ReplayedMessageError(DuplicateMessageError):
    """An exact copy of a message already accepted: refused, and it changes nothing (the
    sender stays in the round: a copy is no evidence against it)."""


class MisaddressedMessageError(MessageError):
    """The message names a recipient or sender that this party does not expect."""


class ModelMismatchError(MessageError):
    """Two clients of one round received different models: a server that sends a
    different model to one client could isolate that client's update (Pasquini et al.,
    CCS 2022), so clients with different models never complete a round together."""


class KeyDigestError(MessageError):
    """A key list whose key digest does not commit to the keys it shows, to this
    client's own, or to a ring neighbour's absence: the session it implies would not be
    this execution's, or not the one the other clients derive."""


class SenderMismatchError(MisaddressedMessageError):
    """The header names another sender than the one the transport authenticated: a
    client must never be able to speak (or get banned) in another client's name."""


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


class ConsistencyCheckError(RefusedRequestError):
    """Fewer than t of this client's neighbours signed the survivor set it was told (or
    the request does not follow that set): the server may be telling clients different
    survivor lists to collect shares that unmask one input, so nothing is revealed."""


class TooFewContributorsError(RefusedRequestError):
    """An aggregate covers fewer clients than the configured minimum: decrypting or
    unmasking it would come too close to revealing one client's input."""


class AbortError(ProtocolError):
    """The round was aborted; no individual input was revealed."""


class UnrecoverableSecretError(AbortError):
    """A secret the unmasking needs could not be reconstructed correctly (too few
    shares, or corrupt shares that the redundancy cannot correct): the round aborts
    rather than return a silently wrong sum."""


# --- saved party state -------------------------------------------------------------


class StateError(SecAggError):
    """A saved party state cannot be restored. Saved states hold secrets."""


class StateVersionError(StateError):
    """The saved state was written by another, incompatible format version."""


class StateIntegrityError(StateError):
    """The saved state is truncated, altered or sealed under another storage key."""


class StateMismatchError(StateError):
    """The saved state belongs to another configuration, round, client or party kind."""


class StateRollbackError(StateError):
    """The saved state was already restored once (or a later one was): restoring it
    again could let the same client answer two different requests of one stage."""


# --- warnings ----------------------------------------------------------------------


class InsecureEntropyWarning(UserWarning):
    """Protocol randomness is derived from a seed: runs are reproducible and every key,
    mask and share is predictable to anyone who knows the seed. For experiments only."""
