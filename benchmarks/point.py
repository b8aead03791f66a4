"""One benchmark point, run in a fresh process: ``python -m benchmarks.point SPEC_JSON``.

A fresh process per point gives each point its own peak RSS and keeps one point's
memory (or crash) from touching the next. Prints one JSON object: a CSV row
(:data:`benchmarks.schema.COLUMNS`) plus ``notes``.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.floor import keystream_floor
from benchmarks.measure import measure, measure_phe
from benchmarks.schema import COLUMNS, STAGES
from secagg.masking.config import neighbours_for_dropout
from secagg.result import Backend
from secagg.scenario import Scenario


@dataclass(frozen=True)
class Point:
    """What one row measures. ``protocol`` is one of :data:`benchmarks.schema.PROTOCOLS`."""

    protocol: str
    clients: int
    dim: int
    dropout: float = 0.0
    bits: int = 16
    rep: int = 0

    def scenario(self, protocol: Backend) -> Scenario:
        # A different seed per repetition: new inputs and a new choice of who drops.
        return Scenario(
            protocol,
            clients=self.clients,
            dim=self.dim,
            dropout=self.dropout,
            bits=self.bits,
            seed=self.rep,
        )


_OURS = {"secagg": Backend.SECAGG, "secagg+": Backend.SECAGG_PLUS, "paillier": Backend.PAILLIER}


def run(point: Point) -> dict[str, Any]:
    """Measure ``point`` in this process; returns the CSV row."""
    wall = time.perf_counter()
    notes: list[str] = []
    if point.protocol in _OURS:
        report = measure(point.scenario(_OURS[point.protocol]))
        method = "measured"
    elif point.protocol == "phe-paillier":
        report = measure_phe(point.scenario(Backend.PAILLIER))
        method = "extrapolated" if report["extrapolated"] else "measured"
    elif point.protocol == "plain":
        from benchmarks.baselines import plain_round

        report = plain_round(point.scenario(Backend.SECAGG_PLUS))
        method = "measured"
    elif point.protocol == "flower-secagg+":
        report = _flower(point)
        method = str(report["method"])
        notes.append(
            f"flower-secagg+ is Flower {report['flwr_version']}'s own SecAgg+ "
            f"({method}: its SecAggPlusWorkflow and secaggplus_mod driven in one process "
            "through an in-memory Grid, messages through Flower's own codec); its dropped "
            "clients vanish before uploading; CPU is process time (Flower shares its "
            "secrets on a thread pool). Its ratio to floor leaves out its quantization, "
            "timed separately on same-size vectors (stage_quantize_s; Flower counts it "
            "inside its upload stage); its floor is our AES-CTR keystream for the same "
            "number of 32-bit mask vectors (Flower's own masks come from numpy's "
            "Mersenne Twister, which is not a cryptographic generator)."
        )
    else:
        raise ValueError(f"unknown protocol {point.protocol!r}")
    row = _row(point, report, method)
    row["wall_s"] = time.perf_counter() - wall
    row["peak_rss_mb"] = _peak_rss_mb()
    row["notes"] = notes
    return row


def _flower(point: Point) -> dict[str, Any]:
    """Flower's SecAgg+ at the point, with the degree ours uses and a keystream floor."""
    from benchmarks.flower_secaggplus import run_flower_secaggplus

    degree = neighbours_for_dropout(point.clients, point.dropout)
    report: dict[str, Any] = dict(
        run_flower_secaggplus(
            point.clients,
            point.dim,
            point.dropout,
            bits=point.bits,
            neighbours=degree,
            seed=point.rep,
        )
    )
    # Flower masks in Z_{2^32}: each survivor expands its self mask and one mask per
    # neighbour; the server expands each survivor's self mask and, per dropped client,
    # the masks its neighbours added against it (at most ``degree``).
    survivors = int(report["survivors"])
    dropped = point.clients - survivors
    vectors = survivors * (degree + 2) + dropped * degree
    floor = keystream_floor(vectors, point.dim, 32)
    # Our ratio leaves quantization out (the floor has none); so does Flower's: its
    # quantize per survivor and one dequantize, timed on same-size vectors, come off.
    quantization = survivors * _flower_quantize_s(point)
    cpu = float(report["total_cpu_s"]) - quantization
    report["stage_quantize_s"] = quantization
    report.update(
        neighbours=degree,
        floor_s=floor,
        ratio_to_floor=cpu / floor if floor else None,
        extrapolated=False,
    )
    return report


def _flower_quantize_s(point: Point) -> float:
    """CPU seconds of Flower's quantize on one update (plus one dequantize / survivors)."""
    import numpy as np
    from flwr.common.secure_aggregation.quantization import dequantize, quantize

    update = [np.random.default_rng(point.rep).normal(0.0, 0.1, point.dim)]
    start = time.process_time()
    quantized = quantize(update, 1.0, 1 << point.bits)
    middle = time.process_time()
    dequantize(quantized, 1.0, 1 << point.bits)
    end = time.process_time()
    return (middle - start) + (end - middle) / max(point.clients, 1)


def _row(point: Point, report: dict[str, Any], method: str) -> dict[str, Any]:
    row: dict[str, Any] = {name: "" for name in COLUMNS}
    for name in COLUMNS:
        if name in report and report[name] is not None:
            row[name] = report[name]
    stages = report.get("stage_cpu_s", {})
    for stage in STAGES:
        if stage in stages:
            row[f"stage_{stage}_s"] = stages[stage]
    row.update(protocol=point.protocol, method=method, rep=point.rep, dropout=point.dropout)
    return row


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux; children covers the Paillier decryption workers.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    point = Point(**json.loads(args[0]))
    print(json.dumps(run(point)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
