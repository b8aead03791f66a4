"""Party factories for the protocol-level tests: one round of any backend, built from
its configuration, with inputs and a deterministic entropy source per client."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from secagg.masking import Graph, MaskingClient, MaskingConfig, MaskingServer
from secagg.paillier import PaillierClient, PaillierConfig, PaillierServer, PrivateKey
from secagg.plain import PlainClient, PlainConfig, PlainServer
from secagg.protocol import ClientParty, ServerParty
from secagg.quantize import QuantizationConfig

from ..conftest import CountingEntropy

DIM = 40
QUANT = QuantizationConfig(clip=1.0, bits=12, max_clients=16, max_weight=3)


@dataclass
class Backend:
    """How to build and restore the parties of one backend for ``n`` clients."""

    name: str
    config: Callable[[int], Any]
    server: Callable[[Any], ServerParty]
    client: Callable[[Any, int, np.ndarray, Callable[[int], bytes]], ClientParty]
    restore: Callable[[bytes, Any, Callable[[int], bytes]], ClientParty]
    minimum: Callable[[Any], int]  # fewest survivors the round accepts
    secret_messages: tuple[int, ...]  # message types that would reveal too much if sent
    before_upload: int  # messages a client sends before its input (masked or encrypted)


def cohort(config: Any) -> tuple[int, ...]:
    return tuple(getattr(config, "clients", range(1, getattr(config, "num_clients", 0) + 1)))


def inputs_for(config: Any, seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    bound = QUANT.max_weight * QUANT.levels
    return {
        c: rng.integers(0, bound, DIM + 1, dtype=np.uint64, endpoint=True).astype(np.uint32)
        for c in cohort(config)
    }


def entropies(config: Any) -> dict[int, CountingEntropy]:
    return {c: CountingEntropy(b"client-%d" % c) for c in cohort(config)}


def masking(graph: Graph) -> Backend:
    def config(n: int) -> MaskingConfig:
        return MaskingConfig.create(graph, n, DIM, QUANT, round_number=9)

    return Backend(
        name="secagg" if graph is Graph.COMPLETE else "secagg+",
        config=config,
        server=MaskingServer,
        client=lambda cfg, c, x, e: MaskingClient(cfg, c, x, entropy=e),
        restore=lambda data, cfg, e: MaskingClient.restore(data, cfg, entropy=e),
        minimum=lambda cfg: cfg.threshold + 1,
        secret_messages=(6,),  # UNMASKING_REQUEST
        before_upload=2,
    )


def paillier(key: PrivateKey) -> Backend:
    def config(n: int) -> PaillierConfig:
        return PaillierConfig(9, DIM, QUANT, tuple(range(1, n + 1)))

    return Backend(
        name="paillier",
        config=config,
        server=PaillierServer,
        client=lambda cfg, c, x, e: PaillierClient(
            cfg, c, x, key=key if c == cfg.key_holder else None, entropy=e
        ),
        restore=lambda data, cfg, e: PaillierClient.restore(data, cfg, entropy=e),
        minimum=lambda cfg: cfg.minimum,
        secret_messages=(18,),  # PAILLIER_DECRYPTION_REQUEST
        before_upload=0,
    )


def plain() -> Backend:
    def config(n: int) -> PlainConfig:
        return PlainConfig(n, DIM, QUANT, round_number=9, min_survivors=max(2, n // 2))

    return Backend(
        name="plain",
        config=config,
        server=PlainServer,
        client=lambda cfg, c, x, e: PlainClient(cfg, c, x, entropy=e),
        restore=lambda data, cfg, e: PlainClient.restore(data, cfg, entropy=e),
        minimum=lambda cfg: cfg.min_survivors,
        secret_messages=(),
        before_upload=0,
    )


def expected_sum(inputs: Mapping[int, np.ndarray], survivors) -> np.ndarray:
    total = np.zeros(DIM + 1, dtype=np.uint64)
    for c in survivors:
        total += inputs[c].astype(np.uint64)
    return total & np.uint64((1 << QUANT.k) - 1)
