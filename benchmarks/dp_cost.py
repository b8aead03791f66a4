"""The cost of distributed DP on a client: ``python -m benchmarks dp [--reps N]``.

For an update of 1M coordinates, measured side by side in one process:

- CPU seconds (thread time) of the DP encoding (:func:`secagg.dp.encode`: rotation, L2
  clip, scale, stochastic rounding, DDG or Skellam noise, mod 2^b) against plain
  quantization at the same bits (:func:`secagg.weighting.encode_weighted`), median over
  repetitions; the noise tables are built once per configuration (cached across rounds)
  and reported apart;
- the bytes one client uploads in a SecAgg+ round of 10 clients (its masked input, the
  column-packed k-bit vector), DP-encoded against quantized, at the same bits.

Targets (docs/dp.md): the DP encoding at most 0.2 s CPU per client, and at most 1.5x
the plain quantization's bytes. Writes benchmarks/results/dp_cost.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.sweep import git_commit, machine
from secagg.dp import DPConfig, Mechanism, encode, rotation_seed
from secagg.dp.samplers import discrete_gaussian_table, skellam_table
from secagg.quantize import QuantizationConfig
from secagg.result import Backend
from secagg.simulation import simulate_round
from secagg.weighting import encode_weighted

OUT = Path("benchmarks/results/dp_cost.json")
DIM = 1_000_000
CLIENTS = 10
TARGET_S = 0.2
TARGET_BYTES = 1.5


def _cpu(fn: Callable[[], object]) -> float:
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def _upload_bytes(protected: dict[int, np.ndarray], dim: int, quant: QuantizationConfig) -> float:
    run = simulate_round(Backend.SECAGG_PLUS, protected, dim, quant, {})
    return float(np.median([run.bytes_up[c] for c in protected]))


def measure(bits: int, reps: int, dim: int = DIM) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    update = (rng.normal(size=dim) / np.sqrt(dim)).astype(np.float32)
    plain_quant = QuantizationConfig(clip=0.01, bits=bits, max_clients=CLIENTS, max_weight=1)
    out: dict[str, Any] = {"bits": bits, "dim": dim, "clients": CLIENTS}
    plain = [_cpu(lambda: encode_weighted(update, 1, plain_quant)) for _ in range(reps)]
    out["plain_quantize_s"] = statistics.median(plain)
    for mechanism in Mechanism:
        config = DPConfig(mechanism, 1.0, 1.0, CLIENTS, bits, dim)
        table = discrete_gaussian_table if mechanism is Mechanism.DDG else skellam_table
        table.cache_clear()
        variance = config.noise_variance
        build = _cpu(partial(table, variance))
        times = [_cpu(partial(encode, update, config, rotation_seed(1))) for _ in range(reps)]
        out[mechanism.value] = {
            "encode_s": statistics.median(times),
            "encode_s_max": max(times),
            "table_build_s": build,
            "scale": config.scale,
            "noise_std": config.noise_variance**0.5,
            "ratio_to_plain": statistics.median(times) / out["plain_quantize_s"],
        }
    # Bytes: a SecAgg+ round of 3 clients at the full length (the upload of one client
    # does not depend on the cohort beyond k's log2 n bits, set by CLIENTS above).
    dp_config = DPConfig(Mechanism.DDG, 1.0, 1.0, CLIENTS, bits, dim)
    seed = rotation_seed(2)
    dp_vectors = {c: encode(update, dp_config, seed).protected for c in (1, 2, 3)}
    quantized = {c: encode_weighted(update, 1, plain_quant) for c in (1, 2, 3)}
    dp_bytes = _upload_bytes(dp_vectors, dp_config.padded_dim, dp_config.quantization)
    plain_bytes = _upload_bytes(quantized, dim, plain_quant)
    out["bytes"] = {
        "dp_upload": dp_bytes,
        "plain_upload": plain_bytes,
        "ratio": dp_bytes / plain_bytes,
        "dp_modulus_bits": dp_config.quantization.k,
        "plain_modulus_bits": plain_quant.k,
        "padded_dim": dp_config.padded_dim,
    }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks dp", description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--dim", type=int, default=DIM)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    points = [measure(bits, args.reps, args.dim) for bits in (16, 20)]
    data = {
        "command": f"python -m benchmarks dp --reps {args.reps}"
        + (f" --dim {args.dim}" if args.dim != DIM else ""),
        "git_commit": git_commit(),
        "machine": machine(),
        "targets": {"encode_s": TARGET_S, "bytes_ratio": TARGET_BYTES},
        "points": points,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    for p in points:
        print(
            f"{p['bits']} bits: plain {p['plain_quantize_s']:.3f} s, DDG "
            f"{p['ddg']['encode_s']:.3f} s, Skellam {p['skellam']['encode_s']:.3f} s, "
            f"bytes x{p['bytes']['ratio']:.3f}"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
