"""Checks of caller-supplied values, so that a bad argument raises the library's own
error (never a bare TypeError, ValueError or OverflowError from deep inside)."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import cast

import numpy as np

from secagg.errors import ConfigurationError, SecAggError

U32_MAX = 2**32 - 1


def require_int(
    name: str,
    value: object,
    low: int,
    high: int,
    error: type[SecAggError] = ConfigurationError,
) -> int:
    """``value`` as an int in [low, high]: Python and numpy integers only (no bool, no
    float, even 2.0). Raises ``error`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise error(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise error(f"{name} must be in {low}..{high}, got {number}")
    return number


def require_real(name: str, value: object, error: type[SecAggError] = ConfigurationError) -> float:
    """``value`` as a finite float (ints allowed, bool refused). Raises ``error``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise error(f"{name} must be a number, got {type(value).__name__} {value!r}")
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
