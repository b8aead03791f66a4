"""Known-answer vectors: every encoding in tests/vectors/kat.json is reproduced exactly
from its fixed inputs (a changed encoding must bump its version and regenerate)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from secagg.plain import ClientStage, PlainClient, PlainConfig, _Input
from secagg.quantize import QuantizationConfig

VECTORS = Path(__file__).resolve().parent / "vectors"
KAT = json.loads((VECTORS / "kat.json").read_text())


def _generated() -> dict:
    spec = importlib.util.spec_from_file_location("kat_generate", VECTORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.vectors()


@pytest.mark.parametrize("name", sorted(KAT))
def test_known_answer(name: str) -> None:
    assert _generated()[name] == KAT[name]


def test_the_saved_state_vector_restores() -> None:
    config = PlainConfig(3, 2, QuantizationConfig(clip=1.0, bits=4, max_clients=3), 3)
    client = PlainClient.restore(bytes.fromhex(KAT["plain_client_state"]), config)
    assert client.id == 2 and client.stage is ClientStage.NEW
    assert np.array_equal(client._record(_Input).protected, [1, 15, 1])
