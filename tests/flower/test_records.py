"""secagg.flower.records: the model read out of Flower's ArrayRecord without a copy."""

from __future__ import annotations

import io
import struct

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

pytest.importorskip("flwr")

from flwr.app import Array, ArrayRecord, RecordDict

from secagg.errors import InputError
from secagg.flower.records import model_arrays

FLOATS = st.sampled_from(["<f2", "<f4", "<f8", ">f4", ">f8"])


def _content(*arrays: npt.NDArray[np.generic]) -> RecordDict:
    return RecordDict({"arrays": ArrayRecord({f"a{i}": Array(a) for i, a in enumerate(arrays)})})


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        FLOATS,
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
        elements={"allow_nan": False, "allow_infinity": False},
    ),
    st.booleans(),
)
def test_model_arrays_equal_what_flower_decodes(
    value: npt.NDArray[np.floating], fortran: bool
) -> None:
    if fortran:
        value = np.asfortranarray(value)
    content = _content(value)
    layout, (got,) = model_arrays(content)
    expected = content.array_records["arrays"]["a0"].numpy()
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected)
    assert layout.shapes == (expected.shape,) and layout.dim == expected.size


def test_a_view_cannot_write_into_the_message() -> None:
    content = _content(np.arange(6, dtype=np.float32).reshape(2, 3))
    _, (got,) = model_arrays(content)
    with pytest.raises(ValueError):
        got[0, 0] = 1.0
    assert content.array_records["arrays"]["a0"].numpy()[0, 0] == 0.0


def _raw(data: bytes) -> Array:
    return Array(dtype="float32", shape=(3,), stype="numpy.ndarray", data=data)


def _npy(value: npt.NDArray[np.generic], *, allow_pickle: bool = False) -> bytes:
    out = io.BytesIO()
    np.save(out, value, allow_pickle=allow_pickle)
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"",  # empty
        b"not an npy file at all",
        _npy(np.arange(3, dtype=np.float32))[:-1],  # body one byte short
        _npy(np.array([1.0, "x", None], dtype=object), allow_pickle=True),  # a pickle: never loaded
    ],
)
def test_a_damaged_or_pickled_array_is_refused(data: bytes) -> None:
    content = RecordDict({"arrays": ArrayRecord({"w": _raw(data)})})
    with pytest.raises(InputError):
        model_arrays(content)


def _header(text: bytes, version: int = 1) -> bytes:
    """A .npy prefix and header (padded as numpy pads it) of the given version."""
    prefix = 10 if version == 1 else 12
    text += b" " * ((64 - (prefix + len(text) + 1) % 64) % 64) + b"\n"
    size = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text


def test_a_header_numpy_reads_but_cannot_load_is_refused() -> None:
    # numpy's header reader takes True for a dimension; np.load then fails: so must we.
    data = _header(b"{'descr': '<f8', 'fortran_order': False, 'shape': (True, 6), }")
    content = RecordDict({"arrays": ArrayRecord({"w": _raw(data + bytes(48))})})
    with pytest.raises(InputError):
        model_arrays(content)


def test_a_header_length_past_the_data_is_not_parsed_or_kept() -> None:
    # A version 2 length field of 4 GiB: the header is never sliced out and cached.
    from secagg.flower.records import _npy_header

    _npy_header.cache_clear()
    data = b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**32 - 1) + bytes(1 << 16)
    content = RecordDict({"arrays": ArrayRecord({"w": _raw(data)})})
    with pytest.raises(InputError):
        model_arrays(content)
    assert _npy_header.cache_info().currsize == 0


def test_an_integer_array_is_refused() -> None:
    with pytest.raises(InputError, match="not floating point"):
        model_arrays(_content(np.arange(4, dtype=np.int64)))
