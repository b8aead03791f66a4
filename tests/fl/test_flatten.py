"""flatten/restore: exact round trips over shapes and dtypes, buffers by explicit choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from fl.errors import FlattenError
from fl.flatten import flatten, layout_of, restore
from fl.model import build_model

# dtypes whose every value float32 holds exactly
EXACT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class Bag(nn.Module):
    """A module with arbitrary parameters and buffers, for round trips."""

    def __init__(
        self,
        params: list[tuple[tuple[int, ...], torch.dtype]],
        buffers: list[tuple[tuple[int, ...], torch.dtype]],
    ) -> None:
        super().__init__()
        for i, (shape, dtype) in enumerate(params):
            self.register_parameter(f"p{i}", nn.Parameter(torch.zeros(shape, dtype=dtype)))
        for i, (shape, dtype) in enumerate(buffers):
            self.register_buffer(f"b{i}", torch.zeros(shape, dtype=dtype))


shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)
param_specs = st.lists(st.tuples(shapes, st.sampled_from(EXACT_DTYPES)), max_size=5)
buffer_specs = st.lists(
    st.tuples(shapes, st.sampled_from((torch.float32, torch.int64, torch.bool, torch.int32))),
    max_size=3,
)


def _fill(model: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.dtype.is_floating_point:
                t.copy_((torch.randn(t.shape, generator=gen) * 100).to(t.dtype))
            elif t.dtype == torch.bool:
                t.copy_(torch.randint(0, 2, t.shape, generator=gen).bool())
            else:
                t.copy_(torch.randint(-(2**20), 2**20, t.shape, generator=gen))


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@settings(max_examples=60, deadline=None)
@given(params=param_specs, buffers=buffer_specs, seed=st.integers(0, 2**31), bufs=st.booleans())
def test_round_trip_is_exact(
    params: list[tuple[tuple[int, ...], torch.dtype]],
    buffers: list[tuple[tuple[int, ...], torch.dtype]],
    seed: int,
    bufs: bool,
) -> None:
    source = Bag(params, buffers)
    _fill(source, seed)
    vec = flatten(source, include_buffers=bufs)
    assert vec.dtype == np.float32
    assert vec.size == layout_of(source, include_buffers=bufs).size

    target = Bag(params, buffers)  # all zeros
    restore(target, vec, include_buffers=bufs)
    want, got = _state(source), _state(target)
    for name, value in got.items():
        is_buffer = name.startswith("b")
        expected = want[name] if (bufs or not is_buffer) else torch.zeros_like(value)
        assert value.dtype == expected.dtype and value.shape == expected.shape
        assert torch.equal(value, expected), name


def test_buffers_are_an_explicit_choice() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    with_buffers = flatten(model, include_buffers=True)
    without = flatten(model, include_buffers=False)
    n_params = sum(p.numel() for p in model.parameters())
    n_buffers = sum(b.numel() for b in model.buffers())
    assert without.size == n_params
    assert with_buffers.size == n_params + n_buffers
    with pytest.raises(TypeError):
        flatten(model)  # type: ignore[call-arg]


def test_parameters_keep_their_order_and_values() -> None:
    model = build_model("cnn", (1, 8, 8), 10, seed=1)
    vec = flatten(model, include_buffers=False)
    expected = np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])
    assert np.array_equal(vec, expected)


def test_float64_value_float32_cannot_hold_is_refused() -> None:
    model = Bag([((3,), torch.float64)], [])
    with torch.no_grad():
        model.p0.copy_(torch.tensor([0.5, 1.0, 0.1], dtype=torch.float64))  # 0.1 is inexact
    with pytest.raises(FlattenError, match="p0"):
        flatten(model, include_buffers=False)


def test_float64_that_fits_round_trips() -> None:
    model = Bag([((2,), torch.float64)], [])
    with torch.no_grad():
        model.p0.copy_(torch.tensor([0.5, -3.25], dtype=torch.float64))
    target = Bag([((2,), torch.float64)], [])
    restore(target, flatten(model, include_buffers=False), include_buffers=False)
    assert torch.equal(target.p0, model.p0)


def test_restore_refuses_a_vector_of_the_wrong_length() -> None:
    model = build_model("mlp", (1, 8, 8), 10, seed=0)
    vec = flatten(model, include_buffers=False)
    with pytest.raises(FlattenError, match="does not fit"):
        restore(model, vec[:-1], include_buffers=False)
