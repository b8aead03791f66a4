"""The baseline the packed protocol is compared against: phe's per-value float encryption.

Each protected value is encrypted on its own with ``phe.PaillierPublicKey.encrypt`` of
a float (a full r^n mod n^2 per value, and phe's float encoding, whose public exponent
leaks the magnitude of each value). Only a subset of values is really processed; the
times are scaled to the full length. Used for measurement only, never to protect data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from secagg.codec import HEADER_BYTES
from secagg.paillier.keys import PrivateKey
from secagg.quantize import QuantizationConfig

EXPONENT_BYTES = 4  # phe's EncryptedNumber carries a signed exponent next to c


@dataclass(frozen=True)
class NaiveCosts:
    """Costs scaled to the full protected length (seconds of thread CPU, bytes)."""

    client_cpu_s: list[float]
    server_cpu_s: float
    keyholder_cpu_s: float
    bytes_up_per_client: float
    measured_values: int
    extrapolated: bool


def measure_naive(
    key: PrivateKey,
    updates: list[np.ndarray],
    weights: list[int],
    quantization: QuantizationConfig,
    length: int,
    subset: int,
) -> NaiveCosts:
    """Encrypt, add and decrypt the first ``subset`` float values of each client's [w*x, w].

    Each client's, the server's and the key holder's measured CPU time is multiplied by
    length / measured; ``extrapolated`` says whether that factor exceeds 1.
    """
    public = key.public.to_phe()
    private = key.to_phe()
    measured = max(1, min(subset, length))
    scale = length / measured
    client_cpu = []
    encrypted = []
    for x, w in zip(updates, weights, strict=True):
        clipped = np.clip(np.asarray(x, dtype=np.float64), -quantization.clip, quantization.clip)
        values = np.concatenate([w * clipped, [float(w)]])[:measured]
        start = time.thread_time()
        encrypted.append([public.encrypt(float(v)) for v in values])
        client_cpu.append((time.thread_time() - start) * scale)
    start = time.thread_time()
    totals = list(encrypted[0])
    for row in encrypted[1:]:
        totals = [a + b for a, b in zip(totals, row, strict=True)]
    server_cpu = (time.thread_time() - start) * scale
    start = time.thread_time()
    for total in totals:
        private.decrypt(total)
    keyholder_cpu = (time.thread_time() - start) * scale
    width = key.public.ciphertext_bytes
    return NaiveCosts(
        client_cpu_s=client_cpu,
        server_cpu_s=server_cpu,
        keyholder_cpu_s=keyholder_cpu,
        bytes_up_per_client=HEADER_BYTES + 8 + length * (width + EXPONENT_BYTES),
        measured_values=measured,
        extrapolated=measured < length,
    )
