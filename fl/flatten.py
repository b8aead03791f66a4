"""A model as one float32 vector, and back, exactly.

:func:`flatten` concatenates the model's tensors (parameters, and buffers when asked)
in a fixed order into one float32 vector; :func:`restore` writes such a vector back,
each slice reshaped and cast to its tensor's own dtype. Whether buffers take part is an
explicit, required choice: batch-norm statistics, for instance, are sometimes averaged
and sometimes kept local.

Exactness: a round trip flatten -> restore gives back every tensor bit for bit. Dtypes
float32, float16, bfloat16, bool and small integers always fit in float32; a float64 or
int64 tensor is accepted only while its values are exactly representable in float32,
and :class:`~fl.errors.FlattenError` is raised otherwise instead of silently rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from fl.errors import FlattenError


@dataclass(frozen=True)
class TensorSpec:
    """Where one named tensor lives in the flat vector."""

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    offset: int

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


@dataclass(frozen=True)
class FlatLayout:
    """The order, shapes and dtypes of the tensors a flat vector holds."""

    specs: tuple[TensorSpec, ...]
    include_buffers: bool

    @property
    def size(self) -> int:
        """Length of the flat vector."""
        return sum(s.numel for s in self.specs)


def _named_tensors(model: nn.Module, include_buffers: bool) -> list[tuple[str, torch.Tensor]]:
    tensors: list[tuple[str, torch.Tensor]] = [
        (f"param:{n}", p) for n, p in model.named_parameters()
    ]
    if include_buffers:
        tensors += [(f"buffer:{n}", b) for n, b in model.named_buffers()]
    return tensors


def layout_of(model: nn.Module, *, include_buffers: bool) -> FlatLayout:
    """The layout :func:`flatten` uses for ``model``."""
    specs: list[TensorSpec] = []
    offset = 0
    for name, t in _named_tensors(model, include_buffers):
        if t.is_complex():
            raise FlattenError(f"{name}: complex tensors cannot be flattened to float32")
        spec = TensorSpec(name, tuple(t.shape), t.dtype, offset)
        specs.append(spec)
        offset += spec.numel
    return FlatLayout(tuple(specs), include_buffers)


def flatten(model: nn.Module, *, include_buffers: bool) -> npt.NDArray[np.float32]:
    """The model's tensors as one new float32 vector (parameters first, then buffers).

    Raises FlattenError if a tensor holds a value that float32 cannot represent exactly.
    """
    layout = layout_of(model, include_buffers=include_buffers)
    out = np.empty(layout.size, dtype=np.float32)
    with torch.no_grad():
        for spec, (_, t) in zip(layout.specs, _named_tensors(model, include_buffers), strict=True):
            flat = t.detach().to("cpu").reshape(-1)
            as32 = flat.to(torch.float32)
            if flat.dtype != torch.float32 and not torch.equal(as32.to(flat.dtype), flat):
                raise FlattenError(
                    f"{spec.name}: {flat.dtype} values not exactly representable in float32"
                )
            out[spec.offset : spec.offset + spec.numel] = as32.numpy()
    return out


def restore(model: nn.Module, vector: npt.ArrayLike, *, include_buffers: bool) -> None:
    """Write ``vector`` (the layout of :func:`flatten`) into ``model``'s tensors, in place.

    Each slice is cast to its tensor's dtype; integer and bool tensors take the nearest
    integer (so an averaged counter stays an integer). Raises FlattenError if the length
    does not match the model.
    """
    layout = layout_of(model, include_buffers=include_buffers)
    values = np.asarray(vector)
    if values.ndim != 1 or values.size != layout.size:
        raise FlattenError(
            f"vector of shape {values.shape} does not fit a model of {layout.size} values"
        )
    if not values.dtype.kind == "f":
        raise FlattenError(f"vector must hold floats, got {values.dtype}")
    with torch.no_grad():
        for spec, (_, t) in zip(layout.specs, _named_tensors(model, include_buffers), strict=True):
            piece = torch.from_numpy(
                np.ascontiguousarray(values[spec.offset : spec.offset + spec.numel])
            )
            if not (spec.dtype.is_floating_point or spec.dtype.is_complex):
                piece = torch.round(piece)
            t.copy_(piece.reshape(spec.shape).to(dtype=spec.dtype, device=t.device))
