"""A step-by-step driver for masking rounds, so tests can drop, tamper and replay."""

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
from secagg.masking.server import MaskingOutcome


class Round:
    """n clients and a server; each method runs one protocol round over encoded bytes."""

    def __init__(self, config: MaskingConfig, entropy: Callable[[int], bytes]) -> None:
        self.config = config
        self.server = MaskingServer(config, round_number=5)
        self.clients = {
            c: MaskingClient(config, c, round_number=5, entropy=entropy)
            for c in range(1, config.num_clients + 1)
        }
        rng = np.random.default_rng(config.num_clients)
        self.inputs = {
            c: rng.integers(0, 2**config.modulus_bits, config.dim, dtype=np.uint64).astype(
                np.uint32 if config.modulus_bits <= 32 else np.uint64
            )
            for c in self.clients
        }
        self.gone: set[int] = set()
        self.sent: dict[str, dict[int, bytes]] = {}

    def alive(self) -> list[int]:
        return [c for c in self.clients if c not in self.gone]

    def advertise(self) -> dict[int, KeyBroadcast]:
        self.sent["advertise"] = {c: self.clients[c].advertise_keys().encode() for c in self.alive()}
        for data in self.sent["advertise"].values():
            self.server.receive_bytes(data)
        return self.server.close_keys()

    def share(self, broadcasts: dict[int, KeyBroadcast]) -> dict[int, ForwardedShares]:
        self.sent["share"] = {
            c: self.clients[c].share_keys(KeyBroadcast.decode(b.encode(), self.config)).encode()
            for c, b in broadcasts.items()
            if c not in self.gone
        }
        for data in self.sent["share"].values():
            self.server.receive_bytes(data)
        return self.server.close_shares()

    def upload(self, forwarded: dict[int, ForwardedShares]) -> dict[int, UnmaskingRequest]:
        self.sent["upload"] = {
            c: self.clients[c]
            .masked_input(ForwardedShares.decode(f.encode(), self.config), self.inputs[c])
            .encode()
            for c, f in forwarded.items()
            if c not in self.gone
        }
        for data in self.sent["upload"].values():
            self.server.receive_bytes(data)
        return self.server.close_inputs()

    def unmask(self, requests: dict[int, UnmaskingRequest]) -> MaskingOutcome:
        self.sent["unmask"] = {
            c: self.clients[c].unmask(UnmaskingRequest.decode(r.encode(), self.config)).encode()
            for c, r in requests.items()
            if c not in self.gone
        }
        for data in self.sent["unmask"].values():
            self.server.receive_bytes(data)
        return self.server.close_unmasking()

    def run(self) -> MaskingOutcome:
        return self.unmask(self.upload(self.share(self.advertise())))

    def expected_sum(self, survivors) -> np.ndarray:
        total = np.zeros(self.config.dim, dtype=np.uint64)
        for c in survivors:
            total += self.inputs[c].astype(np.uint64)
        return total & np.uint64((1 << self.config.modulus_bits) - 1) if self.config.modulus_bits < 64 else total


@pytest.fixture
def make_round(entropy) -> Callable[..., Round]:
    def factory(
        n: int = 7,
        graph: Graph = Graph.COMPLETE,
        dim: int = 33,
        bits: int = 22,
        neighbours: int | None = None,
        threshold: int | None = None,
    ) -> Round:
        return Round(MaskingConfig.create(graph, n, dim, bits, neighbours, threshold), entropy)

    return factory
