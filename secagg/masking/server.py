"""The server's side of the masking protocol, one collect/close pair per round, in order.

No I/O: :meth:`MaskingServer.receive` takes one client message (typed or encoded) and
each ``close_*`` method ends a round, returning the messages to send. A refused
message raises a :class:`MessageError` and its sender counts as dropped from then on;
a message accepted earlier from that sender in the same round is discarded with it,
except a masked input, which is already in the running sum: its sender then counts as
vanished after upload. A second, *different* masked input under an id already in the
sum aborts the round (one of the two is forged and the sum could be wrong). Nothing is
ever counted twice. The server never holds both secrets of one client: it requests b_u
shares only for clients whose masked input it has, and s_u^SK shares only for clients
whose input it does not.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from secagg import columnpack
from secagg.errors import (
    AbortError,
    DecodeError,
    DuplicateMessageError,
    InsufficientSharesError,
    MessageError,
    MisaddressedMessageError,
    SessionMismatchError,
    ShamirError,
    StageError,
    UnknownClientError,
)
from secagg.masking import masks
from secagg.masking.config import MaskingConfig, announce_id, session_id
from secagg.masking.graph import all_neighbourhoods
from secagg.masking.messages import (
    AdvertiseKeys,
    ClientMessage,
    ForwardedShares,
    KeyBroadcast,
    MaskedInput,
    ShareKeys,
    UnmaskingRequest,
    UnmaskingResponse,
)
from secagg.primitives.entropy import system_entropy
from secagg.primitives.keyagreement import KeyPair
from secagg.primitives.shamir import Share, reconstruct


class ServerStage(enum.Enum):
    COLLECTING_KEYS = "collecting keys"
    COLLECTING_SHARES = "collecting shares"
    COLLECTING_INPUTS = "collecting masked inputs"
    COLLECTING_UNMASKING = "collecting unmasking shares"
    DONE = "done"
    ABORTED = "aborted"


_EXPECTED: dict[ServerStage, type[ClientMessage]] = {
    ServerStage.COLLECTING_KEYS: AdvertiseKeys,
    ServerStage.COLLECTING_SHARES: ShareKeys,
    ServerStage.COLLECTING_INPUTS: MaskedInput,
    ServerStage.COLLECTING_UNMASKING: UnmaskingResponse,
}


@dataclass(frozen=True, eq=False)
class MaskingOutcome:
    """The sum over ``survivors`` of their inputs, in Z_{2^k}."""

    aggregate: npt.NDArray[np.unsignedinteger]
    survivors: tuple[int, ...]
    dropped: tuple[int, ...]


class MaskingServer:
    """The aggregation server for one round. It learns only the survivors' sum."""

    def __init__(self, config: MaskingConfig, *, round_number: int = 0) -> None:
        self.config = config
        self.round = round_number
        self.stage = ServerStage.COLLECTING_KEYS
        self._announce = announce_id(config, round_number)
        self._session = b""
        self._banned: set[int] = set()  # senders of refused messages: dropped for good
        self._keys: dict[int, tuple[bytes, bytes]] = {}
        self._graph: dict[int, frozenset[int]] = {}
        self._shares: dict[int, ShareKeys] = {}
        # U3 and the running sum of their masked inputs: each is added as it arrives, so
        # the server holds one vector, not one per client.
        self._uploaded: dict[int, bytes] = {}  # sender -> fingerprint of its payload
        self._sum = columnpack.PackedSum(config.dim, config.modulus_bits)
        self._fingerprint_mac = AESGCM(system_entropy(16))
        self._fingerprint_nonce = system_entropy(12)
        self._responses: dict[int, UnmaskingResponse] = {}
        self._requests: dict[int, UnmaskingRequest] = {}

    @property
    def session_id(self) -> bytes:
        """The session id, known once the keys are closed."""
        return self._session

    def neighbours_of(self, client: int) -> frozenset[int]:
        """The client's neighbourhood (empty before the keys are closed)."""
        return self._graph.get(client, frozenset())

    # -- receiving ----------------------------------------------------------------

    def receive_bytes(self, data: bytes) -> None:
        """Decode a message of the type the current round expects, then :meth:`receive`."""
        expected = self._expected_type()
        try:
            message = expected.decode(data, self.config)
        except MessageError as exc:
            self._drop(exc.sender)
            raise
        self.receive(message)

    def receive(self, message: ClientMessage) -> None:
        """Check one client message and keep it. Raises a MessageError subclass on refusal."""
        expected = self._expected_type()
        sender = message.sender
        if not isinstance(message, expected):
            self._drop(sender)
            raise DecodeError(f"expected {expected.__name__}", sender=sender)
        try:
            self._check(message)
        except MessageError:
            self._drop(sender)
            raise
        self._store(message)

    def _expected_type(self) -> type[ClientMessage]:
        if self.stage not in _EXPECTED:
            raise StageError(f"server is {self.stage.value}: no message expected")
        return _EXPECTED[self.stage]

    def _drop(self, sender: int | None) -> None:
        if sender is None or not 1 <= sender <= self.config.num_clients:
            return
        self._banned.add(sender)
        # Only this round's message goes: earlier ones (its keys, its shares) are what
        # the others already used and what recovers its masks. An accepted masked input
        # is already in the sum and stays there: the sender then counts as vanished after
        # upload (no unmasking request; its b_u is recovered from the others' shares).
        if self.stage in _EXPECTED and self.stage is not ServerStage.COLLECTING_INPUTS:
            self._received().pop(sender, None)

    def _check(self, m: ClientMessage) -> None:
        s = m.sender
        expected_session = self._announce if isinstance(m, AdvertiseKeys) else self._session
        if m.round != self.round or m.session_id != expected_session:
            raise SessionMismatchError("message from another session or round", sender=s)
        if isinstance(m, MaskedInput) and s in self._uploaded:
            # Before the ban check: a forged first upload followed by the genuine one
            # must abort even if a replay of the forgery already banned the sender.
            if self._fingerprint(m.payload) != self._uploaded[s]:
                raise self._abort(
                    f"two different masked inputs from client {s}: one is forged, and "
                    "the one already in the sum cannot be taken out"
                )
            raise DuplicateMessageError(f"masked input from client {s} replayed", sender=s)
        if s in self._banned:
            raise UnknownClientError(f"client {s} already dropped", sender=s)
        if s in self._received():
            raise DuplicateMessageError(f"second message from client {s} this round", sender=s)
        if isinstance(m, ShareKeys):
            self._check_share_keys(m)
        elif isinstance(m, MaskedInput):
            if s not in self._shares:
                raise UnknownClientError(f"client {s} sent no shares", sender=s)
            # decode() checked these already; a message built in process was not decoded.
            if m.bits != self.config.modulus_bits or m.dim != self.config.dim:
                raise DecodeError("masked vector of the wrong shape", sender=s)
            try:
                columnpack.check(m.payload, m.dim, m.bits)
            except DecodeError as exc:
                raise DecodeError(str(exc), sender=s) from exc
        elif isinstance(m, UnmaskingResponse):
            self._check_response(m)

    def _received(self) -> dict[int, Any]:
        """Senders whose message of the current round was accepted, with what was kept."""
        received: dict[ServerStage, dict[int, Any]] = {
            ServerStage.COLLECTING_KEYS: self._keys,
            ServerStage.COLLECTING_SHARES: self._shares,
            ServerStage.COLLECTING_INPUTS: self._uploaded,
            ServerStage.COLLECTING_UNMASKING: self._responses,
        }
        return received[self.stage]

    def _check_share_keys(self, m: ShareKeys) -> None:
        if m.sender not in self._graph:
            raise UnknownClientError(f"client {m.sender} advertised no keys", sender=m.sender)
        recipients = {cid for cid, _ in m.sealed}
        if recipients != self._graph[m.sender]:
            raise MisaddressedMessageError(
                "shares must go to exactly the sender's neighbours", sender=m.sender
            )

    def _check_response(self, m: UnmaskingResponse) -> None:
        request = self._requests.get(m.sender)
        if request is None:
            raise UnknownClientError(f"client {m.sender} was not asked to unmask", sender=m.sender)
        if (
            tuple(c for c, _ in m.self_mask_shares) != request.survivors
            or tuple(c for c, _ in m.key_shares) != request.dropped
        ):
            raise MisaddressedMessageError("response does not answer the request", sender=m.sender)

    def _store(self, m: ClientMessage) -> None:
        if isinstance(m, AdvertiseKeys):
            self._keys[m.sender] = (m.encryption_key, m.masking_key)
        elif isinstance(m, ShareKeys):
            self._shares[m.sender] = m
        elif isinstance(m, MaskedInput):
            self._sum.add(m.payload)
            self._uploaded[m.sender] = self._fingerprint(m.payload)
        else:
            self._responses[m.sender] = m

    def _fingerprint(self, payload: bytes | memoryview) -> bytes:
        """GMAC (AES-GCM with no plaintext) under a key and nonce only this server knows,
        used as an almost-universal hash: two different payloads of at most L 16-byte
        blocks, chosen without seeing the key, get the same tag with probability at most
        (L + 1) / 2^128 (about 2^-110 at 3 MB). The nonce repeats, which is safe here
        because the tags never leave the server (no one can solve for the hash key)."""
        return self._fingerprint_mac.encrypt(self._fingerprint_nonce, b"", payload)

    def _abort(self, reason: str) -> AbortError:
        self.stage = ServerStage.ABORTED
        return AbortError(reason)

    # -- round 0: AdvertiseKeys ---------------------------------------------------

    def close_keys(self) -> dict[int, KeyBroadcast]:
        """End key collection; return the key list for every client that advertised."""
        self._require(ServerStage.COLLECTING_KEYS)
        if len(self._keys) < self.config.threshold + 1:
            raise self._abort(f"{len(self._keys)} clients advertised keys, too few for t")
        self._session = session_id(self.config, self.round, self._keys)
        self._graph = all_neighbourhoods(self.config, self._session, self._keys)
        entries = tuple((cid, *self._keys[cid]) for cid in sorted(self._keys))
        self.stage = ServerStage.COLLECTING_SHARES
        return {cid: KeyBroadcast(self._announce, self.round, cid, entries) for cid in self._keys}

    # -- round 1: ShareKeys -------------------------------------------------------

    def close_shares(self) -> dict[int, ForwardedShares]:
        """End share collection; route each sealed share to its recipient."""
        self._require(ServerStage.COLLECTING_SHARES)
        live = set(self._shares)
        if len(live) < self.config.threshold + 1:
            raise self._abort(f"{len(live)} clients sent shares, too few for t")
        inbox: dict[int, list[tuple[int, bytes]]] = {cid: [] for cid in live}
        for sender in sorted(live):
            for recipient, blob in self._shares[sender].sealed:
                if recipient in inbox:
                    inbox[recipient].append((sender, blob))
        self.stage = ServerStage.COLLECTING_INPUTS
        return {
            cid: ForwardedShares(self._session, self.round, cid, tuple(items))
            for cid, items in inbox.items()
        }

    # -- round 2: MaskedInputCollection ---------------------------------------------

    def close_inputs(self) -> dict[int, UnmaskingRequest]:
        """End input collection; ask each survivor for the shares the sum needs.

        Aborts, before any share is requested, if some survivor or dropped client
        lacks t surviving neighbours (its secret could not be recovered).
        """
        self._require(ServerStage.COLLECTING_INPUTS)
        survivors = set(self._uploaded)
        dropped = set(self._shares) - survivors
        # A survivor refused since its upload stays in the sum but is asked for nothing.
        responders = survivors - self._banned
        if not survivors:
            raise self._abort("no masked input arrived: there is nothing to aggregate")
        for cid in sorted(survivors | dropped):
            # A dropped client matters only if some survivor masked against it.
            needed = cid in survivors or bool(self._graph[cid] & survivors)
            alive = self._graph[cid] & responders
            if needed and len(alive) < self.config.threshold:
                raise self._abort(
                    f"client {cid} has {len(alive)} surviving neighbours, fewer than t"
                )
        requests = {}
        for cid in sorted(responders):
            live = self._graph[cid] & set(self._shares)
            requests[cid] = UnmaskingRequest(
                self._session,
                self.round,
                cid,
                tuple(sorted(live & survivors)),
                tuple(sorted(live & dropped)),
            )
        self._requests = requests
        self.stage = ServerStage.COLLECTING_UNMASKING
        return requests

    # -- round 3: Unmasking -------------------------------------------------------

    def close_unmasking(self) -> MaskingOutcome:
        """Reconstruct the secrets, remove the masks and return the survivors' sum.

        Raises AbortError if some needed secret has fewer than t shares; at that point
        the server holds, per client, shares of at most one of its two secrets.
        """
        self._require(ServerStage.COLLECTING_UNMASKING)
        k = self.config.modulus_bits
        survivors = sorted(self._uploaded)
        # Dropped clients that no survivor masked against need no reconstruction.
        dropped = sorted(
            c for c in set(self._shares) - set(survivors) if self._graph[c] & set(survivors)
        )
        self_shares: dict[int, list[Share]] = {c: [] for c in survivors}
        key_shares: dict[int, list[Share]] = {c: [] for c in dropped}
        for holder in sorted(self._responses):
            r = self._responses[holder]
            for owner, y in r.self_mask_shares:
                self_shares[owner].append(Share(holder, (y,)))
            for owner, y in r.key_shares:
                if owner in key_shares:
                    key_shares[owner].append(Share(holder, (y,)))
        try:
            self_seeds = {
                c: reconstruct(s, self.config.threshold)[0] for c, s in self_shares.items()
            }
            private_keys = {
                c: reconstruct(s, self.config.threshold)[0] for c, s in key_shares.items()
            }
        except InsufficientSharesError as exc:
            raise self._abort(f"too few unmasking responses: {exc}") from exc
        except ShamirError as exc:
            raise self._abort(f"inconsistent shares: {exc}") from exc
        key_pairs = {cid: KeyPair.from_private(private) for cid, private in private_keys.items()}
        for cid, pair in key_pairs.items():
            # A wrong reconstruction would silently corrupt the sum; check it against
            # the public key the client advertised.
            if pair.public != self._keys[cid][1]:
                raise self._abort(
                    f"reconstructed key of client {cid} does not match its public key"
                )

        total = self._sum.vector()
        terms = [masks.self_mask(self_seeds[cid], self._session, cid, -1) for cid in survivors]
        for cid in dropped:
            for peer in sorted(self._graph[cid] & set(survivors)):
                seed = masks.pairwise_seed(key_pairs[cid], self._keys[peer][1], self._session)
                # remove the mask ``peer`` added against ``cid``
                terms.append(masks.pairwise_mask(seed, self._session, peer, cid, -1))
        masks.apply(total, terms, k)
        self.stage = ServerStage.DONE
        return MaskingOutcome(total, tuple(survivors), tuple(dropped))

    def _require(self, stage: ServerStage) -> None:
        if self.stage is not stage:
            raise StageError(f"server is {self.stage.value}, not {stage.value}")
