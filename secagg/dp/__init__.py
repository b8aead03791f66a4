"""Distributed differential privacy in front of secure aggregation.

Each client rotates, clips, scales and rounds its update, then adds its share of
discrete Gaussian (DDG) or Skellam noise before any backend protects it, so only the sum
carries the full noise and nobody, the server included, sees a less-noised value
(docs/dp.md). :class:`DPConfig` holds the parameters, :func:`encode` / :func:`decode`
the two ends of the pipeline, :class:`PrivacyAccountant` the epsilon.
"""

try:
    import scipy  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("secagg.dp needs scipy and dp-accounting: pip install 'secagg[dp]'") from exc

from secagg.dp.accounting import PrivacyAccountant, noise_for_epsilon
from secagg.dp.config import DPConfig, Mechanism
from secagg.dp.encoding import Decoded, Encoded, decode, encode, rotation_seed

__all__ = [
    "DPConfig",
    "Decoded",
    "Encoded",
    "Mechanism",
    "PrivacyAccountant",
    "decode",
    "encode",
    "noise_for_epsilon",
    "rotation_seed",
]
