"""The in-process Paillier round through the shared entry point: results, dropouts, metrics."""

from __future__ import annotations

import os

import numpy as np
import pytest

from secagg.errors import AbortError
from secagg.paillier import PrivateKey
from secagg.quantize import QuantizationConfig, quantization_error_bound
from secagg.result import Backend, DropStage
from secagg.simulation import run_paillier_round, run_round

DIM = 64
QUANT = QuantizationConfig(clip=1.0, bits=16, max_clients=6, max_weight=4)


def _updates(count: int) -> list[np.ndarray]:
    return [
        np.frombuffer(os.urandom(8 * DIM), dtype=np.uint64) / 2.0**64 * 2.0 - 1.0
        for _ in range(count)
    ]


def _weighted_mean(updates: list[np.ndarray], weights: list[int], keep: list[int]) -> np.ndarray:
    total = sum(weights[i] * updates[i] for i in keep)
    return total / sum(weights[i] for i in keep)


def test_round_with_dropouts(key: PrivateKey) -> None:
    updates, weights = _updates(6), [1, 2, 3, 4, 1, 2]
    drops = {2: DropStage.MASKED_INPUT, 3: DropStage.ADVERTISE_KEYS, 4: DropStage.UNMASKING}
    result = run_paillier_round(updates, weights, QUANT, drops, key=key)
    keep = [0, 1, 4, 5]  # dropping at UNMASKING is after upload: still in the sum
    assert result.survivors == tuple(keep)
    assert result.total_weight == 1 + 2 + 1 + 2
    error = np.abs(result.mean - _weighted_mean(updates, weights, keep)).max()
    assert error <= quantization_error_bound(QUANT)
    m = result.metrics
    assert m.survivors == 4 and m.clients == 6 and m.dim == DIM and m.neighbours == 0
    assert m.modulus_bits == QUANT.k and m.backend is Backend.PAILLIER
    assert m.keyholder_cpu_s > 0 and m.server_cpu_s > 0 and m.client_cpu_s > 0
    assert m.client_cpu_s_max >= m.client_cpu_s
    assert {"quantize", "keygen", "encrypt", "sum", "decrypt", "finish"} <= set(m.stage_cpu_s)
    assert m.bytes_up_per_client > key.public.ciphertext_bytes  # one ciphertext at least
    assert m.bytes_down_per_client > 0


def test_shared_entry_point() -> None:
    """run_round dispatches here (it generates its own key)."""
    result = run_round("paillier", _updates(3), [1, 1, 1])
    assert result.total_weight == 3 and result.aggregate.shape == (DIM + 1,)
    assert result.metrics.backend is Backend.PAILLIER


@pytest.mark.parametrize("stage", list(DropStage))
def test_key_holder_dropout_aborts(key: PrivateKey, stage: DropStage) -> None:
    with pytest.raises(AbortError):
        run_paillier_round(_updates(3), [1, 1, 1], QUANT, {0: stage}, key=key)


def test_too_few_uploads_abort_before_anything_is_decrypted(key: PrivateKey) -> None:
    drops = {1: DropStage.MASKED_INPUT, 2: DropStage.SHARE_KEYS}
    with pytest.raises(AbortError, match="decrypting needs"):
        run_paillier_round(_updates(3), [1, 1, 1], QUANT, drops, key=key)


def test_pool_decryption(key: PrivateKey) -> None:
    """Enough ciphertexts to use the 2-process pool; the workers' CPU is counted."""
    quant = QuantizationConfig(clip=1.0, bits=16, max_clients=3, max_weight=2)
    dim = 300 * 102
    updates = [np.zeros(dim), np.ones(dim), np.ones(dim)]
    result = run_paillier_round(updates, [2, 1, 1], quant, {}, key=key, workers=2)
    assert np.abs(result.mean - 0.5).max() <= quantization_error_bound(quant)
    assert result.metrics.stage_cpu_s["decrypt"] > 0.3  # 300 CRT decryptions, in workers
