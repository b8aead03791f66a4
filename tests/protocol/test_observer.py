"""Costs are reported through an optional observer: the parties count their work and
contain no timing code (the transport, here the simulator, does the timing)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from secagg.masking import Graph, MaskingConfig
from secagg.protocol import Work
from secagg.result import DropStage
from secagg.simulation import simulate_masking, simulate_paillier

from .backends import DIM, QUANT, inputs_for

PARTIES = ["masking", "paillier", "protocol", "plain.py", "primitives"]


def test_the_parties_contain_no_timing_code() -> None:
    root = Path(__file__).resolve().parents[2] / "secagg"
    files = [root / "plain.py"] + [
        p for name in PARTIES if not name.endswith(".py") for p in (root / name).rglob("*.py")
    ]
    for path in files:
        text = path.read_text()
        assert not re.search(r"\btime\.(process_time|thread_time|perf_counter|time)\b", text), path
        assert "import time" not in text, path


def test_masking_parties_report_every_mask_vector() -> None:
    config = MaskingConfig.create(Graph.HARARY, 12, DIM, QUANT, 6, 4)
    inputs = inputs_for(config)
    run = simulate_masking(config, inputs, {3: DropStage.MASKED_INPUT, 8: DropStage.UNMASKING})
    survivors = set(run.outcome.survivors)
    assert survivors == set(range(1, 13)) - {3}
    # Each uploader: its self mask and one per live neighbour (3 sent its shares before
    # vanishing, so every neighbourhood is whole); the server: each survivor's self mask,
    # and client 3's masks towards its neighbours, who all uploaded.
    clients_work = sum(run.work.by_party[c, Work.PRG_VECTORS] for c in survivors)
    server_work = run.work.by_party[0, Work.PRG_VECTORS]
    assert clients_work == len(survivors) * (1 + config.neighbours)  # 3 shared its keys
    assert server_work == len(survivors) + config.neighbours  # 3's neighbours all uploaded
    assert run.mask_vectors == clients_work + server_work


def test_paillier_parties_report_encryptions_and_decryptions(key) -> None:
    from secagg.paillier import PaillierConfig

    config = PaillierConfig(0, DIM, QUANT, (1, 2, 3, 4))
    run = simulate_paillier(config, inputs_for(config), {4: DropStage.SHARE_KEYS}, key=key)
    assert run.work.total[Work.ENCRYPTIONS] == 3 * config.ciphertexts
    assert run.work.total[Work.DECRYPTIONS] == config.ciphertexts
    assert np.array_equal(
        run.outcome.aggregate,
        sum(inputs_for(config)[c].astype(np.uint64) for c in (1, 2, 3)),
    )
