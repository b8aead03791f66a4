"""Configuration of the masking protocol and the session id that binds a round.

Security property: every key, ciphertext and mask of a round is bound to the session
id, a SHA-256 hash over the configuration, the round number and all advertised public
keys, so no message or mask from one round can be replayed into another.
"""

from __future__ import annotations

import enum
import hashlib
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from secagg.errors import ConfigurationError, ThresholdError
from secagg.primitives.prg import mask_dtype


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


def neighbours_for_dropout(num_clients: int, dropout: float, failure: float = 1e-3) -> int:
    """The smallest even SecAgg+ degree (at least the default) that survives ``dropout``.

    Models round(dropout * n) clients vanishing, chosen uniformly at random and
    independently of the graph: a client's live neighbours are then hypergeometric. The
    degree returned makes the union bound over the n clients of "fewer than t = k/2 + 1
    live neighbours" at most ``failure``, or is n - 1 (the complete graph) when no
    smaller degree does. Raises ConfigurationError for a dropout outside [0, 1).
    """
    if not 0.0 <= dropout < 1.0:
        raise ConfigurationError(f"dropout must be in [0, 1), got {dropout}")
    n = num_clients
    gone = round(dropout * n)
    others = n - 1
    k = default_neighbours(n)
    while k < others:
        t = default_threshold(k)
        # P[X > k - t] for X ~ Hypergeometric(others, gone, k): X dropped neighbours.
        tail = sum(
            math.comb(gone, x) * math.comb(others - gone, k - x) for x in range(k - t + 1, k + 1)
        ) / math.comb(others, k)
        if n * tail <= failure:
            return k
        k += 2
    return others


@dataclass(frozen=True)
class MaskingConfig:
    """One round's public parameters.

    Parameters
    ----------
    num_clients: n; client ids are 1..n (0 is the server).
    dim: elements of the protected vector (update length + weight slot).
    modulus_bits: k; masked vectors live in Z_{2^k} and travel at k bits per element.
    graph: COMPLETE (SecAgg) or HARARY (SecAgg+).
    neighbours: degree of the graph (n - 1 for COMPLETE; even for HARARY).
    threshold: t, Shamir threshold within each neighbourhood; k/2 < t <= degree.

    Raises ConfigurationError / ThresholdError on impossible or unsafe values.
    """

    num_clients: int
    dim: int
    modulus_bits: int
    graph: Graph
    neighbours: int
    threshold: int

    def __post_init__(self) -> None:
        if self.num_clients < 3:
            raise ConfigurationError("secure aggregation needs at least 3 clients")
        if self.num_clients > 2**32 - 2:
            raise ConfigurationError("too many clients for 32-bit ids")
        if self.dim < 1:
            raise ConfigurationError("dim must be at least 1")
        mask_dtype(self.modulus_bits)
        if self.graph is Graph.COMPLETE and self.neighbours != self.num_clients - 1:
            raise ConfigurationError("the complete graph has n - 1 neighbours")
        if self.graph is Graph.HARARY and not (
            2 <= self.neighbours <= self.num_clients - 1
            and (self.neighbours % 2 == 0 or self.neighbours == self.num_clients - 1)
        ):
            raise ConfigurationError(
                f"SecAgg+ degree must be even and in 2..{self.num_clients - 1}, "
                f"got {self.neighbours}"
            )
        # A majority threshold means two disjoint sets of responders can never both
        # reach t, so the two secrets of one client are never both recoverable.
        if not self.neighbours // 2 < self.threshold <= self.neighbours:
            raise ThresholdError(
                f"threshold {self.threshold} must be in "
                f"{self.neighbours // 2 + 1}..{self.neighbours} for {self.neighbours} neighbours"
            )

    @classmethod
    def create(
        cls,
        graph: Graph,
        num_clients: int,
        dim: int,
        modulus_bits: int,
        neighbours: int | None = None,
        threshold: int | None = None,
    ) -> MaskingConfig:
        """Fill in the graph's default degree and a majority threshold when not given."""
        if num_clients < 3:
            raise ConfigurationError("secure aggregation needs at least 3 clients")
        if neighbours is None:
            neighbours = (
                num_clients - 1 if graph is Graph.COMPLETE else default_neighbours(num_clients)
            )
        if threshold is None:
            threshold = default_threshold(neighbours)
        return cls(num_clients, dim, modulus_bits, graph, neighbours, threshold)

    def digest(self) -> bytes:
        """SHA-256 of the canonical encoding of every field."""
        fields = struct.pack(
            ">IIIBII",
            self.num_clients,
            self.dim,
            self.modulus_bits,
            list(Graph).index(self.graph),
            self.neighbours,
            self.threshold,
        )
        return hashlib.sha256(b"secagg/v1/masking-config" + fields).digest()


def announce_id(config: MaskingConfig, round_number: int) -> bytes:
    """Binds the key-advertising messages, sent before any key is known."""
    return hashlib.sha256(
        b"secagg/v1/announce" + config.digest() + struct.pack(">I", round_number)
    ).digest()


def session_id(
    config: MaskingConfig, round_number: int, keys: Mapping[int, tuple[bytes, bytes]]
) -> bytes:
    """The session id: config, round and every (id, encryption key, masking key)."""
    h = hashlib.sha256(b"secagg/v1/session" + config.digest() + struct.pack(">I", round_number))
    for cid in sorted(keys):
        c_pk, s_pk = keys[cid]
        h.update(struct.pack(">I", cid) + c_pk + s_pk)
    return h.digest()
