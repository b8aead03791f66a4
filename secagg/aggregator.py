"""The aggregator interface: the clients' updates in, their weighted mean and costs out.

An aggregator has one method, :meth:`Aggregator.aggregate`. Give it one flat update per
client (numpy arrays or torch tensors), one positive integer weight per client (its
local sample count, for FedAvg) and which clients dropped at which protocol stage; get
back the weighted mean of the clients whose input counts and the round's metrics.

- :class:`PlainAggregator` computes the weighted mean in float64 with no protection:
  the reference every secure backend is measured against.
- :class:`SecureAggregator` runs one round of SecAgg, SecAgg+ or packed Paillier through
  :func:`secagg.simulation.run_round` (in-process simulation of all parties).

This module needs numpy only: a torch tensor is accepted through its ``detach()``
(duck-typed), so ``pip install secagg`` is enough for any FL loop.

Both refuse NaN or Inf: a client whose update is not finite is excluded from the round
with a logged reason and counted as dropped before upload, as a real client that checks
its own update would do; the other clients aggregate as usual.

Notes
-----
Cost: the secure backends quantize every coordinate to ``bits`` bits after clipping it
to ``[-clip, clip]``; the mean they return differs from the plain mean by at most
``quantization_error_bound`` per coordinate for unclipped values. Clipping is a real
change to the update (like gradient clipping): choose ``clip`` above the largest
update coordinate, and watch ``metrics.clipped``.

Privacy: the server of the secure backends learns the sum of the counted clients' w*x
and their total weight, nothing individual. The diagnostics ``plain_ms`` and
``max_error_vs_plain`` are computed here from the clear updates because this is a
simulation; a real deployment has no such view.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from secagg.errors import (
    POSITION_CLIENT,
    PROTOCOL_CLIENT,
    AbortError,
    ConfigurationError,
    InputError,
    WeightError,
    renumber,
)
from secagg.masking.config import neighbours_for_dropout
from secagg.paillier.rotation import KeyPolicy, KeyRing
from secagg.primitives.entropy import Entropy, system_entropy
from secagg.quantize import DEFAULT_CLIP, QuantizationConfig, quantization_error_bound
from secagg.result import Backend, DropStage, RoundMetrics, RoundResult
from secagg.simulation import round_metrics, run_round, simulate_round
from secagg.timing import SERVER, CpuLedger
from secagg.validation import require_list
from secagg.weighting import check_weights

if TYPE_CHECKING:  # secagg.dp needs scipy (the `dp` extra): imported only when used
    from secagg.dp import DPConfig
    from secagg.robust.aggregator import RobustReport
    from secagg.simulation import Forgery

log = logging.getLogger(__name__)

#: The backend names every aggregator factory and CLI accepts.
BACKENDS = tuple(b.value for b in Backend)

# A client that vanished at one of these stages never uploaded its input.
_BEFORE_UPLOAD = frozenset({DropStage.ADVERTISE_KEYS, DropStage.SHARE_KEYS, DropStage.MASKED_INPUT})


@dataclass(frozen=True)
class AggregationMetrics:
    """What one aggregation cost. Times are CPU milliseconds, sizes bytes."""

    backend: str
    clients: int  # updates given
    survivors: int  # clients whose input is in the mean
    dropped: tuple[int, ...]  # positions that dropped, excluded ones included
    excluded: Mapping[int, str]  # position -> why it was excluded (NaN/Inf)
    client_crypto_ms: float = 0.0  # median over participating clients
    client_crypto_ms_max: float = 0.0
    server_crypto_ms: float = 0.0
    keyholder_crypto_ms: float = 0.0  # Paillier decryption; 0 for the other backends
    bytes_up_per_client: float = 0.0
    plain_ms: float = 0.0  # the plain float64 weighted mean of the same counted updates
    clipped: int = 0  # coordinates of counted updates beyond +-clip
    l2_clipped: int = 0  # updates scaled down to the L2 clip (SecureAggregator l2_clip)
    max_abs_update: float = 0.0  # largest |coordinate| over counted updates
    quantization_bound: float = 0.0  # per-coordinate bound on |secure - clipped plain|
    max_error_vs_plain: float = 0.0  # max |mean - plain mean| (simulation diagnostic)

    @property
    def crypto_ms(self) -> float:
        """The round's crypto time on its critical path, in ms (one client, as clients
        run in parallel, plus the server and the key holder)."""
        return self.client_crypto_ms + self.server_crypto_ms + self.keyholder_crypto_ms

    @property
    def overhead(self) -> float:
        """Crypto time over the plain aggregation time of the same updates (1.0 for plain)."""
        if self.backend == "plain":
            return 1.0
        return self.crypto_ms / self.plain_ms if self.plain_ms > 0 else float("inf")


@dataclass(frozen=True)
class AggregationResult:
    """The weighted mean of the counted clients, and what it cost."""

    mean: npt.NDArray[np.float64]
    total_weight: int
    survivors: tuple[int, ...]  # positions into the updates given, sorted
    metrics: AggregationMetrics = field(repr=False)
    robust: RobustReport | None = None  # the robust rule's report (RobustAggregator)


@runtime_checkable
class Aggregator(Protocol):
    """Anything with this method can aggregate a FedAvg round."""

    name: str

    def aggregate(
        self,
        updates: Sequence[Any],
        weights: Sequence[int],
        *,
        dropouts: Mapping[int, DropStage | str] | None = None,
        round_number: int = 0,
    ) -> AggregationResult:
        """Return the weighted mean of ``updates`` over the clients that did not drop.

        Parameters
        ----------
        updates: one 1-D float vector per client, all of one length (numpy array or
            torch tensor; see :func:`fl.flatten` to make one from a model).
        weights: one positive integer per client, e.g. its local sample count.
        dropouts: position -> the stage at which that client vanished. A client
            dropped at ``DropStage.UNMASKING`` had uploaded already: its input counts.
        round_number: bound into the secure protocols' session.

        Raises AbortError when too few clients survive; InputError (WeightError for
        weights) for malformed updates or weights.
        """
        ...


@dataclass(frozen=True)
class _Prepared:
    arrays: list[npt.NDArray[np.floating]]
    weights: list[int]
    drops: dict[int, DropStage]
    excluded: dict[int, str]

    def counted(self) -> list[int]:
        return [i for i in range(len(self.arrays)) if self.drops.get(i) not in _BEFORE_UPLOAD]


def _to_numpy(update: Any) -> npt.NDArray[np.floating]:
    # Duck-typed so this module never needs torch: a tensor has detach().
    if hasattr(update, "detach"):
        update = update.detach().cpu().numpy()
    try:
        arr = np.asarray(update)
    except (TypeError, ValueError) as exc:
        raise InputError(f"an update must be a numeric vector: {exc}") from None
    if arr.dtype.kind != "f":
        raise InputError(f"updates must hold floats, got {arr.dtype}")
    return arr


def _prepare(
    updates: Sequence[Any],
    weights: Sequence[int],
    dropouts: Mapping[int, DropStage | str] | None,
    round_number: int,
) -> _Prepared:
    arrays = [_to_numpy(u) for u in require_list("updates", updates, InputError)]
    weights = require_list("weights", weights, WeightError)  # type: ignore[assignment]
    if not arrays:
        raise InputError("no updates given")
    if any(a.ndim != 1 or a.shape != arrays[0].shape or a.size == 0 for a in arrays):
        raise InputError("updates must be non-empty 1-D vectors of one length (see fl.flatten)")
    if len(weights) != len(arrays):
        raise InputError(f"{len(arrays)} updates but {len(weights)} weights")
    w = check_weights(weights)
    drops: dict[int, DropStage] = {}
    if dropouts is not None and not isinstance(dropouts, Mapping):
        raise InputError("dropouts must map client positions to stages")
    for i, stage in (dropouts or {}).items():
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < len(arrays):
            raise InputError(f"dropout position {i!r} does not index the updates")
        try:
            drops[int(i)] = DropStage(stage)
        except ValueError:
            raise InputError(f"unknown dropout stage {stage!r}") from None
    excluded: dict[int, str] = {}
    for i, a in enumerate(arrays):
        if drops.get(i) in _BEFORE_UPLOAD:
            continue  # never uploaded: nothing to check
        bad = int(a.size - np.count_nonzero(np.isfinite(a)))
        if bad:
            reason = f"update holds {bad} NaN/Inf value{'s' if bad > 1 else ''}"
            log.warning("round %d: client %d excluded: %s", round_number, i, reason)
            excluded[i] = reason
            # The client refuses to upload a corrupt update: it drops before upload.
            # Its slot carries zeros, which no protocol step will read.
            drops[i] = DropStage.MASKED_INPUT
            arrays[i] = np.zeros_like(a)
    return _Prepared(arrays, w, drops, excluded)


def _check_forged(forged: Mapping[int, Any] | None, n: int) -> Mapping[int, Any]:
    if forged is None:
        return {}
    if not isinstance(forged, Mapping):
        raise InputError("forged must map client positions to functions")
    for i in forged:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n:
            raise InputError(f"forged position {i!r} does not index the updates")
    return forged


def _weighted_mean(
    arrays: Sequence[npt.NDArray[np.floating]], weights: Sequence[int], idx: Sequence[int]
) -> npt.NDArray[np.float64]:
    total = np.zeros(arrays[0].shape, dtype=np.float64)
    for i in idx:
        total += weights[i] * arrays[i].astype(np.float64)
    total /= sum(weights[i] for i in idx)
    return total


def _timed_plain_mean(
    arrays: Sequence[npt.NDArray[np.floating]], weights: Sequence[int], idx: Sequence[int]
) -> tuple[npt.NDArray[np.float64], float]:
    """The plain weighted mean and its CPU time in ms (best of 3: it is short and noisy)."""
    best = float("inf")
    mean = np.zeros(0)
    for _ in range(3):
        start = time.thread_time_ns()
        mean = _weighted_mean(arrays, weights, idx)
        best = min(best, (time.thread_time_ns() - start) / 1e6)
    return mean, best


class PlainAggregator:
    """The unprotected reference: the float64 weighted mean of the counted updates.

    ``min_survivors`` (default 1) is the fewest counted clients for which the round
    completes; below it :meth:`aggregate` raises AbortError like the secure backends.
    """

    name = "plain"

    def __init__(self, *, min_survivors: int = 1) -> None:
        if (
            isinstance(min_survivors, bool)
            or not isinstance(min_survivors, int)
            or min_survivors < 1
        ):
            raise ConfigurationError("min_survivors must be an integer of at least 1")
        self.min_survivors = min_survivors

    def aggregate(
        self,
        updates: Sequence[Any],
        weights: Sequence[int],
        *,
        dropouts: Mapping[int, DropStage | str] | None = None,
        round_number: int = 0,
    ) -> AggregationResult:
        prep = _prepare(updates, weights, dropouts, round_number)
        counted = prep.counted()
        if len(counted) < self.min_survivors:
            raise AbortError(
                f"{len(counted)} of {len(prep.arrays)} clients survived; "
                f"plain aggregation needs {self.min_survivors}"
            )
        mean, ms = _timed_plain_mean(prep.arrays, prep.weights, counted)
        dim = prep.arrays[0].size
        metrics = AggregationMetrics(
            backend=self.name,
            clients=len(prep.arrays),
            survivors=len(counted),
            dropped=tuple(sorted(prep.drops)),
            excluded=prep.excluded,
            server_crypto_ms=0.0,
            bytes_up_per_client=4.0 * dim,  # the float32 update itself
            plain_ms=ms,
            max_abs_update=_max_abs(prep.arrays, counted),
        )
        return AggregationResult(
            mean=mean,
            total_weight=sum(prep.weights[i] for i in counted),
            survivors=tuple(counted),
            metrics=metrics,
        )


@functools.lru_cache(maxsize=256)
def _binomial_quantile(n: int, p: float, tail: float) -> int:
    """The smallest g with P[Binomial(n, p) > g] <= tail (log-space terms: no overflow
    for any n)."""
    if p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    log_p, log_q, log_n = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    cdf = 0.0
    for g in range(n + 1):
        cdf += math.exp(log_n - math.lgamma(g + 1) - math.lgamma(n - g + 1)
                        + g * log_p + (n - g) * log_q)
        if 1.0 - cdf <= tail:
            return g
    return n


def secagg_plus_degree(clients: int, dropout: float) -> int:
    """The SecAgg+ degree :class:`SecureAggregator` uses for ``clients`` with each
    expected to drop with probability ``dropout``: the smallest that survives the
    number of dropouts exceeded with probability at most 1e-3 (the Binomial quantile,
    not the mean: clients drop independently, so a round often loses more than
    dropout * n). Raises ConfigurationError for fewer than 3 clients."""
    if clients < 3:
        raise ConfigurationError(f"SecAgg+ needs at least 3 clients, got {clients}")
    gone = _binomial_quantile(clients, dropout, 1e-3)
    return neighbours_for_dropout(clients, gone / clients if gone < clients else 0.999)


def _max_abs(arrays: Sequence[npt.NDArray[np.floating]], idx: Sequence[int]) -> float:
    return max((float(np.max(np.abs(arrays[i]), initial=0.0)) for i in idx), default=0.0)


class SecureAggregator:
    """One secagg round per call: SecAgg, SecAgg+ or packed Paillier.

    Parameters
    ----------
    protocol: ``secagg``, ``secagg+`` or ``paillier``.
    clip: every coordinate is clipped to [-clip, clip] before quantization (default
        :data:`secagg.quantize.DEFAULT_CLIP`, the default of every layer).
    l2_clip: if given, each update is first scaled down to L2 norm at most ``l2_clip``
        (bounds each client's influence as a whole; ``metrics.l2_clipped`` counts them).
    bits: quantization bits per coordinate; the modulus grows with the number of
        clients and the largest weight of each call, so the sum never wraps around.
    neighbours, threshold: masking protocols only; ``None`` lets secagg choose: for
        SecAgg+ the smallest degree that survives ``dropout``.
    dropout: the fraction of clients expected to drop in a round (0 <= dropout < 1);
        SecAgg+ picks its degree with :func:`secagg.masking.neighbours_for_dropout` for
        it (a sparse graph sized for no dropout fails as soon as a few clients vanish).
    key_bits: Paillier modulus size.
    key_policy: Paillier only: reuse the key holder's key pair across calls under this
        rotation budget (:class:`secagg.paillier.KeyPolicy`; its ``key_bits`` then sets
        the size), so key generation leaves most rounds' cost; ``None`` makes a fresh
        key pair every round. Decryption runs on every available core.
    dp: distributed DP (:class:`secagg.dp.DPConfig`): each client's update is rotated,
        L2-clipped to ``dp.l2_clip``, rounded and noised before the backend protects it
        (``clip`` and ``bits`` are then unused: ``dp.bits`` is the width); the mean is
        the unweighted mean of the contributing clients (weights would change the
        sensitivity). Account for it with :class:`secagg.dp.PrivacyAccountant`.
    dp_context: public bytes mixed into each round's rotation seed (e.g. a job id).
    entropy: randomness for the protocol (keys, masks, rounding, DP noise); ``os.urandom``.
        :func:`secagg.primitives.entropy.seeded_entropy` makes runs reproducible and
        every secret predictable: for experiments only.
    """

    def __init__(
        self,
        protocol: Backend | str,
        *,
        clip: float = DEFAULT_CLIP,
        l2_clip: float | None = None,
        bits: int = 16,
        neighbours: int | None = None,
        threshold: int | None = None,
        dropout: float = 0.0,
        key_bits: int = 2048,
        key_policy: KeyPolicy | None = None,
        dp: DPConfig | None = None,
        dp_context: bytes = b"",
        entropy: Entropy = system_entropy,
    ) -> None:
        self.protocol = Backend.parse(protocol)
        if key_policy is not None and self.protocol is not Backend.PAILLIER:
            raise ConfigurationError("key_policy applies to the paillier backend only")
        if key_policy is not None and not isinstance(key_policy, KeyPolicy):
            raise ConfigurationError("key_policy must be a secagg.paillier.KeyPolicy")
        self.keys = KeyRing(key_policy, entropy) if key_policy is not None else None
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not (
            0.0 <= dropout < 1.0
        ):
            raise ConfigurationError(f"dropout must be a fraction in [0, 1), got {dropout!r}")
        self.dropout = float(dropout)
        if dp is not None:
            from secagg.dp import DPConfig

            if not isinstance(dp, DPConfig):
                raise ConfigurationError("dp must be a secagg.dp.DPConfig")
        self.dp = dp
        self.dp_context = dp_context
        if self.protocol is Backend.PLAIN:
            raise ConfigurationError("SecureAggregator needs a secure backend; use PlainAggregator")
        if not self.protocol.masking and (neighbours is not None or threshold is not None):
            raise ConfigurationError("neighbours and threshold apply to secagg and secagg+ only")
        # Validates clip and bits now rather than in the first round.
        QuantizationConfig(clip=clip, bits=bits, max_clients=1, max_weight=1)
        self.clip = clip
        if l2_clip is not None and (
            isinstance(l2_clip, bool) or not isinstance(l2_clip, (int, float))
            or not (math.isfinite(l2_clip) and l2_clip > 0)
        ):
            raise ConfigurationError(f"l2_clip must be a positive number, got {l2_clip!r}")
        if l2_clip is not None and dp is not None:
            raise ConfigurationError("with DP the L2 clip is dp.l2_clip")
        self.l2_clip = None if l2_clip is None else float(l2_clip)
        self.bits = bits
        self.neighbours = neighbours
        self.threshold = threshold
        self.key_bits = key_bits
        self.entropy = entropy
        self.name = self.protocol.value + (f" {dp.mechanism.value}" if dp is not None else "")

    @staticmethod
    def _clip_norms(prep: _Prepared, bound: float) -> int:
        """Scale each update down to L2 norm at most ``bound``, in place in ``prep``
        (the caller's arrays are never changed); return how many were scaled."""
        scaled = 0
        for i, a in enumerate(prep.arrays):
            norm = float(np.linalg.norm(a.astype(np.float64, copy=False)))
            if norm > bound:
                prep.arrays[i] = (a * (bound / norm)).astype(a.dtype)
                scaled += i not in prep.drops
        return scaled

    def _neighbours(self, clients: int) -> int | None:
        """The SecAgg+ degree for a cohort of ``clients``: the one given, else the
        smallest that survives the expected dropout."""
        if self.neighbours is not None or self.protocol is not Backend.SECAGG_PLUS:
            return self.neighbours
        if clients < 3:
            return None  # secagg refuses the cohort with its own message
        return secagg_plus_degree(clients, self.dropout)

    def _positions(self, prep: _Prepared) -> list[int]:
        """The order in which the clients are handed to secagg.

        secagg's Paillier simulator makes its first client the key holder as well, so a
        dropout drawn for that client would abort the round. FedAvg's dropouts model
        unreliable clients, not an unreliable key holder (a deployment runs that role on
        a dependable party), so a client that stays online goes first. The masking
        protocols keep the given order.
        """
        order = list(range(len(prep.arrays)))
        if self.protocol is Backend.PAILLIER:
            online = [i for i in order if i not in prep.drops]
            if online:
                order.remove(online[0])
                order.insert(0, online[0])
        return order

    def aggregate(
        self,
        updates: Sequence[Any],
        weights: Sequence[int],
        *,
        dropouts: Mapping[int, DropStage | str] | None = None,
        round_number: int = 0,
        forged: Mapping[int, Forgery] | None = None,
    ) -> AggregationResult:
        """:meth:`Aggregator.aggregate`, plus ``forged``: Byzantine clients' protected
        vectors, any value in Z_{2^k} (see :func:`secagg.simulation.run_round`: exact for
        the masking backends; for Paillier it stands for a client choosing its slots'
        values, without carries into neighbouring slots; not with DP). A forged sum that
        fails the server's range check aborts the round."""
        prep = _prepare(updates, weights, dropouts, round_number)
        if not prep.counted():
            # Nothing to aggregate: abort before any key is made (secagg's server would
            # abort at the upload stage anyway).
            raise AbortError(f"none of the {len(prep.arrays)} clients uploaded its update")
        quant = QuantizationConfig(
            clip=self.clip,
            bits=self.bits,
            max_clients=len(prep.arrays),
            max_weight=max(prep.weights),
        )
        order = self._positions(prep)
        if self.dp is not None:
            if forged:
                raise ConfigurationError("forged inputs are not modelled with distributed DP")
            return self._aggregate_dp(self.dp, prep, order, round_number)
        l2_clipped = self._clip_norms(prep, self.l2_clip) if self.l2_clip is not None else 0
        try:
            result = self._run(prep, order, quant, round_number, forged)
        except AbortError as exc:
            renumber(exc, POSITION_CLIENT, lambda p: f"client at position {order[p]}")
            raise
        survivors = tuple(sorted(order[s] for s in result.survivors))
        plain, plain_ms = _timed_plain_mean(prep.arrays, prep.weights, survivors)
        metrics = self._metrics(
            prep,
            survivors,
            result.metrics,
            plain_ms=plain_ms,
            clipped=result.clipped,
            l2_clipped=l2_clipped,
            bound=quantization_error_bound(quant),
            error=float(np.max(np.abs(result.mean - plain), initial=0.0)),
        )
        return AggregationResult(
            mean=np.asarray(result.mean, dtype=np.float64),
            total_weight=result.total_weight,
            survivors=survivors,
            metrics=metrics,
        )

    def _run(
        self,
        prep: _Prepared,
        order: list[int],
        quant: QuantizationConfig,
        round_number: int,
        forged: Mapping[int, Forgery] | None,
    ) -> RoundResult:
        paillier = self.protocol is Backend.PAILLIER
        key = self.keys.key_for_round() if self.keys is not None else None
        return run_round(
            self.protocol,
            [prep.arrays[i] for i in order],
            [prep.weights[i] for i in order],
            quantization=quant,
            dropouts={order.index(i): stage for i, stage in prep.drops.items()},
            neighbours=self._neighbours(len(prep.arrays)),
            threshold=self.threshold,
            key_bits=(self.keys.policy.key_bits if self.keys else self.key_bits) if paillier
            else 2048,
            paillier_key=key,
            workers=(os.cpu_count() or 1) if paillier else None,
            round_number=round_number,
            entropy=self.entropy,
            forged={order.index(i): f for i, f in _check_forged(forged, len(order)).items()},
        )

    def _metrics(
        self,
        prep: _Prepared,
        survivors: tuple[int, ...],
        m: RoundMetrics,
        *,
        plain_ms: float,
        clipped: int,
        bound: float,
        error: float,
        l2_clipped: int = 0,
    ) -> AggregationMetrics:
        return AggregationMetrics(
            backend=self.name,
            clients=len(prep.arrays),
            survivors=len(survivors),
            dropped=tuple(sorted(prep.drops)),
            excluded=prep.excluded,
            client_crypto_ms=1e3 * m.client_cpu_s,
            client_crypto_ms_max=1e3 * m.client_cpu_s_max,
            server_crypto_ms=1e3 * m.server_cpu_s,
            keyholder_crypto_ms=1e3 * m.keyholder_cpu_s,
            bytes_up_per_client=m.bytes_up_per_client,
            plain_ms=plain_ms,
            clipped=clipped,
            l2_clipped=l2_clipped,
            max_abs_update=_max_abs(prep.arrays, survivors),
            quantization_bound=bound,
            max_error_vs_plain=error,
        )

    def _aggregate_dp(
        self, dp: DPConfig, prep: _Prepared, order: list[int], round_number: int
    ) -> AggregationResult:
        """Encode each update with distributed DP, sum the noised integers with the
        backend, decode the noisy sum; the mean is over the contributing clients."""
        if len(prep.arrays) > dp.expected_clients:
            raise ConfigurationError(
                f"{len(prep.arrays)} clients exceed the DP config's expected_clients "
                f"{dp.expected_clients}"
            )
        from secagg.dp import decode as dp_decode
        from secagg.dp import encode as dp_encode
        from secagg.dp import rotation_seed

        seed = rotation_seed(round_number, self.dp_context)
        ledger = CpuLedger()
        protected = {}
        clipped = 0
        for pos, i in enumerate(order):
            with ledger.charge(pos + 1, "quantize"):
                encoded = dp_encode(prep.arrays[i], dp, seed, self.entropy)
            protected[pos + 1] = encoded.protected
            clipped += encoded.clipped and i not in prep.drops
        try:
            run = simulate_round(
                self.protocol,
                protected,
                dp.padded_dim,
                dp.quantization,
                {order.index(i) + 1: stage for i, stage in prep.drops.items()},
                neighbours=self._neighbours(len(prep.arrays)),
                threshold=self.threshold,
                key_bits=self.key_bits if self.protocol is Backend.PAILLIER else 2048,
                workers=min(2, os.cpu_count() or 1),
                round_number=round_number,
                entropy=self.entropy,
                ledger=ledger,
            )
        except AbortError as exc:
            renumber(exc, PROTOCOL_CLIENT, lambda cid: f"client at position {order[cid - 1]}")
            raise
        with ledger.charge(SERVER, "dequantize"):
            decoded = dp_decode(run.outcome.aggregate, dp, seed)
        mean = decoded.mean
        survivors = tuple(sorted(order[s - 1] for s in run.outcome.survivors))
        ones = [1] * len(prep.arrays)
        plain, plain_ms = _timed_plain_mean(prep.arrays, ones, survivors)
        metrics = self._metrics(
            prep,
            survivors,
            round_metrics(self.protocol, run, dp.padded_dim, dp.quantization),
            plain_ms=plain_ms,
            clipped=int(clipped),
            # the mean's noise standard deviation per coordinate, for the table
            bound=dp.noise_multiplier * dp.l2_clip / max(decoded.clients, 1),
            error=float(np.max(np.abs(mean - plain), initial=0.0)),
        )
        return AggregationResult(
            mean=np.asarray(mean, dtype=np.float64),
            total_weight=decoded.clients,
            survivors=survivors,
            metrics=metrics,
        )


def make_aggregator(
    backend: str,
    *,
    clip: float = DEFAULT_CLIP,
    l2_clip: float | None = None,
    bits: int = 16,
    key_bits: int = 2048,
    neighbours: int | None = None,
    threshold: int | None = None,
    dropout: float = 0.0,
    dp: DPConfig | None = None,
    entropy: Entropy = system_entropy,
) -> Aggregator:
    """The aggregator for a backend name (``plain``, ``secagg``, ``secagg+``, ``paillier``).

    ``dropout`` is the fraction of clients expected to drop per round (SecAgg+ sizes
    its graph for it unless ``neighbours`` is given); the other settings are
    :class:`SecureAggregator`'s.

    Raises ConfigurationError for an unknown backend or settings it cannot use (DP needs
    a secure backend).
    """
    if Backend.parse(backend) is Backend.PLAIN:
        if dp is not None:
            raise ConfigurationError("distributed DP needs a secure backend, not plain")
        if l2_clip is not None:
            raise ConfigurationError("plain aggregation does not clip; l2_clip needs a "
                                     "secure backend")
        return PlainAggregator()
    return SecureAggregator(
        backend,
        clip=clip,
        l2_clip=l2_clip,
        bits=bits,
        key_bits=key_bits,
        neighbours=neighbours,
        threshold=threshold,
        dropout=dropout,
        dp=dp,
        entropy=entropy,
    )
