"""Checks of caller-supplied values, so that a bad argument raises the library's own
error (never a bare TypeError, ValueError or OverflowError from deep inside)."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import cast

import numpy as np

from secagg.errors import ConfigurationError, SecAggError

U32_MAX = 2**32 - 1


def short(value: object) -> str:
    """``repr(value)``, cut to 40 characters for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def require_int(
    name: str,
    value: object,
    low: int | None = None,
    high: int | None = None,
    error: type[SecAggError] = ConfigurationError,
) -> int:
    """``value`` as a Python int in [low, high] (either bound may be None): Python and
    numpy integers only (no bool, no float, even 2.0). Raises ``error`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise error(f"{name} must be an integer, got {type(value).__name__} {short(value)}")
    number = int(value)
    if (low is not None and number < low) or (high is not None and number > high):
        if high is None:
            span = f"at least {low}"
        elif low is None:
            span = f"at most {high}"
        else:
            span = f"in {low}..{high}"
        raise error(f"{name} must be {span}, got {number}")
    return number


def require_real(name: str, value: object, error: type[SecAggError] = ConfigurationError) -> float:
    """``value`` as a finite float (ints allowed, bool refused). Raises ``error``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise error(f"{name} must be a number, got {type(value).__name__} {short(value)}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")):
        raise error(f"{name} must be finite, got {number}")
    return number


def require_list(
    name: str, value: object, error: type[SecAggError] = ConfigurationError
) -> list[object]:
    """``value`` (a list, tuple or other non-text sequence, or a numpy array) as a list.
    Raises ``error`` for anything else, a string or bytes included."""
    if isinstance(value, (str, bytes, bytearray, memoryview)) or not hasattr(value, "__len__"):
        raise error(f"{name} must be a sequence, got {type(value).__name__}")
    try:
        return list(cast(Iterable[object], value))
    except TypeError as exc:
        raise error(f"{name} must be a sequence: {exc}") from None
