"""Plain summation: the round with no protection, measured like the protected ones.

Each surviving client serializes its float32 update (what it would send); the server
parses and adds them. Its floor is the additions alone, so its ratio to floor shows
what serialization costs on top.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from secagg.scenario import Scenario, dropouts, updates


def plain_round(scenario: Scenario) -> dict[str, Any]:
    """One unprotected round of ``scenario``; the report has the CSV's fields."""
    xs = updates(scenario)
    gone = dropouts(scenario, 0)
    # Only clients that vanish at the last stage have sent their update by then.
    senders = [i for i in range(scenario.clients) if i not in gone or gone[i].value == "unmask"]
    client_cpu, messages = [], []
    for i in senders:
        start = time.thread_time()
        messages.append(xs[i].astype("<f4", copy=False).tobytes())
        client_cpu.append(time.thread_time() - start)
    start = time.thread_time()
    total = np.zeros(scenario.dim, dtype=np.float64)
    for data in messages:
        total += np.frombuffer(data, dtype="<f4")
    server_cpu = time.thread_time() - start
    # The floor: the same additions on vectors already in memory.
    start = time.thread_time()
    check = np.zeros(scenario.dim, dtype=np.float64)
    for i in senders:
        check += xs[i]
    floor = time.thread_time() - start
    bytes_up = 4 * scenario.dim
    return {
        "protocol": "plain",
        "clients": scenario.clients,
        "neighbours": 0,
        "threshold": 0,
        "dim": scenario.dim,
        "bits": 32,
        "survivors": len(senders),
        "exact": None,  # nothing to check: the plain sum is the reference itself
        "client_cpu_s": statistics.median(client_cpu) if client_cpu else 0.0,
        "client_cpu_s_max": max(client_cpu, default=0.0),
        "server_cpu_s": server_cpu,
        "keyholder_cpu_s": 0.0,
        "total_cpu_s": sum(client_cpu) + server_cpu,
        "protocol_cpu_s": sum(client_cpu) + server_cpu,
        "stage_cpu_s": {"upload": sum(client_cpu) + server_cpu},
        "bytes_up_per_client": float(bytes_up),
        "bytes_down_per_client": 0.0,
        "expansion_vs_float32": 1.0,
        "floor_s": floor,
        "ratio_to_floor": (sum(client_cpu) + server_cpu) / floor if floor else None,
        "extrapolated": False,
    }
