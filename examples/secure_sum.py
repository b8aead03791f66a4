"""Secure summation of numpy vectors: the README's example, with its check.

Twenty clients hold float vectors; one vanishes before uploading. SecAgg+ returns the
weighted mean of the 19 survivors (within one quantization step of the plain mean)
while the server sees only masked vectors. Run: ``python examples/secure_sum.py
[--protocol secagg|secagg+|paillier] [--clients N] [--dim D] [--json]``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

import secagg
from secagg.quantize import QuantizationConfig, quantization_error_bound


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", default="secagg+", choices=["secagg", "secagg+", "paillier"])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--dim", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)

    updates = [np.random.default_rng(i).normal(0, 0.1, args.dim).astype(np.float32)
               for i in range(args.clients)]
    weights = [1 + i % 3 for i in range(args.clients)]  # e.g. local sample counts
    gone = 3 if args.protocol != "paillier" else args.clients - 1  # Paillier: 0 holds the key
    result = secagg.run_round(args.protocol, updates, weights=weights,
                              dropouts={gone: secagg.DropStage.MASKED_INPUT})

    alive = [i for i in range(args.clients) if i != gone]
    plain = np.average([updates[i] for i in alive], axis=0, weights=[weights[i] for i in alive])
    error = float(np.max(np.abs(result.mean - plain)))
    bound = quantization_error_bound(QuantizationConfig(max_clients=args.clients,
                                                        max_weight=max(weights)))
    report = {
        "protocol": args.protocol,
        "survivors": len(result.survivors),
        "max_error": error,
        "quantization_step": bound,
        "within_one_step": error <= bound,
        "client_cpu_ms": 1e3 * result.metrics.client_cpu_s,
        "server_cpu_ms": 1e3 * result.metrics.server_cpu_s,
        "bytes_up_per_client": result.metrics.bytes_up_per_client,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{args.protocol}: {report['survivors']} of {args.clients} clients summed; "
              f"largest error against the plain mean {error:.2e} (one step: {bound:.2e}); "
              f"client {report['client_cpu_ms']:.1f} ms, server {report['server_cpu_ms']:.1f} ms")
    return 0 if report["within_one_step"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
