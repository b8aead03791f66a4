"""A step-by-step driver for masking rounds, so tests can drop, tamper and replay.

Each step goes through the parties' transport interface (``start`` / ``handle`` on the
clients, ``receive(sender, bytes)`` / ``close`` on the server) and returns the server's
messages decoded, so that a test can alter one and hand it to a client's typed step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from secagg.masking import (
    ForwardedShares,
    Graph,
    KeyBroadcast,
    MaskingClient,
    MaskingConfig,
    MaskingServer,
    UnmaskingRequest,
)
from secagg.protocol import Outcome
from secagg.quantize import QuantizationConfig

ROUND = 5


def quantization_for(n: int, k: int) -> QuantizationConfig:
    """A budget for n clients whose modulus is exactly 2^k (k > log2 n)."""
    b = min(32, k - n.bit_length())
    return QuantizationConfig(bits=b, max_clients=n, modulus_bits=k)


def masking_config(
    n: int = 7,
    graph: Graph = Graph.COMPLETE,
    dim: int = 33,
    bits: int = 22,
    neighbours: int | None = None,
    threshold: int | None = None,
    round_number: int = ROUND,
) -> MaskingConfig:
    """``dim`` update coordinates (the protected vector has dim + 1), modulus 2^bits."""
    return MaskingConfig.create(
        graph, n, dim, quantization_for(n, bits), neighbours, threshold, round_number=round_number
    )


def random_inputs(config: MaskingConfig, seed: int) -> dict[int, np.ndarray]:
    """Protected vectors with every element in [0, w_max (2^b - 1)]."""
    rng = np.random.default_rng(seed)
    dtype = np.uint32 if config.modulus_bits <= 32 else np.uint64
    return {
        c: rng.integers(0, config.max_input, config.length, dtype=np.uint64, endpoint=True).astype(
            dtype
        )
        for c in range(1, config.num_clients + 1)
    }


class Round:
    """n clients and a server; each method runs one protocol round over encoded bytes."""

    def __init__(self, config: MaskingConfig, entropy: Callable[[int], bytes]) -> None:
        self.config = config
        self.server = MaskingServer(config)
        self.inputs = random_inputs(config, config.num_clients)
        self.clients = {
            c: MaskingClient(config, c, self.inputs[c], entropy=entropy) for c in self.inputs
        }
        self.gone: set[int] = set()
        self.sent: dict[str, dict[int, bytes]] = {}

    def alive(self) -> list[int]:
        return [c for c in self.clients if c not in self.gone]

    def _deliver(self, stage: str, replies: dict[int, bytes]) -> None:
        self.sent[stage] = replies
        for c, data in replies.items():
            self.server.receive(c, data)

    def advertise(self) -> dict[int, KeyBroadcast]:
        self._deliver("advertise", {c: self.clients[c].start() for c in self.alive()})
        return {c: KeyBroadcast.decode(d, self.config) for c, d in self.server.close().items()}

    def share(self, broadcasts: dict[int, KeyBroadcast]) -> dict[int, ForwardedShares]:
        replies = {
            c: self.clients[c].handle(b.encode()) for c, b in broadcasts.items() if c not in self.gone
        }
        self._deliver("share", replies)
        return {c: ForwardedShares.decode(d, self.config) for c, d in self.server.close().items()}

    def upload(self, forwarded: dict[int, ForwardedShares]) -> dict[int, UnmaskingRequest]:
        replies = {
            c: self.clients[c].handle(f.encode()) for c, f in forwarded.items() if c not in self.gone
        }
        self._deliver("upload", replies)
        return {c: UnmaskingRequest.decode(d, self.config) for c, d in self.server.close().items()}

    def unmask(self, requests: dict[int, UnmaskingRequest]) -> Outcome:
        replies = {
            c: self.clients[c].handle(r.encode()) for c, r in requests.items() if c not in self.gone
        }
        self._deliver("unmask", replies)
        assert self.server.close() == {}
        return self.server.result

    def run(self) -> Outcome:
        return self.unmask(self.upload(self.share(self.advertise())))

    def expected_sum(self, survivors) -> np.ndarray:
        total = np.zeros(self.config.length, dtype=np.uint64)
        for c in survivors:
            total += self.inputs[c].astype(np.uint64)
        k = self.config.modulus_bits
        return total & np.uint64((1 << k) - 1) if k < 64 else total


@pytest.fixture
def make_round(entropy) -> Callable[..., Round]:
    def factory(**kwargs) -> Round:
        return Round(masking_config(**kwargs), entropy)

    return factory
