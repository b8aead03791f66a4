"""Drive n masking clients and the server in one process over the real message bytes.

Every message is encoded by its sender and decoded by its receiver with the round's
configuration, exactly as a transport would carry it. A client listed in ``dropouts``
vanishes at its stage: it sends nothing from that stage on. A client that refuses a
message (and aborts) is treated the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.errors import AbortError, MessageError, RefusedRequestError, SecAggError
from secagg.masking.client import MaskingClient
from secagg.masking.config import Graph, MaskingConfig
from secagg.masking.messages import (
    ForwardedShares,
    KeyBroadcast,
    UnmaskingRequest,
)
from secagg.masking.server import MaskingOutcome, MaskingServer
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.quantize import QuantizationConfig
from secagg.result import DropStage, Protocol, RoundMetrics, RoundResult
from secagg.timing import SERVER, CpuLedger
from secagg.weighting import decode_weighted, encode_weighted, protected_length

_ORDER = list(DropStage)


@dataclass(frozen=True, eq=False)
class MaskingRun:
    """Outcome of a simulated round with its costs (ids are protocol ids, 1..n)."""

    outcome: MaskingOutcome
    ledger: CpuLedger
    bytes_up: dict[int, int]
    bytes_down: dict[int, int]
    refused: dict[int, str]  # client id -> why it stopped (its own refusal or the server's)
    mask_vectors: int  # PRG vectors of length dim expanded by all parties together


def graph_for(protocol: Protocol) -> Graph:
    if protocol is Protocol.SECAGG:
        return Graph.COMPLETE
    if protocol is Protocol.SECAGG_PLUS:
        return Graph.HARARY
    raise ValueError(f"{protocol.value} is not a masking protocol")


def simulate_masking(
    config: MaskingConfig,
    inputs: Mapping[int, npt.NDArray[np.unsignedinteger]],
    dropouts: Mapping[int, DropStage],
    *,
    round_number: int = 0,
    entropy: Entropy = system_entropy,
) -> MaskingRun:
    """Run one round for clients ``1..n`` holding ``inputs`` (protected vectors in Z_{2^k}).

    ``dropouts`` maps a client id to the stage it vanishes at. Raises AbortError when the
    server aborts (too few survivors); nothing individual has been revealed then.
    """
    ledger = CpuLedger()
    up: dict[int, int] = defaultdict(int)
    down: dict[int, int] = defaultdict(int)
    refused: dict[int, str] = {}
    server = MaskingServer(config, round_number=round_number)
    clients = {
        cid: MaskingClient(config, cid, round_number=round_number, entropy=entropy)
        for cid in range(1, config.num_clients + 1)
    }

    def present(cid: int, stage: DropStage) -> bool:
        if cid in refused:
            return False
        drop = dropouts.get(cid)
        return drop is None or _ORDER.index(drop) > _ORDER.index(stage)

    def upload(cid: int, stage: DropStage, data: bytes) -> None:
        up[cid] += len(data)
        with ledger.charge(SERVER, stage.value):
            try:
                server.receive_bytes(data)
            except MessageError as exc:
                refused[cid] = f"server refused: {exc}"

    def deliver(
        stage: DropStage, outbox: Mapping[int, KeyBroadcast | ForwardedShares | UnmaskingRequest]
    ) -> dict[int, bytes]:
        encoded = {}
        for cid, message in outbox.items():
            if present(cid, stage):
                with ledger.charge(SERVER, stage.value):
                    encoded[cid] = message.encode()
                down[cid] += len(encoded[cid])
        return encoded

    stage = DropStage.ADVERTISE_KEYS
    for cid, client in clients.items():
        if present(cid, stage):
            with ledger.charge(cid, stage.value):
                data = client.advertise_keys().encode()
            upload(cid, stage, data)
    with ledger.charge(SERVER, stage.value):
        broadcasts = server.close_keys()

    stage = DropStage.SHARE_KEYS
    for cid, data in deliver(stage, broadcasts).items():
        try:
            with ledger.charge(cid, stage.value):
                reply = clients[cid].share_keys(KeyBroadcast.decode(data, config)).encode()
        except SecAggError as exc:
            refused[cid] = f"client refused: {exc}"
            continue
        upload(cid, stage, reply)
    with ledger.charge(SERVER, stage.value):
        forwarded = server.close_shares()

    stage = DropStage.MASKED_INPUT
    for cid, data in deliver(stage, forwarded).items():
        try:
            with ledger.charge(cid, stage.value):
                shares = ForwardedShares.decode(data, config)
                reply = clients[cid].masked_input(shares, inputs[cid]).encode()
        except SecAggError as exc:
            refused[cid] = f"client refused: {exc}"
            continue
        upload(cid, stage, reply)
    with ledger.charge(SERVER, stage.value):
        requests = server.close_inputs()

    stage = DropStage.UNMASKING
    for cid, data in deliver(stage, requests).items():
        try:
            with ledger.charge(cid, stage.value):
                reply = clients[cid].unmask(UnmaskingRequest.decode(data, config)).encode()
        except RefusedRequestError as exc:
            refused[cid] = f"client refused: {exc}"
            continue
        upload(cid, stage, reply)
    with ledger.charge(SERVER, stage.value):
        outcome = server.close_unmasking()
    # Client u expands b_u and one mask per live neighbour; the server expands b_u per
    # survivor and one mask per (dropped client, surviving neighbour) pair.
    uploaded = set(outcome.survivors)
    client_masks = sum(1 + clients[c].live_neighbours for c in uploaded)
    server_masks = len(uploaded) + sum(
        len(server.neighbours_of(c) & uploaded) for c in outcome.dropped
    )
    return MaskingRun(outcome, ledger, dict(up), dict(down), refused, client_masks + server_masks)


def run_masking_round(
    protocol: Protocol,
    updates: Sequence[npt.NDArray[np.floating]],
    weights: Sequence[int],
    quantization: QuantizationConfig,
    dropouts: Mapping[int, DropStage],
    *,
    neighbours: int | None = None,
    threshold: int | None = None,
    round_number: int = 0,
    entropy: Entropy = system_entropy,
) -> RoundResult:
    """Quantize, run SecAgg / SecAgg+ in process, and return the weighted mean.

    Positions in ``updates`` and ``dropouts`` are 0-based; protocol ids are position + 1.
    """
    config = MaskingConfig.create(
        graph_for(protocol),
        len(updates),
        protected_length(updates[0].size),
        quantization.k,
        neighbours,
        threshold,
    )
    ledger = CpuLedger()
    inputs = {}
    for pos, (x, w) in enumerate(zip(updates, weights, strict=True)):
        with ledger.charge(pos + 1, "quantize"):
            inputs[pos + 1] = encode_weighted(x, w, quantization, entropy)
    run = simulate_masking(
        config,
        inputs,
        {pos + 1: stage for pos, stage in dropouts.items()},
        round_number=round_number,
        entropy=entropy,
    )
    ledger.merge(run.ledger)
    with ledger.charge(SERVER, "dequantize"):
        decoded = decode_weighted(run.outcome.aggregate, quantization)
    return RoundResult(
        aggregate=run.outcome.aggregate,
        mean=decoded.mean,
        total_weight=decoded.total_weight,
        survivors=tuple(cid - 1 for cid in run.outcome.survivors),
        metrics=masking_metrics(protocol, config, quantization, run, ledger),
    )


def masking_metrics(
    protocol: Protocol,
    config: MaskingConfig,
    quantization: QuantizationConfig,
    run: MaskingRun,
    ledger: CpuLedger,
) -> RoundMetrics:
    """Costs of a round; bytes are averaged over the clients whose input was summed."""
    uploaded = run.outcome.survivors
    return RoundMetrics(
        protocol=protocol,
        clients=config.num_clients,
        neighbours=config.neighbours,
        threshold=config.threshold,
        dim=config.dim - 1,
        bits=quantization.bits,
        modulus_bits=config.modulus_bits,
        survivors=len(uploaded),
        client_cpu_s=ledger.client_median(),
        client_cpu_s_max=ledger.client_max(),
        server_cpu_s=ledger.by_party.get(SERVER, 0.0),
        keyholder_cpu_s=0.0,
        stage_cpu_s=dict(ledger.by_stage),
        bytes_up_per_client=float(np.mean([run.bytes_up[c] for c in uploaded])),
        bytes_down_per_client=float(np.mean([run.bytes_down.get(c, 0) for c in uploaded])),
    )


__all__ = ["AbortError", "MaskingRun", "run_masking_round", "simulate_masking"]
