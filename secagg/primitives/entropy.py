"""The entropy source every secagg object takes: a callable returning n random bytes.

Constructors default to :func:`system_entropy` (``os.urandom``); tests pass a
deterministic source to make runs reproducible. Never pass ``random`` or
``numpy.random``: keys, seeds, Shamir coefficients and rounding noise all come from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable

Entropy = Callable[[int], bytes]


def system_entropy(n: int) -> bytes:
    """Return ``n`` bytes from the operating system's CSPRNG."""
    return os.urandom(n)
