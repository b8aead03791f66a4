"""The client's side of the masking protocol, one method per round, in order.

No I/O: each method takes the server's message and returns the client's reply. The
object is one-shot: a method called out of order raises :class:`StageError`, and any
refused message moves it to ABORTED, after which it answers nothing. Every message is
checked whole before any state changes.
"""

from __future__ import annotations

import enum
import struct

import numpy as np
import numpy.typing as npt

from secagg import columnpack
from secagg.errors import (
    AbortError,
    AlreadyDroppedError,
    BothSharesRequestedError,
    DecodeError,
    DuplicateIdError,
    IncompleteRequestError,
    InputError,
    MisaddressedMessageError,
    SecAggError,
    SelfShareRequestedError,
    SessionMismatchError,
    StageError,
    TooFewSurvivorsError,
    UnknownNeighbourError,
)
from secagg.masking import masks
from secagg.masking.config import MaskingConfig, announce_id, session_id
from secagg.masking.graph import neighbourhood
from secagg.masking.messages import (
    SHARE_PLAINTEXT_BYTES,
    AdvertiseKeys,
    ForwardedShares,
    KeyBroadcast,
    MaskedInput,
    ShareKeys,
    UnmaskingRequest,
    UnmaskingResponse,
)
from secagg.primitives.aead import open_sealed, seal
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.primitives.keyagreement import KeyPair, Label, derive_key
from secagg.primitives.prg import mask_dtype
from secagg.primitives.shamir import ELEMENT_BYTES, PRIME, split


class ClientStage(enum.Enum):
    NEW = "new"
    KEYS_ADVERTISED = "keys advertised"
    SHARES_SENT = "shares sent"
    INPUT_SENT = "input sent"
    DONE = "done"
    ABORTED = "aborted"


def share_associated_data(session: bytes, round_number: int, sender: int, recipient: int) -> bytes:
    """AEAD associated data of a sealed share: it cannot move to another pair or round."""
    return b"secagg/v1/share" + session + struct.pack(">III", round_number, sender, recipient)


class MaskingClient:
    """One client in one round of SecAgg / SecAgg+.

    Parameters
    ----------
    config: the round's public parameters.
    client_id: this client's id, 1..n.
    round_number: bound into every message.
    entropy: source of keys, seeds and Shamir coefficients (``os.urandom`` by default).
    """

    def __init__(
        self,
        config: MaskingConfig,
        client_id: int,
        *,
        round_number: int = 0,
        entropy: Entropy = system_entropy,
    ) -> None:
        if not 1 <= client_id <= config.num_clients:
            raise InputError(f"client id {client_id} outside 1..{config.num_clients}")
        self.config = config
        self.id = client_id
        self.round = round_number
        self._entropy = entropy
        self.stage = ClientStage.NEW
        self._announce = announce_id(config, round_number)
        self._enc_keys: KeyPair | None = None
        self._mask_keys: KeyPair | None = None
        self._session = b""
        self._peer_keys: dict[int, tuple[bytes, bytes]] = {}
        self._neighbours: frozenset[int] = frozenset()
        self._self_seed = b""
        self._live: frozenset[int] = frozenset()  # neighbours that sent shares (U2)
        self._held: dict[int, tuple[int, int]] = {}  # owner -> (share of b, share of sk)
        self._share_keys: dict[int, bytes] = {}  # peer -> AEAD key of this session

    @property
    def live_neighbours(self) -> int:
        """Neighbours whose shares this client received (it masks against each)."""
        return len(self._live)

    # -- helpers ------------------------------------------------------------------

    def _expect(self, stage: ClientStage) -> None:
        if self.stage is not stage:
            raise StageError(f"client {self.id} is {self.stage.value}, not {stage.value}")

    def _abort(self, error: SecAggError) -> SecAggError:
        self.stage = ClientStage.ABORTED
        return error

    def _check_binding(self, session: bytes, round_number: int, recipient: int) -> None:
        if round_number != self.round or session != (self._session or self._announce):
            raise self._abort(SessionMismatchError("message from another session or round"))
        if recipient != self.id:
            raise self._abort(MisaddressedMessageError(f"message for client {recipient}"))

    # -- round 0: AdvertiseKeys ---------------------------------------------------

    def advertise_keys(self) -> AdvertiseKeys:
        """Generate the two key pairs and publish their public halves."""
        self._expect(ClientStage.NEW)
        self._enc_keys = KeyPair.generate(self._entropy)
        self._mask_keys = KeyPair.generate(self._entropy)
        self.stage = ClientStage.KEYS_ADVERTISED
        return AdvertiseKeys(
            self._announce, self.round, self.id, self._enc_keys.public, self._mask_keys.public
        )

    # -- round 1: ShareKeys -------------------------------------------------------

    def share_keys(self, broadcast: KeyBroadcast) -> ShareKeys:
        """Check the key list, derive the session, Shamir-share b_u and s_u^SK to neighbours.

        Raises SessionMismatchError, MisaddressedMessageError, DecodeError (own keys
        altered, repeated keys) or AbortError (too few keys for the threshold).
        """
        self._expect(ClientStage.KEYS_ADVERTISED)
        if self._enc_keys is None or self._mask_keys is None:
            raise StageError("keys missing")
        self._check_binding(broadcast.session_id, broadcast.round, broadcast.recipient)
        keys = {cid: (c_pk, s_pk) for cid, c_pk, s_pk in broadcast.keys}
        if len(keys) != len(broadcast.keys):
            raise self._abort(DecodeError("a client appears twice in the key list"))
        if keys.get(self.id) != (self._enc_keys.public, self._mask_keys.public):
            raise self._abort(DecodeError("the key list does not hold this client's own keys"))
        all_keys = [k for pair in keys.values() for k in pair]
        if len(set(all_keys)) != len(all_keys):
            raise self._abort(DecodeError("a public key is repeated in the key list"))
        session = session_id(self.config, self.round, keys)
        mine = neighbourhood(self.config, session, keys, self.id)
        if len(mine) < self.config.threshold:
            raise self._abort(AbortError(f"only {len(mine)} neighbours for threshold t"))

        self_seed = self._entropy(32)
        holders = sorted(mine)
        shares = split(
            [self_seed, self._mask_keys.private], holders, self.config.threshold, self._entropy
        )
        sealed = []
        for holder, share in zip(holders, shares, strict=True):
            plaintext = (
                struct.pack(">II", self.id, holder)
                + share.ys[0].to_bytes(ELEMENT_BYTES, "big")
                + share.ys[1].to_bytes(ELEMENT_BYTES, "big")
            )
            ad = share_associated_data(session, self.round, self.id, holder)
            key = self._share_key(holder, keys[holder][0], session)
            sealed.append((holder, seal(key, plaintext, ad, self._entropy)))

        self._session, self._peer_keys, self._neighbours = session, keys, mine
        self._self_seed = self_seed
        self.stage = ClientStage.SHARES_SENT
        return ShareKeys(session, self.round, self.id, tuple(sealed))

    def _share_key(self, peer: int, peer_encryption_key: bytes, session: bytes) -> bytes:
        """The AEAD key shared with ``peer``: one agreement per peer, for both directions."""
        if self._enc_keys is None:
            raise StageError("keys missing")
        if peer not in self._share_keys:
            shared = self._enc_keys.agree(peer_encryption_key)
            key = derive_key(shared, label=Label.SHARE_ENCRYPTION, session_id=session)
            self._share_keys[peer] = key
        return self._share_keys[peer]

    # -- round 2: MaskedInputCollection ---------------------------------------------

    def masked_input(
        self, forwarded: ForwardedShares, vector: npt.NDArray[np.unsignedinteger]
    ) -> MaskedInput:
        """Open the neighbours' shares, then mask ``vector`` (in Z_{2^k}^dim) and send it.

        Raises SessionMismatchError / MisaddressedMessageError, UnknownNeighbourError for a
        share from a non-neighbour, AuthenticationError for a forged share, AbortError if
        fewer than t neighbours are live, InputError for a bad vector.
        """
        self._expect(ClientStage.SHARES_SENT)
        self._check_binding(forwarded.session_id, forwarded.round, forwarded.recipient)
        k = self.config.modulus_bits
        dtype = np.dtype(mask_dtype(k))
        if vector.ndim != 1 or vector.size != self.config.dim or vector.dtype != dtype:
            raise InputError(f"input must be a length-{self.config.dim} {dtype}")
        if k < vector.dtype.itemsize * 8 and vector.size and int(vector.max()) >> k:
            raise InputError(f"input element outside Z_2^{k}")
        held: dict[int, tuple[int, int]] = {}
        for sender, blob in forwarded.sealed:
            if sender not in self._neighbours:
                raise self._abort(UnknownNeighbourError(f"share from non-neighbour {sender}"))
            ad = share_associated_data(self._session, self.round, sender, self.id)
            try:
                plaintext = open_sealed(
                    self._share_key(sender, self._peer_keys[sender][0], self._session), blob, ad
                )
            except SecAggError as exc:
                raise self._abort(exc) from exc
            held[sender] = self._parse_share(plaintext, sender)
        if len(held) + 1 < self.config.threshold:
            raise self._abort(AbortError("too few live neighbours to recover this client"))

        if self._mask_keys is None:
            raise StageError("keys missing")
        terms = [masks.self_mask(self._self_seed, self._session, self.id, +1)]
        for peer in sorted(held):
            seed = masks.pairwise_seed(self._mask_keys, self._peer_keys[peer][1], self._session)
            terms.append(masks.pairwise_mask(seed, self._session, self.id, peer, +1))
        # Mask straight into the packing workspace and pack there: one buffer per message.
        buffer = columnpack.workspace(vector.size, k)
        masks.masked(vector, terms, k, out=buffer[: vector.size])
        payload = columnpack.pack_in_place(buffer, k)

        self._held, self._live = held, frozenset(held)
        self._self_seed = b""  # no longer needed: the server recovers it from shares
        self.stage = ClientStage.INPUT_SENT
        return MaskedInput(self._session, self.round, self.id, k, vector.size, payload)

    def _parse_share(self, plaintext: bytes, sender: int) -> tuple[int, int]:
        if len(plaintext) != SHARE_PLAINTEXT_BYTES:
            raise self._abort(DecodeError("share plaintext has the wrong length", sender=sender))
        owner, holder = struct.unpack(">II", plaintext[:8])
        if (owner, holder) != (sender, self.id):
            raise self._abort(
                MisaddressedMessageError("share sealed for another pair", sender=sender)
            )
        y_b = int.from_bytes(plaintext[8 : 8 + ELEMENT_BYTES], "big")
        y_sk = int.from_bytes(plaintext[8 + ELEMENT_BYTES :], "big")
        if y_b >= PRIME or y_sk >= PRIME:
            raise self._abort(DecodeError("share value outside the field", sender=sender))
        return y_b, y_sk

    # -- round 3: Unmasking -------------------------------------------------------

    def unmask(self, request: UnmaskingRequest) -> UnmaskingResponse:
        """Reveal shares of b_u for surviving neighbours and of s_u^SK for dropped ones.

        Refuses (and aborts) a request that names a client in both lists, itself, an
        unknown id, an id twice, a client that had dropped before sending shares, leaves
        a live neighbour out, or lists fewer than t - 1 surviving neighbours.
        """
        self._expect(ClientStage.INPUT_SENT)
        self._check_binding(request.session_id, request.round, request.recipient)
        survivors, dropped = request.survivors, request.dropped
        named = survivors + dropped
        if len(set(survivors)) != len(survivors) or len(set(dropped)) != len(dropped):
            raise self._abort(DuplicateIdError("the request names a client twice"))
        both = set(survivors) & set(dropped)
        if both:
            raise self._abort(
                BothSharesRequestedError(f"both shares of client {min(both)} were requested")
            )
        if self.id in named:
            raise self._abort(SelfShareRequestedError("the request names this client"))
        for cid in named:
            if cid in self._neighbours and cid not in self._live:
                raise self._abort(AlreadyDroppedError(f"client {cid} dropped before ShareKeys"))
            if cid not in self._live:
                raise self._abort(UnknownNeighbourError(f"client {cid} is not a neighbour"))
        if set(named) != self._live:
            raise self._abort(IncompleteRequestError("the request omits a live neighbour"))
        if len(survivors) + 1 < self.config.threshold:
            raise self._abort(TooFewSurvivorsError("too few surviving neighbours to unmask"))

        response = UnmaskingResponse(
            self._session,
            self.round,
            self.id,
            tuple((cid, self._held[cid][0]) for cid in sorted(survivors)),
            tuple((cid, self._held[cid][1]) for cid in sorted(dropped)),
        )
        self._held = {}
        self.stage = ClientStage.DONE
        return response
