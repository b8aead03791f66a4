"""``python -m fl``: FedAvg on MNIST with secure aggregation, one command.

Prints a per-round table, writes results.json, rounds.csv and accuracy.png to ``--out``.
A mistake in the flags or the TOML file is one line on stderr and exit code 2.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from fl.aggregator import check_backend
from fl.config import FLConfig, parse_config, reference_backend, with_backend
from fl.data import Dataset, load_dataset
from fl.errors import ConfigError
from fl.report import (
    compare_runs,
    plot_accuracy,
    summarize,
    table_header,
    table_row,
    write_csv,
    write_json,
)
from fl.rounds import RoundRecord, RunResult, run_fedavg
from secagg.errors import ConfigurationError

PROG = "python -m fl"
log = logging.getLogger("fl")


class _TqdmHandler(logging.Handler):
    """Log lines that do not tear the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        tqdm.write(self.format(record), file=sys.stderr)


def _setup_logging(level: str = "warning") -> None:
    """fl's and secagg's log lines on stderr, at ``level``, without tearing the bar."""
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    for name in ("fl", "secagg"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False


def _show_progress(config: FLConfig) -> bool:
    # A bar only on a terminal: in a log file or a pipe its redraws would interleave
    # with the table.
    return config.progress and not config.quiet and sys.stderr.isatty() and sys.stdout.isatty()


def output_dir(config: FLConfig, now: datetime | None = None) -> Path:
    """Where this run writes, created: ``--out`` (refused when it holds files, unless
    ``--force``), else a new ``out/run-<UTC time>`` that no earlier run used. Raises
    ConfigError."""
    if config.out is not None:
        out = Path(config.out)
        if out.is_dir() and any(out.iterdir()) and not config.force:
            raise ConfigError(
                f"--out {str(out)!r} is not empty: pass --force to replace its results, or "
                "choose another directory (without --out every run gets a new one)"
            )
    else:
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
        suffix = 1
        while True:  # mkdir is the atomic claim: two runs never share a directory
            out = Path("out") / (f"run-{stamp}" if suffix == 1 else f"run-{stamp}-{suffix}")
            try:
                out.mkdir(parents=True, exist_ok=False)
                return out
            except FileExistsError:
                suffix += 1
            except OSError as exc:
                raise ConfigError(
                    f"cannot create output directory {str(out)!r}: {exc.strerror}"
                ) from None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {str(out)!r}: {exc.strerror}") \
            from None
    return out


def _run_one(
    config: FLConfig, dataset: Dataset, skip_rounds: frozenset[int] = frozenset()
) -> RunResult:
    from tqdm import tqdm

    dp_line = ""
    if config.dp != "none":
        noise = (
            f"noise multiplier {config.noise_multiplier}"
            if config.noise_multiplier is not None
            else f"target epsilon {config.target_epsilon}"
        )
        dp_line = (
            f"\n   DP: {config.dp}, {noise}, L2 clip {config.dp_l2_clip}, {config.bits} bits, "
            f"delta {config.delta}"
        )
    quiet = config.quiet
    if not quiet:
        _print_header(config, dp_line)
    elif config.insecure_seed is not None:  # a security warning is never quiet
        print(f"INSECURE: protocol randomness from --insecure-seed {config.insecure_seed}",
              file=sys.stderr)
    with tqdm(
        total=config.rounds, desc=config.backend, unit="round", disable=not _show_progress(config),
        file=sys.stderr, leave=False,
    ) as bar:
        byzantine, robust = config.byzantine > 0, config.robust != "none"

        def on_round(record: RoundRecord) -> None:
            if not quiet:
                tqdm.write(table_row(record, config.backend, config.clients_per_round,
                                     byzantine=byzantine, robust=robust), file=sys.stdout)
            bar.update(1)

        return run_fedavg(config, dataset=dataset, on_round=on_round, skip_rounds=skip_rounds)


def _print_header(config: FLConfig, dp_line: str) -> None:
    print(
        f"\n== {config.backend}: {config.dataset}, {config.clients} clients "
        f"(Dirichlet alpha={config.alpha}), {config.clients_per_round} per round, "
        f"{config.rounds} rounds, dropout {config.dropout} at '{config.dropout_stage}', "
        f"seed {config.seed}"
        + dp_line
        + (
            f"\n   INSECURE: protocol randomness from --insecure-seed {config.insecure_seed}: "
            "reproducible, and every mask is predictable"
            if config.insecure_seed is not None
            else ""
        ),
        flush=True,
    )
    byzantine, robust = config.byzantine > 0, config.robust != "none"
    if byzantine or robust:
        print(
            f"   Byzantine: {config.byzantine:g} of the clients, attack {config.attack}; "
            f"robust rule {config.robust}"
            + (f" over {config.groups} groups" if config.groups else "")
            + (f" (the server learns {config.groups} group sums per round)"
               if config.groups and config.backend != "plain" else ""),
            flush=True,
        )
    print(table_header(config.backend, dp=config.dp != "none", byzantine=byzantine,
                       robust=robust), flush=True)


def _print_summary(run: RunResult) -> None:
    s = summarize(run)
    overhead = s["mean_overhead"]
    if run.dp is not None:
        eps = run.dp["epsilon"]
        print(
            f"{run.backend}: ({'no DP' if eps is None else f'epsilon {eps:.3f}'}, delta "
            f"{run.dp['delta']:g} (+{run.dp['delta_with_sampler_slack'] - run.dp['delta']:.1e} "
            f"sampler slack), noise multiplier {run.dp['noise_multiplier']:.4g})"
        )
    print(
        f"{run.backend}: final accuracy {100 * s['final_accuracy']:.2f}% after "
        f"{s['rounds_completed']} rounds ({s['rounds_skipped']} skipped), "
        f"{run.n_params:,} parameters; mean client crypto "
        f"{s['mean_client_crypto_ms'] or 0:.1f} ms, server {s['mean_server_crypto_ms'] or 0:.1f} ms"
        + (f", overhead {overhead:,.0f}x plain" if overhead and run.backend != "plain" else "")
    )


def main(argv: Sequence[str] | None = None) -> int:
    _setup_logging()
    try:
        config = parse_config(argv)
        _setup_logging(config.log_level)
        check_backend(config.backend)
        dataset = load_dataset(config.dataset, test_fraction=config.test_fraction,
                               seed=config.seed)
        out = output_dir(config)
        run = _run_one(config, dataset)
        reference = None
        if config.compare:
            # Same seed, partition, clients, dropouts and batches; the plain reference
            # also skips the rounds the secure run aborted, so that aggregation is the
            # only difference between the two curves.
            aborted = frozenset(r.round for r in run.rounds if r.skipped)
            reference = _run_one(
                with_backend(config, reference_backend(config)), dataset, aborted
            )
    except (ConfigError, ConfigurationError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130

    print()
    if reference is not None:
        _print_summary(reference)
    _print_summary(run)
    runs = [run] if reference is None else [reference, run]
    write_json(out / "results.json", run, reference)
    saved = ""
    if config.save_model:
        import torch

        torch.save(run.model.state_dict(), out / "model.pt")
        saved = f", {out / 'model.pt'}"

    write_csv(out / "rounds.csv", runs)
    plot_accuracy(out / "accuracy.png", runs)
    if reference is not None:
        c = compare_runs(run, reference)
        verdict = "within" if c["within_tolerance"] else "OUTSIDE"
        print(
            f"{run.backend} vs {reference.backend}: final accuracy gap "
            f"{c['final_accuracy_gap_pp']:.2f} pp "
            f"({verdict} {c['tolerance_pp']} pp), largest gap over rounds "
            f"{c['max_accuracy_gap_pp']:.2f} pp"
        )
    print(f"results: {out / 'results.json'}, {out / 'rounds.csv'}, {out / 'accuracy.png'}"
          + saved)
    return 0


if __name__ == "__main__":
    sys.exit(main())
