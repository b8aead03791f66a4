"""Packed DJN Paillier against phe's per-value encryption, at the issue's sizes.

Measures, for d parameters (default 1,000,000), a 2048-bit key and 16-bit quantization
with a budget of 100 clients:

- client: quantize/weight, then key validation + DJN table + pack + encrypt + encode
  (one core, CPU seconds), and phe's ``PaillierPublicKey.encrypt`` of floats on a
  subset of values in the same run; the ratio is per parameter.
- server: validating and multiplying in 100 uploads, then closing the stage. The same
  client's ciphertext vector is reused 100 times with the sender id rewritten in the
  header (so the server sees 100 distinct clients; the arithmetic is identical).
- key holder: CRT decryption of the aggregate on a pool of --workers processes
  (wall seconds, and CPU seconds of this process plus the workers). The key is made
  before the round, as under a key-reuse policy (``secagg.paillier.KeyPolicy``): the
  key holder's CPU per round is publishing the key plus decrypting, without key
  generation, and is reported with its ratio to the floor, the same number of CRT
  exponentiations (two per ciphertext, mod p^2 and q^2) measured in the same process.
- ciphertext bytes per parameter of one upload message.

Writes JSON to --out and prints it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from benchmarks.floor import Exponentiations, exponentiation_floor
from secagg.codec import HEADER_BYTES
from secagg.paillier import (
    ExponentMode,
    KeyHolder,
    PaillierClient,
    PaillierConfig,
    PaillierServer,
    generate_keypair,
)
from secagg.paillier.djn import best_window, exponent_bits
from secagg.quantize import QuantizationConfig
from secagg.weighting import encode_weighted

_SENDER_OFFSET = HEADER_BYTES - 8  # sender u32, then recipient u32, end the header


_T = TypeVar("_T")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(fn: Callable[[], _T]) -> tuple[_T, float, float]:
    """(result, CPU seconds of this process and its finished children, wall seconds)."""
    cpu, children, wall = time.process_time(), _children_cpu(), time.perf_counter()
    out = fn()
    cpu_s = time.process_time() - cpu + _children_cpu() - children
    return out, cpu_s, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dim", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--key-bits", type=int, default=2048)
    parser.add_argument("--bits", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--phe-subset", type=int, default=200)
    parser.add_argument("--exponent", choices=["half", "short"], default="half")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/paillier_perf.json"))
    args = parser.parse_args()

    quant = QuantizationConfig(clip=1.0, bits=args.bits, max_clients=args.clients)
    clients = tuple(range(1, args.clients + 1))
    config = PaillierConfig(
        round_number=0,
        dim=args.dim,
        quantization=quant,
        clients=clients,
        key_bits=args.key_bits,
        exponent=ExponentMode.HALF if args.exponent == "half" else ExponentMode.SHORT,
    )
    update = np.frombuffer(os.urandom(8 * args.dim), dtype=np.uint64) / 2.0**64 * 2.0 - 1.0

    key, keygen_cpu, _ = _timed(lambda: generate_keypair(args.key_bits))
    holder = KeyHolder(config, key=key, workers=args.workers)
    server = PaillierServer(config)
    published, publish_cpu, _ = _timed(holder.start)
    server.receive(config.key_holder, published)
    key_message = server.close()[2]

    vector, encode_cpu, encode_wall = _timed(lambda: encode_weighted(update, 1, quant))
    client = PaillierClient(config, 2, vector)
    upload, encrypt_cpu, encrypt_wall = _timed(lambda: client.handle(key_message))
    client_cpu = encode_cpu + encrypt_cpu
    client_wall = encode_wall + encrypt_wall

    phe_key = key.public.to_phe()
    subset = [float(v) for v in update[: args.phe_subset]]
    _, phe_cpu, _ = _timed(lambda: [phe_key.encrypt(v) for v in subset])
    phe_per_param = phe_cpu / len(subset)
    ours_per_param = client_cpu / args.dim

    def server_sum() -> bytes:
        for cid in clients:
            data = upload[:_SENDER_OFFSET] + struct.pack(">I", cid) + upload[_SENDER_OFFSET + 4 :]
            server.receive(cid, data)
        return server.close()[config.key_holder]

    request, server_cpu, server_wall = _timed(server_sum)
    # The floor is timed on 1024 sampled exponentiations just before the decryption,
    # on the otherwise idle core, and scaled to the count.
    crt = [Exponentiations(2 * config.ciphertexts, args.key_bits, args.key_bits // 2)]
    floor_cpu = exponentiation_floor(crt, sample=1024)
    answer, holder_cpu_total, holder_wall = _timed(lambda: holder.handle(request))
    server.receive(config.key_holder, answer)
    server.close()
    aggregate = server.result.aggregate
    expected = vector.astype(np.uint64) * args.clients
    exact = bool(np.array_equal(aggregate.astype(np.uint64), expected))
    holder_round_cpu = publish_cpu + holder_cpu_total

    result = {
        "dim": args.dim,
        "key_bits": args.key_bits,
        "quant_bits": args.bits,
        "max_clients": args.clients,
        "slot_bits": config.packing.slot_bits,
        "slots_per_ciphertext": config.packing.slots,
        "ciphertexts": config.ciphertexts,
        "exponent": args.exponent,
        "window": best_window(exponent_bits(config.exponent, args.key_bits), config.ciphertexts),
        "keygen_cpu_s": keygen_cpu,
        "client_encode_cpu_s": encode_cpu,
        "client_encrypt_cpu_s": encrypt_cpu,  # key check, DJN table, pack, encrypt
        "client_total_cpu_s": client_cpu,
        "client_total_wall_s": client_wall,
        "phe_encrypt_subset": len(subset),
        "phe_encrypt_per_param_s": phe_per_param,
        "client_per_param_s": ours_per_param,
        "speedup_per_param_vs_phe": phe_per_param / ours_per_param,
        "server_sum_clients": args.clients,
        "server_sum_note": "one client's upload reused for every client, sender id rewritten",
        "server_sum_cpu_s": server_cpu,
        "server_sum_wall_s": server_wall,
        "keyholder_workers": args.workers,
        "keyholder_decrypt_wall_s": holder_wall,
        "keyholder_decrypt_cpu_s": holder_cpu_total,
        "keyholder_publish_cpu_s": publish_cpu,
        "keyholder_round_cpu_s_with_key_reuse": holder_round_cpu,
        "keyholder_floor_cpu_s": floor_cpu,
        "keyholder_floor": "2 CRT exponentiations per ciphertext (mod p^2, q^2, |p|-bit exponents)",
        "keyholder_ratio_to_floor": holder_round_cpu / floor_cpu,
        "upload_bytes": len(upload),
        "ciphertext_bytes_per_param": len(upload) / args.dim,
        "bytes_per_param_limit": 1.7 * 4,
        "aggregate_exact": exact,
        "targets_met": {
            "client_speedup_ge_1000": phe_per_param / ours_per_param >= 1000,
            "server_sum_le_20s": server_wall <= 20,
            "keyholder_decrypt_le_50s": holder_wall <= 50,
            "bytes_per_param_le_6.8": len(upload) / args.dim <= 6.8,
        },
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
