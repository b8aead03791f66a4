"""secagg inside Flower (an optional extra: ``pip install secagg[flower]``).

- :func:`secagg_mod`: a ClientApp mod that runs the client party (Message API and
  legacy NumPyClient apps alike).
- :class:`SecureFedAvg`: a Message-API FedAvg whose training rounds aggregate through
  SecAgg, SecAgg+ or packed Paillier; :class:`~secagg.flower.server.SecureRound` drives one round on
  any Grid; :class:`SecAggWorkflow` is the fit workflow for legacy ``DefaultWorkflow`` apps.
- :class:`InProcessGrid`: a Grid that runs ClientApps in this process (tests,
  benchmarks; no Ray, no network).

The core ``secagg`` package never imports this one.
"""

from __future__ import annotations

try:
    import flwr  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "secagg.flower needs Flower: pip install 'secagg[flower]' (flwr==1.42.0)"
    ) from exc

from secagg.flower.client import secagg_mod
from secagg.flower.grid import InProcessGrid
from secagg.flower.server import RoundReport, SecAggSettings, SecureRound
from secagg.flower.spec import RoundSpec

__all__ = [
    "InProcessGrid",
    "RoundReport",
    "RoundSpec",
    "SecAggSettings",
    "SecureRound",
    "secagg_mod",
]
