"""Party factories for the protocol-level tests: one round of any backend, built from
its configuration, with inputs and a deterministic entropy source per client."""

from __future__ import annotations

import functools

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from secagg.masking import Graph, MaskingClient, MaskingConfig, MaskingServer
from secagg.paillier import PaillierClient, PaillierConfig, PaillierServer, PrivateKey
from secagg.plain import PlainClient, PlainConfig, PlainServer
from secagg.protocol import ClientParty, ServerParty
from secagg.primitives.signatures import IdentityKey
from secagg.protocol.identity import Roster, Security, generate_cohort
from secagg.protocol.state import RestoreGuard
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


MODEL = bytes(range(32))
# Paillier's cohort may be any subset of its roster: one roster serves every size.
ROSTER, IDENTITIES = generate_cohort(range(1, 17), CountingEntropy(b"identities"))
@functools.cache
def cohort_of(n: int) -> tuple[Roster, dict[int, IdentityKey]]:
    """The identities of a malicious-mode cohort of n clients (one roster per size:
    a malicious masking round runs its whole roster)."""
    return generate_cohort(range(1, n + 1), CountingEntropy(b"identities-%d" % n))


def _guard(malicious: bool) -> dict[str, Any]:
    """The malicious mode restores only with a guard (a fresh one: these tests restore
    each saved state once)."""
    return {"guard": RestoreGuard()} if malicious else {}


def masking(graph: Graph, security: Security = Security.HONEST) -> Backend:
    malicious = security is Security.MALICIOUS

    def guarded() -> dict[str, Any]:
        return _guard(malicious)

    def config(n: int) -> MaskingConfig:
        extra = (
            {"security": security, "max_corrupt": 1, "roster": cohort_of(n)[0]}
            if malicious
            else {}
        )
        return MaskingConfig.create(graph, n, DIM, QUANT, round_number=9, **extra)

    def who(cfg: MaskingConfig) -> dict[str, Any]:
        return {"roster": cohort_of(cfg.num_clients)[0]} if malicious else {}

    def identity(cfg: MaskingConfig, c: int) -> dict[str, Any]:
        if not malicious:
            return {}
        roster, identities = cohort_of(cfg.num_clients)
        return {"identity": identities[c], "roster": roster}

    return Backend(
        name=("secagg" if graph is Graph.COMPLETE else "secagg+") + ("-malicious" * malicious),
        config=config,
        server=lambda cfg: (
            MaskingServer(cfg, model_digest=MODEL, **who(cfg)) if malicious else MaskingServer(cfg)
        ),
        client=lambda cfg, c, x, e: MaskingClient(
            cfg,
            c,
            x,
            entropy=e,
            **identity(cfg, c),
            **({"model_digest": MODEL} if malicious else {}),
        ),
        restore=lambda data, cfg, e: MaskingClient.restore(
            data, cfg, entropy=e, **identity(cfg, _client_of(data)), **guarded()
        ),
        minimum=lambda cfg: cfg.threshold + 1,
        secret_messages=(6,),  # UNMASKING_REQUEST
        before_upload=2,
    )


def _client_of(saved: bytes) -> int:
    """The client id in a saved state's header (bytes 37..41)."""
    return int.from_bytes(saved[37:41], "big")


def paillier(key: PrivateKey, security: Security = Security.HONEST) -> Backend:
    malicious = security is Security.MALICIOUS

    def guarded() -> dict[str, Any]:
        return _guard(malicious)

    def config(n: int) -> PaillierConfig:
        extra = {"security": security, "roster_digest": ROSTER.digest} if malicious else {}
        return PaillierConfig(9, DIM, QUANT, tuple(range(1, n + 1)), **extra)

    def identity(c: int) -> dict[str, Any]:
        if not malicious:
            return {}
        return {"identity": IDENTITIES[c], "roster": ROSTER, "model_digest": MODEL}

    return Backend(
        name="paillier" + ("-malicious" * malicious),
        config=config,
        server=lambda cfg: (
            PaillierServer(cfg, roster=ROSTER, model_digest=MODEL)
            if malicious
            else PaillierServer(cfg)
        ),
        client=lambda cfg, c, x, e: PaillierClient(
            cfg, c, x, key=key if c == cfg.key_holder else None, entropy=e, **identity(c)
        ),
        restore=lambda data, cfg, e: PaillierClient.restore(
            data, cfg, entropy=e, **identity(_client_of(data)), **guarded()
        ),
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
