"""The growth sweep: one point measures a streamed round and its floor, the exponent fit
recovers a known power law, and the section states each target's verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import scale
from benchmarks.report import ReportError, read_scale


def test_a_point_is_an_exact_streamed_round_with_its_floor() -> None:
    p = scale.point(40, 2000, 0.1, 0)
    assert p["exact"] is True
    assert p["clients"] == 40 and 36 <= p["survivors"] < 40  # 4 drop, some after upload
    assert p["floor_s"] > 0 and p["ratio_to_floor"] > 0
    # every client that shared keys agreed with each neighbour twice (share, then mask)
    assert p["key_agreements"] >= p["survivors"] * 2 * (p["neighbours"] // 2)
    assert p["floor_s"] < p["crypto_floor_s"] and p["ratio_to_crypto_floor"] > 0
    assert p["peak_rss_mb"] > 0


@pytest.mark.parametrize("power", [0.5, 1.0, 1.3])
def test_the_exponent_fit_recovers_a_power_law(power: float) -> None:
    ns = [100, 1000, 3000, 10000]
    assert scale.growth_exponent(ns, [7 * n**power for n in ns]) == pytest.approx(power)


def _data(total_10k: float, rss_10k: float, client_10k: float) -> dict:
    def p(n: int, total: float, rss: float, client: float, k: int) -> dict:
        return {"clients": n, "neighbours": k, "survivors": n - n // 10, "total_cpu_s": total,
                "client_cpu_s": client, "server_cpu_s": total / 10, "ratio_to_floor": 2.0,
                "peak_rss_mb": rss, "bytes_up_per_client": 4e5, "bytes_down_per_client": 5e3,
                "wall_s": total, "exact": True, "floor_s": total / 2, "key_agreements": 2 * n * k,
                "ratio_to_crypto_floor": 1.5, "agreement_floor_s": 1.0,
                "stage_cpu_s": {"quantize": 0.5}}

    points = [p(100, 0.8, 60, 0.006, 16), p(10000, total_10k, rss_10k, client_10k, 28)]
    return {"commit": "abc", "dim": 100000, "dropout": 0.1, "points": points,
            "exponents": {"total_cpu_s": 1.0, "server_cpu_s": 1.0, "client_cpu_s": 0.1,
                          "cpu_per_client_s": 0.1, "neighbours": 0.12, "peak_rss_mb": 0.4}}


def test_the_section_states_the_targets_met() -> None:
    text = "\n".join(scale.section(_data(80.0, 320.0, 0.009)))
    assert "10,000 clients exact: met" in text
    assert "at most 90 s: met" in text and "at most 4 GB: met" in text
    assert "neighbour count: met" in text
    # The largest point's CPU against its floors: 80 = 40 keystream + 1 X25519 + 0.5
    # quantization + 38.5 of the protocol's own work.
    assert "round's 80.0 s went, by stage (clients and server): quantize 0.5 s" in text
    assert "together 41.5 s; the other 38.5 s" in text


def test_the_section_states_the_targets_not_met() -> None:
    text = "\n".join(scale.section(_data(95.0, 5000.0, 0.02)))
    assert "at most 90 s: **not met** (95.0 s, of which quantization 0.5 s" in text
    assert "at most 4 GB: **not met**" in text
    assert "neighbour count: **not met**" in text


def test_a_missing_json_says_how_to_make_it_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    assert "Not in this run" in "\n".join(scale.section(read_scale(tmp_path / "none.json")))
    broken = tmp_path / "scale.json"
    broken.write_text(json.dumps({"points": [{"clients": 1}]}))
    with pytest.raises(ReportError):
        read_scale(broken)


def _repeat(seed: int, total: float, *, exact: bool = True) -> dict:
    return {"seed": seed, "total_cpu_s": total, "protocol_cpu_s": total - 5,
            "server_cpu_s": total / 8, "floor_s": total / 3, "agreement_floor_s": 25.0,
            "key_agreements": 500_000, "peak_rss_mb": 600.0, "exact": exact}


def test_every_repeat_of_the_largest_point_must_meet_the_targets() -> None:
    data = _data(80.0, 320.0, 0.009)
    data["points"][-1]["seed"] = 0
    data["repeats"] = [_repeat(1, 85.0), _repeat(2, 89.5)]
    text = "\n".join(scale.section(data))
    assert "at most 90 s: met" in text and "seeds 0, 1, 2: 80.0 s" in text
    assert "exact: met (in all 3 runs)" in text
    data["repeats"] = [_repeat(1, 85.0), _repeat(2, 91.0, exact=False)]
    text = "\n".join(scale.section(data))
    assert "at most 90 s: **not met** (80.0 s" in text and "91.0 s" in text
    assert "exact: **not met**" in text
