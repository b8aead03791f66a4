"""The malicious-server mode's cost beside the honest mode::

    python -m benchmarks malicious [--reps N] [--quick] [--out PATH]

For each point (SecAgg+ at 50 clients x d = 1e6 and at 1000 clients x d = 1e5, 10%
dropout at a random stage per client) three variants run in turn, each repetition in a
fresh process (``python -m benchmarks round --json``) with the same seed:

- ``honest``: today's default mode;
- ``malicious``: signed keys, consistency round, model binding and the roster-fixed
  ring, withstanding the default n // 20 clients colluding with the server;
- ``malicious-server-alone``: the same protocol with ``max_corrupt = 0``.

The ratio reported is total CPU (all parties, quantization included) of a malicious
run over the honest run of the same repetition, median over repetitions. The Ed25519
verification and X25519 costs are measured in the same run, so the overhead can be
split into signature checks and the larger graph the collusion bound needs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import timeit
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from benchmarks.sweep import git_commit, machine

OUT = Path("benchmarks/results/malicious.json")


@dataclass(frozen=True)
class MaliciousPoint:
    """One cohort size and dimension, and the overhead the issue allows there."""

    clients: int
    dim: int
    target: float  # the largest acceptable total-CPU ratio malicious / honest
    dropout: float = 0.1


POINTS = (MaliciousPoint(50, 1_000_000, 1.10), MaliciousPoint(1000, 100_000, 1.30))
QUICK_POINTS = (MaliciousPoint(40, 2_000, 1.10), MaliciousPoint(120, 1_000, 1.30))
VARIANTS: dict[str, list[str]] = {
    "honest": ["--security", "honest"],
    "malicious": ["--security", "malicious"],
    "malicious-server-alone": ["--security", "malicious", "--max-corrupt", "0"],
}
# Per-run fields kept in the JSON (the round's report has more).
KEPT = (
    "neighbours",
    "threshold",
    "max_corrupt",
    "survivors",
    "exact",
    "signature_checks",
    "mask_vectors",
    "total_cpu_s",
    "protocol_cpu_s",
    "stage_cpu_s",
    "bytes_up_per_client",
)


def run_once(point: MaliciousPoint, variant: str, seed: int) -> dict[str, Any]:
    """One round in a fresh process; its report restricted to :data:`KEPT`.
    Raises RuntimeError when the round fails."""
    args = [
        sys.executable, "-m", "benchmarks", "round", "--protocol", "secagg+",
        "--clients", str(point.clients), "--dim", str(point.dim),
        "--dropout", str(point.dropout), "--seed", str(seed), "--json",
        *VARIANTS[variant],
    ]  # fmt: skip
    done = subprocess.run(
        args,
        cwd=Path(__file__).resolve().parents[1],  # the checkout: benchmarks is not installed
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{variant} at {point}: {done.stderr.strip()}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return {key: report.get(key) for key in KEPT}


def primitive_costs(number: int = 2000) -> dict[str, float]:
    """Microseconds per Ed25519 verification, Ed25519 signature and X25519 agreement,
    measured now (a loaded public key, a 200-byte statement)."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    statement = bytes(200)
    signature = key.sign(statement)
    dh, peer = X25519PrivateKey.generate(), X25519PrivateKey.generate().public_key()

    def per_call_us(fn: Any) -> float:
        return min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e6

    return {
        "ed25519_verify_us": per_call_us(lambda: public.verify(signature, statement)),
        "ed25519_sign_us": per_call_us(lambda: key.sign(statement)),
        "x25519_us": per_call_us(lambda: dh.exchange(peer)),
    }


def summarize(point: MaliciousPoint, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians per variant and per-repetition ratios to the honest run."""
    honest = runs["honest"]
    out: dict[str, Any] = {
        "clients": point.clients,
        "dim": point.dim,
        "dropout": point.dropout,
        "target": point.target,
        "variants": {},
    }
    for name, rows in runs.items():
        ratios = [r["total_cpu_s"] / h["total_cpu_s"] for r, h in zip(rows, honest, strict=True)]
        stages = {s for r in rows for s in r["stage_cpu_s"]}
        out["variants"][name] = {
            "neighbours": rows[0]["neighbours"],
            "threshold": rows[0]["threshold"],
            "max_corrupt": rows[0]["max_corrupt"],
            "signature_checks": statistics.median(r["signature_checks"] for r in rows),
            "mask_vectors": statistics.median(r["mask_vectors"] for r in rows),
            "exact": all(r["exact"] for r in rows),
            "total_cpu_s": statistics.median(r["total_cpu_s"] for r in rows),
            "stage_cpu_s": {
                s: statistics.median(r["stage_cpu_s"].get(s, 0.0) for r in rows)
                for s in sorted(stages)
            },
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "runs": rows,
        }
    return out


def run(points: Sequence[MaliciousPoint], reps: int, *, quick: bool) -> dict[str, Any]:
    """Every point's variants, alternating within each repetition."""
    started = datetime.now(UTC).isoformat(timespec="seconds")
    results = []
    for point in points:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
        for rep in range(reps):
            for name in VARIANTS:
                runs[name].append(run_once(point, name, seed=rep))
                print(
                    f"{point.clients} x {point.dim} rep {rep + 1}/{reps} {name}: "
                    f"{runs[name][-1]['total_cpu_s']:.2f} s",
                    file=sys.stderr,
                )
        results.append(summarize(point, runs))
    return {
        "command": "python -m benchmarks malicious"
        + (" --quick" if quick else "")
        + f" --reps {reps}",
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "machine": machine(),
        "primitives": primitive_costs(),
        "reps": reps,
        "points": results,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks malicious",
        description="the malicious-server mode's CPU beside the honest mode",
    )
    parser.add_argument("--reps", type=int, default=5, help="repetitions per variant")
    parser.add_argument("--quick", action="store_true", help="small points, for a smoke run")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    data = run(QUICK_POINTS if args.quick else POINTS, args.reps, quick=args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
