"""The Flower 1.42 SecAgg+ baseline: tiny rounds through Flower's real workflow and mod,
on secagg's in-process Flower engine with its wire metered."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

flwr = pytest.importorskip("flwr")
if not flwr.__version__.startswith("1.42."):
    pytest.skip("needs flwr 1.42.x", allow_module_level=True)

from benchmarks import flower_secaggplus as fs  # noqa: E402


def check_sane(result: dict[str, object], clients: int, dim: int) -> None:
    """Fields every result carries, with plausible values."""
    assert result["method"] == "workflow"
    assert str(result["flwr_version"]).startswith("1.42.")
    assert (result["clients"], result["dim"]) == (clients, dim)
    assert result["num_shares"] == cast_int(result["neighbours"]) + 1
    for key in ("client_cpu_s", "client_cpu_s_max", "server_cpu_s", "total_cpu_s", "wall_s"):
        assert cast_float(result[key]) > 0, key
    assert cast_float(result["client_cpu_s"]) <= cast_float(result["client_cpu_s_max"])
    assert cast_float(result["server_cpu_s"]) < cast_float(result["total_cpu_s"])
    # Flower's codec (deflate/inflate of every message) is measured apart from the rest
    codec, protocol = cast_float(result["codec_cpu_s"]), cast_float(result["protocol_cpu_s"])
    assert codec > 0 and protocol > 0
    assert codec + protocol == pytest.approx(cast_float(result["total_cpu_s"]))
    # a masked upload holds dim int64 words (Flower's mask dtype) plus framing
    assert 8 * dim < cast_float(result["bytes_up_per_client"]) < 8 * dim + 20_000
    assert cast_float(result["bytes_down_per_client"]) > 0
    for stage in ("advertise", "share", "upload", "unmask"):
        assert cast_float(result[f"stage_{stage}_s"]) > 0, stage


def cast_int(value: object) -> int:
    assert isinstance(value, int)
    return value


def cast_float(value: object) -> float:
    assert isinstance(value, int | float)
    return float(value)


def test_the_installed_flower_is_the_one_driven() -> None:
    assert fs.flower_available()


def test_round_without_dropouts_is_exact() -> None:
    result = fs.run_flower_secaggplus(5, 100, seed=1)
    check_sane(result, 5, 100)
    assert result["exact"] is True and result["exact_integers"] is True
    assert (result["survivors"], result["dropped"]) == (5, 0)
    assert (result["neighbours"], result["threshold"]) == (4, 3)


def test_dropout_before_upload_is_recovered() -> None:
    result = fs.run_flower_secaggplus(5, 100, 0.2, seed=2)
    check_sane(result, 5, 100)
    assert (result["survivors"], result["dropped"]) == (4, 1)
    assert result["exact"] is True


def test_dropout_after_upload_keeps_the_input() -> None:
    result = fs.run_flower_secaggplus(5, 100, 0.2, dropout_stage="unmask", seed=3)
    assert (result["survivors"], result["dropped"]) == (5, 1)
    assert result["exact"] is True


def test_sparse_neighbourhood() -> None:
    result = fs.run_flower_secaggplus(9, 50, 0.1, neighbours=4, threshold=3, seed=4)
    assert (result["neighbours"], result["num_shares"], result["threshold"]) == (4, 5, 3)
    assert result["exact"] is True


def test_exactness_check_catches_a_wrong_sum(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients that upload something other than their recorded input make exact False."""
    make_app = fs._make_client_app

    def shifted(updates: dict[int, Any]) -> Any:
        return make_app({node: update + np.float32(0.25) for node, update in updates.items()})

    monkeypatch.setattr(fs, "_make_client_app", shifted)
    result = fs.run_flower_secaggplus(5, 100, seed=5)
    assert result["exact"] is False and result["exact_integers"] is False


def test_same_seed_same_aggregate_check() -> None:
    one = fs.run_flower_secaggplus(5, 64, seed=6)
    two = fs.run_flower_secaggplus(5, 64, seed=6)
    assert one["max_abs_error"] == two["max_abs_error"]


@pytest.mark.parametrize("stage", ["advertise", "share"])
def test_early_dropouts_are_not_supported(stage: fs.DropoutStage) -> None:
    with pytest.raises(NotImplementedError):
        fs.run_flower_secaggplus(5, 10, 0.2, dropout_stage=stage)


@pytest.mark.parametrize(
    ("kwargs", "clients"),
    [
        ({"bits": 30}, 5),  # 5 * 2**30 overflows the modulus 2**32
        ({"neighbours": 1}, 5),
        ({"neighbours": 4, "threshold": 5}, 5),
        ({}, 2),
    ],
)
def test_bad_configurations_are_refused(kwargs: dict[str, Any], clients: int) -> None:
    with pytest.raises(ValueError):
        fs.run_flower_secaggplus(clients, 10, **kwargs)


def test_the_metered_grid_counts_serialized_sizes_per_side() -> None:
    from flwr.app import ConfigRecord, Context, Message, RecordDict
    from flwr.clientapp import ClientApp

    from secagg.flower import grid as grid_module

    app = ClientApp()

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        return Message(RecordDict({"r": ConfigRecord({"up": b"u" * 3000})}), reply_to=msg)

    original = grid_module.wire_copy
    grid = fs.MeteredGrid(app, [{}, {}])
    out = [
        Message(RecordDict({"c": ConfigRecord({"down": b"d" * 5000})}), node, "train")
        for node in grid.get_node_ids()
    ]
    replies = list(grid.send_and_receive(out))
    assert [r.content["r"]["up"] for r in replies] == [b"u" * 3000] * 2
    assert grid_module.wire_copy is original  # the meter is only on during a push
    wire = grid.wire
    assert set(wire.bytes_down) == set(wire.bytes_up) == {1000, 1001}
    for node in (1000, 1001):
        assert 5000 < wire.bytes_down[node] < 6000  # Flower's framing around the payload
        assert 3000 < wire.bytes_up[node] < 4000
        assert 0 <= wire.app_cpu_s[node] <= wire.client_cpu_s[node]
    assert wire.codec_cpu_s + sum(wire.app_cpu_s.values()) <= wire.grid_cpu_s
    assert grid.traffic == []
