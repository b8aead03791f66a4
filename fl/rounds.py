"""The FedAvg loop: sample, train locally, aggregate (securely), step, evaluate.

Each round:

1. sample ``clients_per_round`` of the clients;
2. each trains a copy of the global model on its shard and returns its delta as a flat
   float32 vector, weighted by its sample count;
3. each sampled client drops with probability ``dropout``, at ``dropout_stage``;
4. the aggregator returns the weighted mean of the counted deltas (secure backends:
   quantize, mask or encrypt, sum, unmask or decrypt, dequantize);
5. global += server_lr * mean; evaluate on the held-out test set.

When too few clients survive the aggregator raises AbortError: the round is skipped with
a log line and the model stays as it was.

Sampling, dropouts and batch orders come from numpy/torch generators seeded by (seed,
round, client): two runs with one seed on two backends see the same clients, dropouts
and batches, so their only difference is the aggregation itself.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fl.aggregator import Aggregator, make_aggregator
from fl.byzantine import Attack, flip_labels, forgeries, malicious_clients, poison
from fl.config import FLConfig
from fl.data import Dataset, dirichlet_partition, load_dataset
from fl.errors import ConfigError
from fl.flatten import flatten, restore
from fl.model import build_model
from fl.train import Evaluation, evaluate, evaluate_on, local_update, local_update_from
from secagg.dp import DPConfig, Mechanism, PrivacyAccountant, noise_for_epsilon
from secagg.errors import POSITION_CLIENT, AbortError, ConfigurationError, renumber
from secagg.primitives.entropy import Entropy, seeded_entropy, system_entropy
from secagg.result import DropStage
from secagg.robust import RobustAggregator

log = logging.getLogger(__name__)

# (round, client id, delta) -> the delta actually sent; for fault injection in tests.
UpdateHook = Callable[[int, int, npt.NDArray[np.float32]], npt.NDArray[np.float32]]

_SAMPLING, _DROPOUT = 1, 2  # stream tags: sampling and dropouts draw independently


@dataclass(frozen=True)
class RoundRecord:
    """What one round did and cost. Client ids are indices into the partition."""

    round: int
    accuracy: float  # test accuracy after the round, a fraction
    loss: float  # test cross-entropy after the round
    train_loss: float  # mean local training loss of the sampled clients
    sampled: tuple[int, ...]
    survivors: int  # clients whose update is in the mean
    dropped: tuple[int, ...]  # simulated dropouts and excluded clients
    excluded: Mapping[int, str] = field(default_factory=dict)  # client -> reason
    skipped: bool = False
    skip_reason: str = ""
    client_crypto_ms: float = 0.0
    client_crypto_ms_max: float = 0.0
    server_crypto_ms: float = 0.0
    keyholder_crypto_ms: float = 0.0
    bytes_up_per_client: float = 0.0
    plain_agg_ms: float = 0.0
    overhead: float = 0.0  # crypto ms / plain aggregation ms
    max_error_vs_plain: float = 0.0
    quantization_bound: float = 0.0
    clipped: int = 0  # coordinates beyond +-clip (changed by clipping)
    l2_clipped: int = 0  # updates scaled down to --l2-clip
    max_abs_update: float = 0.0
    train_s: float = 0.0  # wall time of local training, all sampled clients
    aggregate_s: float = 0.0  # wall time of the aggregation call
    epsilon: float | None = None  # DP: epsilon of all rounds so far, at the config's delta
    byzantine: tuple[int, ...] = ()  # sampled clients that were Byzantine
    robust: Mapping[str, Any] | None = None  # the robust rule's report (RobustReport.as_dict)


@dataclass(frozen=True)
class RunResult:
    """A whole FedAvg run."""

    backend: str
    config: FLConfig
    n_params: int
    client_sizes: tuple[int, ...]
    initial: Evaluation
    rounds: tuple[RoundRecord, ...]
    dp: Mapping[str, Any] | None = None  # DP: every parameter, derived value and final epsilon
    model: Any = field(default=None, repr=False, compare=False)  # the final global model

    @property
    def final_accuracy(self) -> float:
        return self.rounds[-1].accuracy if self.rounds else self.initial.accuracy


def _round_rng(seed: int, round_number: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, round_number, stream])


def _client_seed(seed: int, round_number: int, client: int) -> int:
    return int(np.random.SeedSequence([seed, round_number, client, 3]).generate_state(1)[0])


def run_fedavg(
    config: FLConfig,
    *,
    aggregator: Aggregator | None = None,
    dataset: Dataset | None = None,
    model: Any = None,
    client_loaders: Sequence[Iterable[Any]] | None = None,
    test_loader: Iterable[Any] | None = None,
    on_round: Callable[[RoundRecord], None] | None = None,
    update_hook: UpdateHook | None = None,
    skip_rounds: Collection[int] = (),
) -> RunResult:
    """Train with FedAvg as ``config`` says and return every round's record.

    ``aggregator`` defaults to the one ``config.backend`` names; ``dataset`` to
    ``config.dataset`` loaded from disk. Your own model and data: ``model`` (any
    ``torch.nn.Module`` classifier; trained in place and returned as
    ``RunResult.model``), ``client_loaders`` (one iterable of (inputs, labels) batches
    per client, e.g. DataLoaders; ``config.clients`` must equal their number) and
    ``test_loader`` (required with them). ``on_round`` is called after every round (the
    CLI prints the table row there); ``update_hook`` may alter each client's delta
    (fault injection). ``skip_rounds`` are skipped whatever survives: ``--compare`` has
    the plain reference skip the rounds the secure backend aborted, so that the two runs
    differ by the aggregation alone.
    """
    own_data = client_loaders is not None
    if own_data:
        assert client_loaders is not None
        if test_loader is None:
            raise ConfigError("client_loaders need a test_loader to evaluate on")
        if len(client_loaders) != config.clients:
            raise ConfigError(f"{len(client_loaders)} client loaders for clients = "
                              f"{config.clients}: give one loader per client")
        if config.attack == "label-flip":
            raise ConfigError("the label-flip attack needs the built-in datasets")
        shards: list[Any] = list(client_loaders)
    else:
        if dataset is None:
            dataset = load_dataset(config.dataset, test_fraction=config.test_fraction,
                                   seed=config.seed)
        shards = dirichlet_partition(dataset.train_y, config.clients, config.alpha, config.seed)
    if model is None:
        if dataset is None:
            raise ConfigError("client_loaders need your model too (model=...)")
        model = build_model(config.model, dataset.image_shape, dataset.n_classes,
                            seed=config.seed)

    def assess() -> Evaluation:
        if own_data:
            assert test_loader is not None
            return evaluate_on(model, test_loader)
        assert dataset is not None
        return evaluate(model, dataset.test_x, dataset.test_y)

    weights_now = flatten(model, include_buffers=False).astype(np.float64)
    privacy = dp_setup(config, weights_now.size) if config.dp != "none" else None
    if aggregator is None:
        entropy: Entropy = system_entropy
        if config.insecure_seed is not None:
            # Explicitly asked for: every protocol key, mask, share and DP noise draw
            # becomes predictable to whoever knows the seed (seeded_entropy warns).
            entropy = seeded_entropy(config.insecure_seed)
        aggregator = make_aggregator(
            config.backend, clip=config.clip, bits=config.bits, key_bits=config.key_bits,
            l2_clip=config.l2_clip if config.dp == "none" else None,
            neighbours=config.neighbours, threshold=config.threshold,
            dropout=config.dropout if config.backend != "plain" else 0.0, entropy=entropy,
            dp=privacy.config if privacy is not None else None,
        )
        if config.robust != "none":
            aggregator = RobustAggregator(
                aggregator, config.robust, groups=config.groups,
                fraction=config.robust_fraction, norm_bound=config.norm_bound,
                seed=b"fl/groups/" + str(config.seed).encode(),
            )
    attack = Attack(config.attack)
    malicious = (malicious_clients(config.clients, config.byzantine, config.seed)
                 if config.byzantine > 0 else frozenset())
    initial = assess()
    log.info("%s: %d clients, %d parameters, initial accuracy %.4f",
             aggregator.name, config.clients, weights_now.size, initial.accuracy)
    records: list[RoundRecord] = []
    last = initial
    for r in range(1, config.rounds + 1):
        sampled = np.sort(
            _round_rng(config.seed, r, _SAMPLING).choice(
                config.clients, config.clients_per_round, replace=False
            )
        )
        drop_draw = _round_rng(config.seed, r, _DROPOUT).random(len(sampled))
        dropouts: dict[int, DropStage] = {
            pos: config.drop_stage for pos in np.flatnonzero(drop_draw < config.dropout).tolist()
        }

        start = time.perf_counter()
        deltas: list[npt.NDArray[np.float32]] = []
        counts: list[int] = []
        train_losses: list[float] = []
        for client in sampled.tolist():
            if own_data:
                upd = local_update_from(model, shards[client], epochs=config.local_epochs,
                                        lr=config.lr)
            else:
                assert dataset is not None
                shard = shards[client]
                labels = dataset.train_y[shard]
                if attack is Attack.LABEL_FLIP and client in malicious:
                    labels = flip_labels(labels, dataset.n_classes)
                upd = local_update(
                    model, dataset.train_x[shard], labels,
                    epochs=config.local_epochs, batch_size=config.batch_size, lr=config.lr,
                    seed=_client_seed(config.seed, r, client),
                )
            delta = upd.delta if update_hook is None else update_hook(r, client, upd.delta)
            deltas.append(delta)
            counts.append(upd.n_samples)
            train_losses.append(upd.train_loss)
        train_s = time.perf_counter() - start
        train_loss = float(np.mean(train_losses))
        bad = [pos for pos, c in enumerate(sampled.tolist()) if c in malicious]
        deltas = poison(attack, deltas, bad, scale=config.attack_scale,
                        seed=_client_seed(config.seed, r, config.clients))  # no client's id
        forged = forgeries(attack, bad)
        byzantine = tuple(int(sampled[p]) for p in bad)

        start = time.perf_counter()
        try:
            if r in skip_rounds:
                raise AbortError("skipped to match the run it is compared with")
            extra: dict[str, Any] = {"forged": forged} if forged else {}
            agg = aggregator.aggregate(deltas, counts, dropouts=dropouts, round_number=r,
                                       **extra)
        except AbortError as exc:
            # In the job's numbering: client ids, not positions in this round's list.
            ids = sampled.tolist()
            renumber(exc, POSITION_CLIENT, lambda p: f"client {ids[p]}")  # noqa: B023
            reason = f"{len(sampled) - len(dropouts)} of {len(sampled)} sampled clients " \
                     f"survived: {exc}"
            log.warning("round %d skipped: %s", r, reason)
            record = RoundRecord(
                round=r, accuracy=last.accuracy, loss=last.loss, train_loss=train_loss,
                sampled=tuple(ids), survivors=len(sampled) - len(dropouts),
                dropped=tuple(ids[p] for p in sorted(dropouts)), skipped=True,
                skip_reason=reason, train_s=train_s, byzantine=byzantine,
                aggregate_s=time.perf_counter() - start,
                # nothing was released: the round costs no privacy
                epsilon=privacy.accountant.epsilon() if privacy is not None else None,
            )
        else:
            aggregate_s = time.perf_counter() - start
            epsilon = privacy.step(agg.metrics.survivors) if privacy is not None else None
            weights_now = weights_now + config.server_lr * agg.mean
            restore(model, weights_now, include_buffers=False)
            last = assess()
            ids = sampled.tolist()
            m = agg.metrics
            record = RoundRecord(
                round=r, accuracy=last.accuracy, loss=last.loss, train_loss=train_loss,
                sampled=tuple(ids), survivors=m.survivors,
                dropped=tuple(ids[p] for p in m.dropped),
                excluded={ids[p]: why for p, why in m.excluded.items()},
                client_crypto_ms=m.client_crypto_ms, client_crypto_ms_max=m.client_crypto_ms_max,
                server_crypto_ms=m.server_crypto_ms, keyholder_crypto_ms=m.keyholder_crypto_ms,
                bytes_up_per_client=m.bytes_up_per_client, plain_agg_ms=m.plain_ms,
                overhead=m.overhead, max_error_vs_plain=m.max_error_vs_plain,
                quantization_bound=m.quantization_bound, clipped=m.clipped, l2_clipped=m.l2_clipped,
                max_abs_update=m.max_abs_update, train_s=train_s, aggregate_s=aggregate_s,
                epsilon=epsilon, byzantine=byzantine,
                robust=_robust_in_ids(agg.robust.as_dict(), ids) if agg.robust else None,
            )
        records.append(record)
        if on_round is not None:
            on_round(record)
    return RunResult(
        backend=aggregator.name,
        config=config,
        n_params=int(weights_now.size),
        client_sizes=tuple(len(s) for s in shards) if not own_data else (),
        initial=initial,
        rounds=tuple(records),
        dp=privacy.summary() if privacy is not None else None,
        model=model,
    )


def _robust_in_ids(report: dict[str, Any], ids: list[int]) -> dict[str, Any]:
    """The robust report in the job's numbering: client positions become client ids
    (group indices stay group indices)."""
    out = dict(report)
    if not report["groups"]:
        out["rejected"] = [ids[p] for p in report["rejected"]]
        out["clipped"] = [ids[p] for p in report["clipped"]]
    aborted = {}
    for group, why in report["aborted"].items():
        err = AbortError(why)
        renumber(err, POSITION_CLIENT, lambda p: f"client {ids[p]}")
        aborted[group] = str(err)
    out["aborted"] = aborted
    return out


@dataclass
class Privacy:
    """A run's DP configuration and its accountant."""

    config: DPConfig
    accountant: PrivacyAccountant
    chosen_by_target: bool

    def step(self, contributors: int) -> float:
        return self.accountant.step(contributors)

    def summary(self) -> dict[str, Any]:
        c = self.config
        epsilon, delta = self.accountant.guarantee()
        return {
            "mechanism": c.mechanism.value,
            "noise_multiplier": c.noise_multiplier,
            "noise_multiplier_from_target_epsilon": self.chosen_by_target,
            "l2_clip": c.l2_clip,
            "expected_clients": c.expected_clients,
            "bits": c.bits,
            "dim": c.dim,
            "padded_dim": c.padded_dim,
            "mod_clip_prob": c.mod_clip_prob,
            "beta": c.beta,
            "dropout_margin": c.dropout,
            "scale": c.scale,
            "local_noise_std": c.local_stddev,
            "l2_sensitivity": c.l2_sensitivity,
            "sampling_rate": self.accountant.sampling_rate,
            "delta": self.accountant.delta,
            "rounds_accounted": self.accountant.rounds,
            "epsilon": epsilon if math.isfinite(epsilon) else None,
            "delta_with_sampler_slack": delta,
        }


def dp_setup(config: FLConfig, dim: int) -> Privacy:
    """The run's DPConfig (its noise multiplier from --target-epsilon when asked) and an
    accountant with Poisson sampling at clients_per_round / clients (the usual
    approximation of sampling a fixed number without replacement). Raises ConfigError
    when the bits or the target cannot be met."""
    rate = config.clients_per_round / config.clients

    def make(z: float) -> DPConfig:
        return DPConfig(
            Mechanism(config.dp), z, config.dp_l2_clip, config.clients_per_round, config.bits,
            dim, dropout=config.dropout,
        )

    try:
        z = config.noise_multiplier
        if z is None:
            assert config.target_epsilon is not None  # checked by FLConfig
            z = noise_for_epsilon(
                config.target_epsilon, make, rounds=config.rounds,
                clients=config.clients_per_round, delta=config.delta, sampling_rate=rate,
            )
        dp = make(z)
    except ConfigurationError as exc:
        raise ConfigError(f"dp: {exc}") from None
    accountant = PrivacyAccountant(dp, config.delta, rate)
    return Privacy(dp, accountant, config.noise_multiplier is None)
