"""In-process Paillier rounds: the key holder, n clients and the server exchanging the
real encoded messages, with dropouts injected. Called by :func:`secagg.simulation.run_round`.
"""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from functools import partial

import numpy as np
import numpy.typing as npt

from secagg.errors import AbortError, ConfigurationError
from secagg.paillier.keys import PrivateKey, generate_keypair
from secagg.paillier.naive import measure_naive
from secagg.paillier.protocol import KeyHolder, PaillierClient, PaillierServer
from secagg.paillier.session import PaillierConfig
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.quantize import QuantizationConfig
from secagg.result import DropStage, Protocol, RoundMetrics, RoundResult
from secagg.timing import KEY_HOLDER, SERVER, CpuLedger
from secagg.weighting import decode_weighted, encode_weighted

NAIVE_SUBSET = 32  # values per client that the naive baseline really encrypts


def run_paillier_round(
    protocol: Protocol,
    updates: list[np.ndarray],
    weights: list[int],
    quantization: QuantizationConfig,
    dropouts: dict[int, DropStage],
    *,
    key_bits: int = 2048,
    round_number: int = 0,
    entropy: Entropy = system_entropy,
    key: PrivateKey | None = None,
    workers: int | None = None,
    naive_subset: int = NAIVE_SUBSET,
    record_inputs: dict[int, npt.NDArray[np.unsignedinteger]] | None = None,
) -> RoundResult:
    """Run one Paillier round; position i is client i + 1, and client 1 is the key holder.

    ``dropouts`` maps a position to the stage at which it vanishes: before UNMASKING it
    never uploads; at UNMASKING it uploads and then vanishes (harmless for an ordinary
    client, since clients take no part in decryption). If the key holder drops at any
    stage, it is gone before decryption: the round aborts with AbortError and nothing is
    decrypted. ``key`` reuses a key pair (tests); ``workers`` processes decrypt (default
    min(2, CPUs)); ``record_inputs``, when given, receives each uploader's protected
    vector by position, so a simulator can check the aggregate against a plain sum.

    For ``paillier-naive`` the aggregate still comes from the packed protocol (so it is
    exact), but the reported costs are phe's: each client encrypts its first
    ``naive_subset`` protected values as floats with ``PaillierPublicKey.encrypt``, the
    server adds those EncryptedNumbers over the survivors, the key holder decrypts their
    sum; each measured time, and the upload bytes (ciphertext + exponent per value), are
    scaled by length / subset, and ``extrapolated`` is True whenever subset < length.
    Key generation is measured, not extrapolated.

    Raises AbortError (key holder gone, or no upload), ConfigurationError for bad
    settings, InputError for bad updates.
    """
    if protocol not in (Protocol.PAILLIER, Protocol.PAILLIER_NAIVE):
        raise ConfigurationError(f"{protocol} is not a Paillier protocol")
    count = len(updates)
    if count == 0 or len(weights) != count:
        raise ConfigurationError("one weight per update, at least one update")
    config = PaillierConfig(
        round_number=round_number,
        dim=int(updates[0].size),
        quantization=quantization,
        clients=tuple(range(1, count + 1)),
        key_holder=1,
        key_bits=key_bits,
    )
    pool = min(2, os.cpu_count() or 1) if workers is None else workers
    ledger = CpuLedger()
    sent: dict[int, int] = defaultdict(int)
    received: dict[int, int] = defaultdict(int)
    keyholder_gone = 0 in dropouts

    if keyholder_gone and dropouts[0] is DropStage.ADVERTISE_KEYS:
        raise AbortError("the key holder vanished before publishing its key; nothing encrypted")
    if key is None:
        key = ledger.run(KEY_HOLDER, "keygen", lambda: generate_keypair(key_bits, entropy))
    holder = KeyHolder(config, key=key, workers=pool, entropy=entropy)
    server = PaillierServer(config)
    key_message = ledger.run(KEY_HOLDER, "keygen", holder.publish)
    sent[0] += len(key_message)
    forward = ledger.run(SERVER, "keygen", lambda: server.receive_public_key(key_message))

    # Every stage before UNMASKING means "vanished before uploading".
    uploaders = [
        i for i in range(count) if dropouts.get(i, DropStage.UNMASKING) is DropStage.UNMASKING
    ]
    for i in uploaders:
        client = PaillierClient(config, i + 1, entropy=entropy)
        party = i  # the position; the key holder's decryption is KEY_HOLDER
        if i != 0:
            received[i] += len(forward)
        ledger.run(party, "setup", partial(client.receive_public_key, forward))
        vector = ledger.run(
            party, "encode", partial(encode_weighted, updates[i], weights[i], quantization, entropy)
        )
        if record_inputs is not None:
            record_inputs[i] = vector
        upload = ledger.run(party, "encrypt", partial(client.upload, vector))
        sent[i] += len(upload)
        ledger.run(SERVER, "sum", partial(server.receive_upload, upload))

    request = ledger.run(SERVER, "sum", server.close_uploads)
    if keyholder_gone:
        server.abort()
        holder.abort()
        raise AbortError("the key holder vanished before decrypting; the round is aborted")
    received[0] += len(request)
    answer = ledger.run(KEY_HOLDER, "decrypt", lambda: holder.decrypt(request))
    ledger.add(KEY_HOLDER, "decrypt", holder.worker_cpu_s)
    sent[0] += len(answer)
    aggregate = ledger.run(SERVER, "finish", lambda: server.receive_aggregate(answer))
    weighted = decode_weighted(aggregate, quantization)
    survivors = tuple(cid - 1 for cid in server.survivors)

    client_cpu = [ledger.by_party[i] for i in uploaders]
    server_cpu = ledger.by_party[SERVER]
    keyholder_cpu = ledger.by_party[KEY_HOLDER]
    stages = dict(ledger.by_stage)
    bytes_up = statistics.fmean(sent[i] for i in uploaders)
    bytes_down = statistics.fmean(received[i] for i in uploaders)
    extrapolated = False
    if protocol is Protocol.PAILLIER_NAIVE:
        naive = measure_naive(
            key=key,
            updates=[updates[i] for i in survivors],
            weights=[weights[i] for i in survivors],
            quantization=quantization,
            length=config.length,
            subset=naive_subset,
        )
        client_cpu = naive.client_cpu_s
        server_cpu = naive.server_cpu_s
        keyholder_cpu = stages.get("keygen", 0.0) + naive.keyholder_cpu_s
        stages = {
            "keygen": stages.get("keygen", 0.0),
            "encrypt": sum(naive.client_cpu_s),
            "sum": naive.server_cpu_s,
            "decrypt": naive.keyholder_cpu_s,
        }
        bytes_up = naive.bytes_up_per_client + (sent[0] - len(answer)) / len(uploaders)
        extrapolated = naive.extrapolated

    metrics = RoundMetrics(
        protocol=protocol,
        clients=count,
        neighbours=0,
        threshold=1,
        dim=config.dim,
        bits=quantization.bits,
        modulus_bits=config.packing.slot_bits,
        survivors=len(survivors),
        client_cpu_s=statistics.median(client_cpu),
        client_cpu_s_max=max(client_cpu),
        server_cpu_s=server_cpu,
        keyholder_cpu_s=keyholder_cpu,
        stage_cpu_s=stages,
        bytes_up_per_client=bytes_up,
        bytes_down_per_client=bytes_down,
        extrapolated=extrapolated,
    )
    return RoundResult(
        aggregate=aggregate,
        mean=weighted.mean,
        total_weight=weighted.total_weight,
        survivors=survivors,
        metrics=metrics,
    )
