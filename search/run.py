"""The search: Ray Tune trials, configs from Optuna's TPE over a named space, ASHA stopping.

    python -m search.run --space focal --data ../shared/data/pneumoniamnist/pneumoniamnist.npz
    python -m search.run --list-spaces
    python -m search.run --space focal --name my-run --resume        # after an interruption
    tensorboard --logdir results/my-run

Optimises validation balanced accuracy at the validation-tuned threshold. Results land in
<storage>/<name>/: Tune's trial folders (TensorBoard events, checkpoints), the Optuna study
(optuna.db, for optuna-dashboard), leaderboard.csv, best.json and test_metrics.json.
"""

from __future__ import annotations

import os

# Quiet Ray before it is imported: no usage stats, the plain reporter, no sync warnings.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")

import argparse  # noqa: E402
import logging  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import optuna  # noqa: E402
import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler  # noqa: E402

from search.answer import ENSEMBLE_SIZE  # noqa: E402
from search.optuna_search import PruningOptunaSearch  # noqa: E402
from search.report import format_summary, write_confirm, write_report  # noqa: E402
from search.reruns import (  # noqa: E402
    confirm_configs,
    member_configs,
    reference_configs,
    run_configs,
    trial_dirname,
)
from spaces import SEED_POINTS, SPACES, describe_spaces  # noqa: E402
from trainable.config import UserError  # noqa: E402
from trainable.data import load_data  # noqa: E402
from trainable.ray_trainable import train_trial  # noqa: E402
from trainable.train import peak_memory_mb  # noqa: E402

OBJECTIVES = {"val": "val_balanced_accuracy", "robust": "val_robust_balanced_accuracy"}
SAMPLERS = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
CONFIRM_SEEDS = 3
BUDGET_IMAGES = 10 * 4_708  # see default_epochs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m search.run", description=__doc__.split("\n")[0])
    p.add_argument("--space", help=f"one of: {', '.join(SPACES)}")
    p.add_argument("--list-spaces", action="store_true", help="print each space's knobs")
    p.add_argument(
        "--data",
        default="pneumoniamnist",
        help="npz file, folder with train/<CLASS>/, 'pneumoniamnist' or 'synthetic'",
    )
    p.add_argument("--size", type=int, help="resize images to SIZE x SIZE on load")
    p.add_argument(
        "--train-subsample",
        type=int,
        metavar="N",
        help="keep N training images, stratified (learning curves, small-data checks)",
    )
    p.add_argument("--num-samples", type=int, default=12, help="trials to run")
    p.add_argument(
        "--epochs",
        type=int,
        help="max epochs per trial (default: as many images as 10 epochs of 4,708, at least 10)",
    )
    p.add_argument("--max-concurrent", type=int, default=2, help="trials running at once")
    p.add_argument("--cpus-per-trial", type=float, default=1)
    p.add_argument("--gpus-per-trial", type=float, default=0, help="fractions allowed, e.g. 0.25")
    p.add_argument(
        "--sampler",
        choices=tuple(SAMPLERS),
        default="tpe",
        help="Optuna sampler; random is the baseline TPE has to beat (benchmarks/run.py)",
    )
    p.add_argument("--scheduler", choices=("asha", "none"), default="asha")
    p.add_argument(
        "--grace-period",
        type=int,
        help="ASHA: epochs every trial gets before it may be stopped (default: a tenth of "
        "--epochs, at least 1; see BENCHMARKS.md)",
    )
    p.add_argument(
        "--objective",
        choices=tuple(OBJECTIVES),
        default="val",
        help="val: validation balanced accuracy at the tuned threshold; robust: the same on "
        "perturbed validation images (trainable/robustness.py)",
    )
    p.add_argument(
        "--confirm",
        type=int,
        default=0,
        metavar="K",
        help="retrain the top K configs with 3 new seeds each; report mean and spread",
    )
    p.add_argument(
        "--max-failures",
        type=int,
        default=1,
        help="retries of a crashed trial, from its last checkpoint",
    )
    p.add_argument("--seed", type=int, default=0, help="TPE sampler and training seed")
    p.add_argument("--name", help="experiment name (default: <space>-<date>-<time>)")
    p.add_argument("--storage", default="./results", help="results folder or cloud URI")
    p.add_argument("--address", help="an existing Ray cluster, e.g. 'auto'")
    p.add_argument("--resume", action="store_true", help="continue the experiment --name")
    p.add_argument("--verbose", action="store_true", help="show Ray's own logs and tables")
    return p.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Refuse bad flags before anything starts or is written."""
    if args.space not in SPACES:
        given = f"unknown space {args.space!r}" if args.space else "--space is required"
        raise UserError(f"{given}; choose one of: {', '.join(SPACES)} (see --list-spaces)")
    for flag, value, low in (
        ("--num-samples", args.num_samples, 1),
        ("--epochs", args.epochs, 1),
        ("--max-concurrent", args.max_concurrent, 1),
        ("--grace-period", args.grace_period, 1),
        ("--max-failures", args.max_failures, 0),
        ("--confirm", args.confirm, 0),
        ("--train-subsample", args.train_subsample, 2),
    ):
        if value is not None and value < low:
            raise UserError(f"{flag} must be at least {low}; got {value}")
    check_budget(args)
    if args.cpus_per_trial <= 0 or args.gpus_per_trial < 0:
        raise UserError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    if args.resume and not args.name:
        raise UserError("--resume needs --name, the experiment to continue")


def check_budget(args: argparse.Namespace) -> None:
    if args.scheduler == "asha" and None not in (args.grace_period, args.epochs):
        if args.grace_period > args.epochs:
            raise UserError(
                f"--grace-period ({args.grace_period}) exceeds --epochs ({args.epochs})"
            )


def default_epochs(train_images: int) -> int:
    """A trial's budget in images seen, not epochs: 10 epochs of PneumoniaMNIST's 4,708
    training images (the measured default), so 500 images get 94 epochs, about as many
    optimiser steps, and ASHA never judges a small-data trial after a handful of steps.
    At least 10 epochs, at most 200."""
    return min(200, max(10, round(BUDGET_IMAGES / train_images)))


def default_grace(epochs: int) -> int:
    """A tenth of the budget: 1 epoch of 10 (measured best in BENCHMARKS.md), 9 of 94."""
    return max(1, round(epochs / 10))


def storage_root(args: argparse.Namespace) -> str:
    """Where Tune keeps trials and checkpoints: a cloud URI as given, a local path absolute."""
    if "://" in args.storage:
        return args.storage.rstrip("/")
    return str(Path(args.storage).expanduser().resolve())


def report_dir(args: argparse.Namespace) -> Path:
    """Where the report and the Optuna study go: the experiment folder, or for cloud storage
    ./results/<name> next to the driver (SQLite needs a local file)."""
    if "://" in args.storage:
        return Path("results").resolve() / args.name
    return Path(storage_root(args)) / args.name


def check_writable(folder: Path) -> None:
    """Refuse a results folder we cannot create or write, before any trial runs (and without
    creating anything yet)."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is a file")
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as e:
        raise UserError(
            f"cannot write results under {folder} ({e}); choose another --storage"
        ) from None


def check_reachable(address: str) -> None:
    """Fail fast on host:port with nothing listening; ray.init would retry for minutes."""
    if address == "auto":
        return  # Ray finds the local cluster itself and fails at once when there is none
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as e:
        raise UserError(
            f"cannot reach a Ray cluster at {address!r} ({e}); start one with "
            "'ray up cluster.yaml' or leave out --address"
        ) from None


def start_ray(args: argparse.Namespace) -> None:
    level = logging.INFO if args.verbose else logging.ERROR
    if args.address:
        check_reachable(args.address)
    try:
        if args.address:
            ray.init(address=args.address, logging_level=level, log_to_driver=args.verbose)
        else:
            ray.init(include_dashboard=False, logging_level=level, log_to_driver=args.verbose)
    except (ConnectionError, RuntimeError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"cannot reach a Ray cluster at {args.address!r} ({first_line}); start "
            "one with 'ray up cluster.yaml' or leave out --address"
        ) from None
    if args.gpus_per_trial > 0:
        check_gpus(args.gpus_per_trial, autoscaling=bool(args.address))


def check_gpus(per_trial: float, autoscaling: bool) -> None:
    """A trial needs one node with enough GPUs. An autoscaling cluster may have none yet."""
    per_node = [n["Resources"].get("GPU", 0) for n in ray.nodes() if n["Alive"]]
    most = max(per_node, default=0)
    if most >= per_trial:
        return
    if autoscaling and most == 0:
        print(
            f"no GPU node is up yet; trials wait for the autoscaler to add one with "
            f">= {per_trial:g} GPU(s)",
            flush=True,
        )
        return
    raise UserError(
        f"--gpus-per-trial {per_trial:g} but the largest node has {most:g} GPU(s); "
        "use --gpus-per-trial 0 (CPU), a fraction such as 0.25, or a GPU cluster"
    )


def build_tuner(args: argparse.Namespace, trainable, experiment: Path) -> tune.Tuner:
    objective = OBJECTIVES[args.objective]
    seed_point = SEED_POINTS.get(args.space)
    searcher = PruningOptunaSearch(
        space=SPACES[args.space],
        metric=objective,
        mode="max",
        sampler=SAMPLERS[args.sampler](seed=args.seed),
        points_to_evaluate=[seed_point] if seed_point else None,
        storage=optuna.storages.RDBStorage(f"sqlite:///{experiment / 'optuna.db'}"),
        study_name=args.name,
        max_epochs=args.epochs,
    )
    scheduler = None
    if args.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="training_iteration",
            max_t=args.epochs,
            grace_period=args.grace_period,
            reduction_factor=3,
        )
    return tune.Tuner(
        trainable,
        param_space={"epochs": args.epochs, "seed": args.seed},
        tune_config=tune.TuneConfig(
            trial_dirname_creator=trial_dirname,
            metric=objective,
            mode="max",
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=args.num_samples,
            max_concurrent_trials=args.max_concurrent,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=args.name,
            storage_path=storage_root(args),
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=2, checkpoint_score_attribute=objective, checkpoint_score_order="max"
            ),
            failure_config=tune.FailureConfig(max_failures=args.max_failures),
            callbacks=[Progress(args.num_samples, objective)],
            verbose=2 if args.verbose else 0,
        ),
    )


class Progress(tune.Callback):
    """One line per finished trial: its score, the best so far, and what is still running."""

    def __init__(self, total: int, objective: str):
        self.total, self.done, self.objective = total, 0, objective
        self.best, self.started = float("-inf"), time.monotonic()

    def on_trial_complete(self, iteration, trials, trial, **info):
        score = (trial.last_result or {}).get(self.objective, float("nan"))
        epochs = (trial.last_result or {}).get("epoch", 0)
        self.best = max(self.best, trial.metric_analysis.get(self.objective, {}).get("max", score))
        self.done += 1
        running = sum(t.status == "RUNNING" for t in trials if t is not trial)
        print(
            f"[{time.monotonic() - self.started:6.0f}s] trial {self.done}/{self.total} "
            f"done after {epochs} epochs: {self.objective} {score:.4f}  best {self.best:.4f}  "
            f"running {running}",
            flush=True,
        )

    def on_trial_error(self, iteration, trials, trial, **info):
        print(f"trial {trial.trial_id} failed: {trial.error_file}", flush=True)


def run(args: argparse.Namespace) -> None:
    if args.list_spaces:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        print(describe_spaces())
        return
    check_args(args)
    args.name = args.name or f"{args.space}-{datetime.now():%Y%m%d-%H%M%S}"
    experiment = report_dir(args)
    check_writable(experiment)
    tune_path = f"{storage_root(args)}/{args.name}"
    exists = tune.Tuner.can_restore(tune_path)
    if args.resume and not exists:
        raise UserError(f"--resume: no experiment at {tune_path}; check --name and --storage")
    if not args.resume and exists:
        raise UserError(
            f"{tune_path} already holds an experiment; add --resume to continue "
            "it or pick another --name"
        )
    data = load_data(args.data, size=args.size, train_subsample=args.train_subsample)
    print(data.describe())
    args.epochs = args.epochs or default_epochs(len(data.train_y))
    args.grace_period = args.grace_period or default_grace(args.epochs)
    check_budget(args)
    if not args.verbose:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    start_ray(args)
    experiment.mkdir(parents=True, exist_ok=True)
    resources = {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial}
    trainable = tune.with_resources(tune.with_parameters(train_trial, data=data), resources)
    if args.resume:
        tuner = tune.Tuner.restore(tune_path, trainable, resume_errored=True)
    else:
        tuner = build_tuner(args, trainable, experiment)
    stopping = f", ASHA grace {args.grace_period}" if args.scheduler == "asha" else ""
    print(
        f"space {args.space}: {args.num_samples} trials of up to {args.epochs} epochs"
        f"{stopping}, {args.max_concurrent} at a time -> {tune_path}",
        flush=True,
    )
    started = time.monotonic()
    results = tuner.fit()
    objective = OBJECTIVES[args.objective]
    print(f"search took {time.monotonic() - started:.0f}s", flush=True)
    stopped = member_configs(results, objective, args.epochs, ENSEMBLE_SIZE)
    completions = None
    if stopped:
        print(
            f"training {len(stopped)} of the answer's top {ENSEMBLE_SIZE} configs, which ASHA "
            f"stopped early, for all {args.epochs} epochs",
            flush=True,
        )
        completions = run_configs(
            trainable, stopped, tune_path, "members", objective, args.max_concurrent
        )
    print(
        f"training the reference configs (baseline, seed recipe) for {args.epochs} epochs",
        flush=True,
    )
    references = reference_configs(args.epochs, args.seed)
    reference_results = run_configs(
        trainable,
        list(references.values()),
        tune_path,
        "references",
        objective,
        args.max_concurrent,
    )
    report = write_report(
        experiment,
        results,
        reference_results,
        references,
        data,
        args.epochs,
        objective,
        completions,
    )
    print(format_summary(report))
    if args.confirm:
        configs = confirm_configs(
            results, args.confirm, objective, args.seed, args.epochs, CONFIRM_SEEDS
        )
        print(
            f"confirming the top {args.confirm} configs with {CONFIRM_SEEDS} new seeds each",
            flush=True,
        )
        confirmed = run_configs(
            trainable, configs, tune_path, "confirm", objective, args.max_concurrent
        )
        print(write_confirm(experiment, confirmed, configs, CONFIRM_SEEDS, data, objective))
    peak_mb = peak_memory_mb()["peak_rss_mb"]  # this process: the driver
    print(f"took {time.monotonic() - started:.0f}s in all; driver peak memory {peak_mb:.0f} MiB")
    print(f"report: {experiment}/leaderboard.csv, best.json, test_metrics.json, *.png")
    print(f"review: tensorboard --logdir {tune_path}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"interrupted; continue with: python -m search.run --space {args.space} "
            f"--name {args.name} --resume",
            file=sys.stderr,
        )
        return 130
    finally:
        if ray.is_initialized():
            ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
