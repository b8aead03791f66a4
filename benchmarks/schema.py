"""The benchmark CSV: one row per (point, repetition), the same columns for every system.

Times are CPU seconds of the party's own work (thread CPU time; process CPU time for
Flower, whose secret sharing runs on a thread pool, and for the Paillier decryption
workers) unless the name says ``wall``; sizes are bytes; ``peak_rss_mb`` is the peak
resident set of the process that ran the point (each point runs in a fresh process).
Empty cells mean "does not apply".
"""

from __future__ import annotations

# protocol values: ours, then the baselines measured in the same run.
OURS = ("secagg", "secagg+", "paillier")
BASELINES = ("plain", "flower-secagg+", "phe-paillier")
PROTOCOLS = OURS + BASELINES

# Per-stage CPU seconds, all parties together. Masking: advertise, share, upload,
# unmask (the four rounds) and quantize. Paillier: keygen, setup, encode, encrypt, sum,
# decrypt, finish. Flower: its own stage names are mapped onto the masking ones.
STAGES = (
    "quantize",
    "advertise",
    "share",
    "upload",
    "unmask",
    "keygen",
    "setup",
    "encode",
    "encrypt",
    "sum",
    "decrypt",
    "finish",
)

COLUMNS = (
    "protocol",  # one of PROTOCOLS
    "method",  # how it was measured: "measured", "extrapolated", "workflow", "primitives"
    "clients",
    "neighbours",  # mask neighbours per client (masking); 0 otherwise
    "threshold",
    "dim",  # parameters per client update
    "bits",  # quantization bits b
    "dropout",  # fraction of clients dropped
    "rep",  # repetition index, 0-based
    "survivors",
    "exact",  # the aggregate equals the plain sum of the survivors' inputs
    "client_cpu_s",  # median over clients
    "client_cpu_s_max",
    "server_cpu_s",
    "keyholder_cpu_s",
    "total_cpu_s",  # all parties, excluding the floor measurement
    "wall_s",  # wall seconds of the whole point (includes the floor)
    "bytes_up_per_client",
    "bytes_down_per_client",
    "expansion_vs_float32",  # upload bytes / (4 * dim)
    "peak_rss_mb",
    *(f"stage_{s}_s" for s in STAGES),
    "floor_s",  # the point's cost floor, measured in the same process
    "ratio_to_floor",  # protocol CPU (total minus quantize) / floor_s
    "extrapolated",  # True when times were scaled up from a measured subset
)
