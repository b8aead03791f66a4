"""Where secagg's data sits in Flower messages, and the model as one float vector.

A round's first message to a node is the app's own training message (its model
ArrayRecord and config) plus :data:`ROUND_KEY`, the encoded :class:`RoundSpec`. Every
later message carries :data:`STEP_KEY` (the round number) and one protocol message as
opaque bytes, the payload. A node's reply carries :data:`REPLY_KEY` and, when it has
one, its protocol message: never the trained model or the app's metrics (they would
reveal the update the protocol protects).

Payloads up to :data:`INLINE_BYTES` travel in a ConfigRecord; larger ones in an
ArrayRecord holding one raw byte Array, which Flower splits into chunks.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from flwr.app import Array, ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from secagg.errors import DecodeError, InputError

#: The ConfigRecord of a round's first message (the RoundSpec bytes under "spec", the
#: weight's MetricRecord key under "weight-key").
ROUND_KEY = "secagg.round"
#: The ConfigRecord of every later message (the round number under "round").
STEP_KEY = "secagg.step"
#: The ConfigRecord of a node's reply (the round number under "round").
REPLY_KEY = "secagg.reply"
PAYLOAD_KEY = "secagg.payload"  # ConfigRecord {"data": bytes} or ArrayRecord {"data": Array}
OUR_KEYS = frozenset({ROUND_KEY, STEP_KEY, REPLY_KEY, PAYLOAD_KEY})
#: Payloads up to this many bytes travel in a ConfigRecord, larger ones in an ArrayRecord.
INLINE_BYTES = 64 * 1024
DEFAULT_WEIGHT_KEY = "num-examples"  # what Flower's FedAvg weights by
_NPY_MAX_HEAD = 12 + 10_000  # numpy's prefix and its default header size limit


R = TypeVar("R", ArrayRecord, ConfigRecord, MetricRecord)


def record_of(content: RecordDict, key: str, kind: type[R]) -> R | None:
    """The record at ``key`` when it is a ``kind``, else None. Reads the RecordDict
    directly: its ``config_records``-style views rebuild a type-checked dict on every
    access, which costs more than the lookup."""
    record = content.get(key)
    return record if isinstance(record, kind) else None


def records_of(content: RecordDict, kind: type[R]) -> list[tuple[str, R]]:
    """Every (key, record) of ``content`` that is a ``kind``, in order."""
    return [(k, r) for k, r in content.items() if isinstance(r, kind)]


def put_payload(content: RecordDict, data: bytes) -> None:
    """Add one protocol message to ``content``."""
    if len(data) <= INLINE_BYTES:
        content[PAYLOAD_KEY] = ConfigRecord({"data": data})
    else:
        raw = Array(dtype="bytes", shape=(len(data),), stype="raw", data=data)
        content[PAYLOAD_KEY] = ArrayRecord({"data": raw})


def get_payload(content: RecordDict) -> bytes | None:
    """The protocol message in ``content``, or None. Raises DecodeError when the
    payload record is not one :func:`put_payload` writes."""
    record = content.get(PAYLOAD_KEY)
    if isinstance(record, ConfigRecord):
        value = record.get("data")
    elif isinstance(record, ArrayRecord):
        array = record.get("data")
        value = array.data if isinstance(array, Array) and array.stype == "raw" else None
    else:
        return None
    if not isinstance(value, bytes):
        raise DecodeError("the secagg payload is not bytes")
    return value


def get_int(content: RecordDict, key: str, field: str) -> int | None:
    """An integer field of one of our ConfigRecords, or None when the record is absent.
    Raises DecodeError when the record is there but the field is not an integer."""
    record = record_of(content, key, ConfigRecord)
    if record is None:
        return None
    value = record.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError(f"{key}.{field} must be an integer")
    return value


# ------------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class Layout:
    """The names, shapes and dtypes of a model's arrays, in record order: how one
    float vector maps back to them."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]

    @property
    def dim(self) -> int:
        return sum(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    def split(self, vector: npt.NDArray[np.floating]) -> list[npt.NDArray[np.floating]]:
        """The vector as the model's arrays (in their dtypes)."""
        out, start = [], 0
        for shape, dtype in zip(self.shapes, self.dtypes, strict=True):
            size = int(np.prod(shape, dtype=np.int64))
            out.append(vector[start : start + size].reshape(shape).astype(dtype))
            start += size
        return out


def _numpy_view(array: Array) -> npt.NDArray[Any]:
    """``array.numpy()`` without its copy: a read-only view of the .npy body in
    ``array.data`` (a model is read twice per round on every node, and copying it costs
    more than the protocol's own pass over it). Anything but a plain C-order .npy of a
    non-object dtype goes through Flower's ``numpy()``, which refuses pickles."""
    data = array.data
    if array.stype != "numpy.ndarray" or not isinstance(data, bytes):
        return array.numpy()
    offset = _npy_body_offset(data)
    # Only a header numpy itself would read is parsed (and cached): a length field
    # pointing past the data or past numpy's header limit goes to Flower.
    header = _npy_header(data[:offset]) if 0 < offset <= min(len(data), _NPY_MAX_HEAD) else None
    if header is None:
        return array.numpy()
    shape, dtype, offset = header
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - offset != count * dtype.itemsize:
        return array.numpy()
    view: npt.NDArray[Any] = np.frombuffer(
        data, dtype=dtype, count=count, offset=offset
    ).reshape(shape)
    return view


def _npy_body_offset(data: bytes) -> int:
    """Where the body of .npy ``data`` starts, from its fixed prefix (0 if not .npy)."""
    if data[:6] != b"\x93NUMPY" or len(data) < 12:
        return 0
    if data[6] == 1:
        return 10 + int.from_bytes(data[8:10], "little")
    return 12 + int.from_bytes(data[8:12], "little")


@functools.lru_cache(maxsize=256)
def _npy_header(head: bytes) -> tuple[tuple[int, ...], np.dtype[np.generic], int] | None:
    """(shape, dtype, body offset) of a C-order, non-object .npy header (version 1 or
    2), else None. Cached: a model's arrays keep their headers from round to round."""
    stream = io.BytesIO(head)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            return None
    except ValueError:  # not .npy, or a damaged header: Flower decides
        return None
    if fortran or dtype.hasobject or stream.tell() != len(head):
        return None
    if any(type(d) is not int for d in shape):  # numpy reads True as a dimension; load refuses it
        return None
    return tuple(shape), dtype, len(head)


def model_arrays(content: RecordDict) -> tuple[Layout, list[npt.NDArray[np.floating]]]:
    """The one model ArrayRecord of ``content`` (ours aside) as numpy arrays.

    Works for the Message API (``"arrays"``) and for legacy FitIns/FitRes records
    (``"fitins.parameters"``, ``"fitres.parameters"``). Raises InputError when there is
    not exactly one, or when an array is not floating point (integer buffers such as
    batch-norm counters cannot be averaged securely here)."""
    records = [(k, r) for k, r in records_of(content, ArrayRecord) if k not in OUR_KEYS]
    if len(records) != 1:
        raise InputError(f"expected one model ArrayRecord, found {len(records)}")
    record = records[0][1]
    arrays: list[npt.NDArray[np.floating]] = []
    for name, array in record.items():
        try:
            value = _numpy_view(array)
        except Exception as exc:  # Flower raises several kinds for non-numpy arrays
            raise InputError(f"model array {name!r} is not a numpy array: {exc}") from exc
        if not np.issubdtype(value.dtype, np.floating):
            raise InputError(f"model array {name!r} has dtype {value.dtype}: not floating point")
        arrays.append(value)
    layout = Layout(
        tuple(record.keys()),
        tuple(tuple(int(d) for d in a.shape) for a in arrays),
        tuple(a.dtype.str for a in arrays),
    )
    return layout, arrays


def reply_weight(content: RecordDict, key: str) -> int:
    """The client's FedAvg weight from its training reply: the MetricRecord value at
    ``key`` (Message API) or the legacy FitRes ``num_examples``. Raises InputError when
    absent or not an integer (weights are integers: secagg.weighting)."""
    for _, record in records_of(content, MetricRecord):
        for name in (key, "num_examples"):
            if name in record:
                value = record[name]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise InputError(f"weight {name!r} is not a number")
                if isinstance(value, float) and not value.is_integer():
                    raise InputError(f"weight {name!r} = {value} is not an integer")
                return int(value)
    raise InputError(f"the training reply has no {key!r} metric to weight it by")
