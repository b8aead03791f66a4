"""Configuration of the masking protocol and the session id that binds a round.

Security property: every key, ciphertext and mask of a round is bound to the session
id, a SHA-256 hash over the configuration (the round number and the quantization budget
included) and all advertised public keys, so no message or mask from one round can be
replayed into another.
"""

from __future__ import annotations

import enum
import hashlib
import math
import struct
from dataclasses import dataclass

from secagg.codec import MAX_ID
from secagg.errors import ConfigurationError, ThresholdError
from secagg.protocol.identity import NO_MODEL, Security, Verifier, check_verifier
from secagg.quantize import QuantizationConfig
from secagg.validation import require_int
from secagg.weighting import WEIGHT_SLOTS


class Graph(str, enum.Enum):
    """Who shares secrets with (and masks against) whom."""

    COMPLETE = "complete"  # SecAgg: everyone is everyone's neighbour
    HARARY = "harary"  # SecAgg+: a randomly relabelled Harary graph H(k, n)


def default_neighbours(num_clients: int) -> int:
    """SecAgg+ degree: the even number at or above 2*ceil(log2 n), capped at n - 1."""
    k = 2 * math.ceil(math.log2(max(num_clients, 2)))
    return min(k + (k % 2), num_clients - 1)


def default_threshold(neighbours: int) -> int:
    """A strict majority of the neighbourhood: the smallest threshold we accept."""
    return neighbours // 2 + 1


def neighbours_for_dropout(
    num_clients: int, dropout: float, failure: float = 1e-3, *, max_corrupt: int = 0
) -> int:
    """The smallest even SecAgg+ degree (at least the default) that survives ``dropout``.

    Models round(dropout * n) clients vanishing, chosen uniformly at random and
    independently of the graph: a client's live neighbours are then hypergeometric. The
    degree returned makes the union bound over the n clients of "fewer than t live
    neighbours" at most ``failure``, or is n - 1 (the complete graph) when no smaller
    degree does. t is the threshold :meth:`MaskingConfig.create` picks: a majority of
    the neighbourhood, or with ``max_corrupt`` > 0 (the malicious mode)
    :func:`malicious_threshold` for that many colluding clients. Raises
    ConfigurationError for a dropout outside [0, 1) or a negative ``max_corrupt``.
    """
    if not 0.0 <= dropout < 1.0:
        raise ConfigurationError(f"dropout must be in [0, 1), got {dropout}")
    n = num_clients
    require_int("max_corrupt", max_corrupt, 0, max(n - 1, 0))
    gone = round(dropout * n)
    others = n - 1
    k = default_neighbours(n)
    while k < others:
        t = malicious_threshold(k, corrupt_neighbours(Graph.HARARY, n, k, max_corrupt))
        # P[X > k - t] for X ~ Hypergeometric(others, gone, k): X dropped neighbours.
        tail = sum(
            math.comb(gone, x) * math.comb(others - gone, k - x) for x in range(k - t + 1, k + 1)
        ) / math.comb(others, k)
        if t <= k and n * tail <= failure:
            return k
        k += 2
    return others


def default_max_corrupt(num_clients: int) -> int:
    """The malicious mode's default collusion assumption: 5% of the cohort (n // 20)."""
    return num_clients // 20


def corrupt_neighbours(
    graph: Graph, num_clients: int, degree: int, max_corrupt: int, failure: float = 1e-6
) -> int:
    """The most corrupt clients any neighbourhood is assumed to hold.

    Complete graph: all ``max_corrupt`` of them. Harary graph over the roster's ring
    (ordered by a seed the roster's issuer drew after enrolment, so corrupt clients were
    placed independently of it: static corruption): the smallest c with a union bound
    over the n clients, and over every degree a server could pick for a round, of
    P[more than c of a client's ``degree`` neighbours are among the ``max_corrupt``] at
    most ``failure`` (hypergeometric tail).
    """
    cap = min(max_corrupt, degree)
    if graph is Graph.COMPLETE or max_corrupt == 0:
        return cap
    others = num_clients - 1
    total = math.comb(others, degree)
    # The ring is the same every round; a deviating server picks the degree, so the
    # bound must hold for all n - 1 of them at once.
    budget = failure / max(1, others)
    for c in range(cap + 1):
        tail = sum(
            math.comb(max_corrupt, x) * math.comb(others - max_corrupt, degree - x)
            for x in range(c + 1, cap + 1)
        )
        if num_clients * tail / total <= budget:
            return c
    return cap


def malicious_threshold(degree: int, corrupt: int) -> int:
    """The smallest t with 2t > degree + corrupt + 1.

    Against a deviating server, the shares it can collect for one client's two secrets
    (every corrupt neighbour's, and honest ones split between the two) must never reach
    t for both: 2t > degree + corrupt (Bell et al., CCS 2020; Bonawitz et al.'s
    t > 2n/3 for the complete graph). One more: the server chooses whose shares a
    victim receives, so the victim may have masked against only t - 1 neighbours; the
    honest neighbours it did not mask against, k - t + 1 of them, must not reach t
    with the corrupt ones (docs/protocol.md, "Why the server learns no input").
    """
    return (degree + corrupt + 1) // 2 + 1


def minimum_sum_size(num_clients: int) -> int:
    """The fewest inputs a masking round with default parameters ever reveals a sum of.

    A survivor's input is unmasked only if t of its neighbours survived too, so every
    sum covers at least t + 1 inputs, with t the default threshold of the default
    SecAgg+ degree (the smaller of the two masking protocols' guarantees). Other
    backends (Paillier) refuse to release a sum of fewer, for the same cohort size.
    """
    degree = default_neighbours(num_clients) if num_clients >= 2 else 0
    return default_threshold(degree) + 1


@dataclass(frozen=True)
class MaskingConfig:
    """One round's public parameters.

    Parameters
    ----------
    num_clients: n; client ids are 1..n (0 is the server); n <= quantization.max_clients.
    dim: coordinates of one update; the protected vector has ``length = dim + 1``
        elements (the weight rides in the last, :mod:`secagg.weighting`).
    quantization: clip, bits and budget; masked vectors live in Z_{2^k} with k =
        ``quantization.k`` and travel at k bits per element. Every input element must be
        at most w_max (2^b - 1), so the sum of n inputs never wraps around.
    graph: COMPLETE (SecAgg) or HARARY (SecAgg+).
    neighbours: degree of the graph (n - 1 for COMPLETE; even for HARARY).
    threshold: t, Shamir threshold within each neighbourhood; k/2 < t <= degree, and in
        the malicious mode 2t > degree + :func:`corrupt_neighbours`.
    round_number: u32 round counter, bound into the session id.
    security: HONEST (an honest-but-curious server, the default) or MALICIOUS (identity
        keys, signed keys, a consistency round, model binding and a ring fixed by the
        roster; see docs/threat-model.md).
    max_corrupt: MALICIOUS only: how many clients of the cohort may collude with the
        server (the threshold must withstand their shares).
    roster_digest: MALICIOUS only: the digest of the roster (or verifier) every party
        holds, so parties with different rosters never complete a round together.

    Raises ConfigurationError / ThresholdError / BitBudgetError on impossible, unsafe or
    unencodable values, when the config is made.
    """

    num_clients: int
    dim: int
    quantization: QuantizationConfig
    graph: Graph
    neighbours: int
    threshold: int
    round_number: int = 0
    security: Security = Security.HONEST
    max_corrupt: int = 0
    roster_digest: bytes = b""

    def __post_init__(self) -> None:
        n = require_int("num_clients", self.num_clients, 3, MAX_ID - 1)
        require_int("dim", self.dim, 1, MAX_ID - WEIGHT_SLOTS)
        require_int("round_number", self.round_number, 0, MAX_ID)
        if not isinstance(self.quantization, QuantizationConfig):
            raise ConfigurationError("quantization must be a QuantizationConfig")
        if not isinstance(self.graph, Graph):
            raise ConfigurationError(f"graph must be a Graph, got {self.graph!r}")
        self.quantization.check_cohort(n)
        degree = require_int("neighbours", self.neighbours, 1, n - 1)
        require_int("threshold", self.threshold, 1, n - 1, ThresholdError)
        if self.graph is Graph.COMPLETE and degree != n - 1:
            raise ConfigurationError("the complete graph has n - 1 neighbours")
        if self.graph is Graph.HARARY and not (
            2 <= degree <= n - 1 and (degree % 2 == 0 or degree == n - 1)
        ):
            raise ConfigurationError(f"SecAgg+ degree must be even and in 2..{n - 1}, got {degree}")
        # A majority threshold means two disjoint sets of responders can never both
        # reach t, so the two secrets of one client are never both recoverable.
        if not degree // 2 < self.threshold <= degree:
            raise ThresholdError(
                f"threshold {self.threshold} must be in {degree // 2 + 1}..{degree} "
                f"for {degree} neighbours"
            )
        if not isinstance(self.security, Security):
            raise ConfigurationError(f"security must be a Security, got {self.security!r}")
        if self.security is Security.HONEST:
            if self.max_corrupt != 0 or self.roster_digest != b"":
                raise ConfigurationError("max_corrupt and a roster apply to the malicious mode")
            return
        require_int("max_corrupt", self.max_corrupt, 0, n - 1)
        if not isinstance(self.roster_digest, bytes) or len(self.roster_digest) != 32:
            raise ConfigurationError("the malicious mode needs the roster's 32-byte digest")
        corrupt = corrupt_neighbours(self.graph, n, degree, self.max_corrupt)
        if self.threshold < malicious_threshold(degree, corrupt):
            raise ThresholdError(
                f"against a deviating server with up to {corrupt} corrupt neighbours the "
                f"threshold must be at least {malicious_threshold(degree, corrupt)} "
                f"(2t > {degree} + {corrupt}), got {self.threshold}"
            )

    @classmethod
    def create(
        cls,
        graph: Graph | str,
        num_clients: int,
        dim: int,
        quantization: QuantizationConfig,
        neighbours: int | None = None,
        threshold: int | None = None,
        *,
        round_number: int = 0,
        security: Security | str = Security.HONEST,
        max_corrupt: int | None = None,
        roster: Verifier | None = None,
    ) -> MaskingConfig:
        """Fill in the graph's default degree and the smallest safe threshold when not
        given: a majority of the neighbourhood, or in the malicious mode
        :func:`malicious_threshold`. The malicious mode needs the ``roster``;
        ``max_corrupt`` defaults to n // 20 there (5% of the cohort colluding)."""
        try:
            kind = Graph(graph)
            mode = Security(security)
        except ValueError:
            raise ConfigurationError(f"unknown graph {graph!r} or security {security!r}") from None
        n = require_int("num_clients", num_clients, 3, MAX_ID - 1)
        if neighbours is None:
            neighbours = n - 1 if kind is Graph.COMPLETE else default_neighbours(n)
        degree = require_int("neighbours", neighbours, 1, n - 1)
        if mode is Security.HONEST:
            if threshold is None:
                threshold = default_threshold(degree)
            return cls(n, dim, quantization, kind, neighbours, threshold, round_number)
        roster = check_verifier(roster, roster.digest if isinstance(roster, Verifier) else b"", n)
        corrupt = default_max_corrupt(n) if max_corrupt is None else max_corrupt
        if threshold is None:
            c = corrupt_neighbours(kind, n, degree, require_int("max_corrupt", corrupt, 0, n - 1))
            threshold = malicious_threshold(degree, c)
            if threshold > degree:
                raise ThresholdError(
                    f"with up to {c} corrupt neighbours the threshold would be {threshold}, "
                    f"more than the {degree} neighbours: raise neighbours or lower max_corrupt"
                )
        return cls(
            n,
            dim,
            quantization,
            kind,
            degree,
            threshold,
            round_number,
            mode,
            corrupt,
            roster.digest,
        )

    @property
    def length(self) -> int:
        """The number of elements of the protected and masked vector, dim + 1."""
        return self.dim + WEIGHT_SLOTS

    @property
    def modulus_bits(self) -> int:
        """The modulus bits k (masked vectors live in Z_{2^k})."""
        return self.quantization.k

    @property
    def max_input(self) -> int:
        """The largest element a client's protected vector may hold, w_max (2^b - 1)."""
        return self.quantization.max_input

    def digest(self) -> bytes:
        """SHA-256 of the canonical encoding of every field."""
        fields = struct.pack(
            ">IIBIIIBI",
            self.num_clients,
            self.dim,
            list(Graph).index(self.graph),
            self.neighbours,
            self.threshold,
            self.round_number,
            list(Security).index(self.security),
            self.max_corrupt,
        )
        label = b"secagg/v3/masking-config"
        return hashlib.sha256(
            label + fields + self.quantization.encode() + self.roster_digest
        ).digest()

    @property
    def malicious(self) -> bool:
        return self.security is Security.MALICIOUS


def announce_id(config: MaskingConfig) -> bytes:
    """Binds the key-advertising messages, sent before any key is known."""
    return hashlib.sha256(b"secagg/v1/announce" + config.digest()).digest()


def session_id(config: MaskingConfig, key_digest: bytes, model_digest: bytes = NO_MODEL) -> bytes:
    """The session id: config (round included), the model this client received, and the
    key digest: the root of the :class:`~secagg.masking.keytree.KeyTree` over every
    advertised key, which commits to this execution's fresh keys."""
    label = b"secagg/v2/session"
    return hashlib.sha256(label + config.digest() + model_digest + key_digest).digest()
