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
import shlex  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import optuna  # noqa: E402
import ray  # noqa: E402
import sqlalchemy  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler  # noqa: E402
from ray.tune.search import ConcurrencyLimiter  # noqa: E402

from search.answer import ENSEMBLE_SIZE  # noqa: E402
from search.board import TrialCurves  # noqa: E402
from search.interrupt import fit  # noqa: E402
from search.manifest import (  # noqa: E402
    check_same_data,
    experiment_lock,
    resumed_settings,
    write_manifest,
)
from search.optuna_search import PruningOptunaSearch  # noqa: E402
from search.progress import Progress  # noqa: E402
from search.relocate import ExperimentSearch, experiment_storage, resuming_at  # noqa: E402
from search.report import format_summary, write_confirm, write_report  # noqa: E402
from search.reruns import (  # noqa: E402
    confirm_configs,
    member_configs,
    reference_configs,
    run_configs,
    trial_dirname,
)
from search.settings import (  # noqa: E402
    CONFIRM_SEEDS,
    SCHEDULERS,
    SEARCH_SAMPLERS,
    SearchSettings,
)
from spaces import SEED_POINTS, SPACES, describe_spaces  # noqa: E402
from trainable.cli import HelpWithDefaults, add_data_flags, data_options  # noqa: E402
from trainable.config import UserError  # noqa: E402
from trainable.data import load_data  # noqa: E402
from trainable.models import peak_memory_mb  # noqa: E402
from trainable.ray_trainable import train_trial  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return make_parser().parse_args(argv)


def given_flags(argv: list[str] | None) -> dict:
    """Only the flags typed on the command line (no defaults): what --resume checks."""
    p = make_parser()
    unset = object()  # not argparse.SUPPRESS: 3.11 type-converts string defaults (int("==SUP..."))
    p.set_defaults(**dict.fromkeys(vars(p.parse_args([])), unset))
    return {k: v for k, v in vars(p.parse_args(argv)).items() if v is not unset}


def make_parser() -> argparse.ArgumentParser:
    defaults = SearchSettings  # its field defaults are the flags' defaults
    p = argparse.ArgumentParser(
        prog="python -m search.run",
        description=__doc__.split("\n")[0],
        formatter_class=HelpWithDefaults,
    )
    p.add_argument("--space", help=f"one of: {', '.join(SPACES)}")
    p.add_argument("--list-spaces", action="store_true", help="print each space's knobs")
    add_data_flags(p, defaults.data)
    p.add_argument("--num-samples", type=int, default=defaults.num_samples, help="trials to run")
    p.add_argument(
        "--epochs",
        type=int,
        help="max epochs per trial (default: as many images as 10 epochs of 4,708, at least 10)",
    )
    p.add_argument(
        "--max-concurrent", type=int, default=defaults.max_concurrent, help="trials running at once"
    )
    p.add_argument(
        "--cpus-per-trial",
        type=float,
        default=defaults.cpus_per_trial,
        help="CPUs Ray reserves for each trial",
    )
    p.add_argument(
        "--gpus-per-trial",
        type=float,
        default=defaults.gpus_per_trial,
        help="fractions allowed, e.g. 0.25",
    )
    p.add_argument(
        "--sampler",
        choices=tuple(SEARCH_SAMPLERS),
        default=defaults.sampler,
        help="Optuna sampler; random is the baseline TPE has to beat (benchmarks/run.py)",
    )
    p.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        default=defaults.scheduler,
        help="asha stops weak trials early; none trains every trial in full",
    )
    p.add_argument(
        "--grace-period",
        type=int,
        help="ASHA: epochs every trial gets before it may be stopped (default: a tenth of "
        "--epochs, at least 1; see BENCHMARKS.md)",
    )
    p.add_argument(
        "--objective",
        default=defaults.objective,
        help="val: validation balanced accuracy at the tuned threshold; robust: the same on "
        "perturbed validation images (trainable/robustness.py); spec@sens=L: validation "
        "specificity where sensitivity first reaches L, e.g. spec@sens=0.95 (screening)",
    )
    p.add_argument(
        "--confirm",
        type=int,
        default=defaults.confirm,
        metavar="K",
        help="retrain the top K configs with 3 new seeds each; report mean and spread",
    )
    p.add_argument(
        "--max-failures",
        type=int,
        default=defaults.max_failures,
        help="retries of a crashed trial, from its last checkpoint",
    )
    p.add_argument("--seed", type=int, default=defaults.seed, help="TPE sampler and training seed")
    p.add_argument("--name", help="experiment name (default: <space>-<date>-<time>)")
    p.add_argument("--storage", default=defaults.storage, help="results folder or cloud URI")
    p.add_argument("--address", help="an existing Ray cluster, e.g. 'auto'")
    p.add_argument("--resume", action="store_true", help="continue the experiment --name")
    p.add_argument("--verbose", action="store_true", help="show Ray's own logs and tables")
    return p


def flag_values(args: argparse.Namespace) -> dict:
    """Every settings flag that has a value (typed or default), by SearchSettings field."""
    return {k: v for k, v in vars(args).items() if k != "list_spaces" and v is not None}


def settings_from(args: argparse.Namespace) -> SearchSettings:
    """The validated settings the flags describe (everything but --list-spaces)."""
    return SearchSettings(**flag_values(args))


def settings_for(args: argparse.Namespace, argv: list[str] | None) -> SearchSettings:
    """The settings a command line asks for: with --resume, the experiment's record (the
    flags typed are checked against it); otherwise the flags."""
    if args.resume:
        return resumed_settings(flag_values(args), given_flags(argv))
    return settings_from(args)


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


def start_ray(settings: SearchSettings) -> None:
    level = logging.INFO if settings.verbose else logging.ERROR
    address, verbose = settings.address, settings.verbose
    if address:
        check_reachable(address)
    try:
        if address:
            ray.init(address=address, logging_level=level, log_to_driver=verbose)
        else:
            ray.init(include_dashboard=False, logging_level=level, log_to_driver=verbose)
    except (ConnectionError, RuntimeError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"cannot reach a Ray cluster at {address!r} ({first_line}); start "
            "one with 'ray up cluster.yaml' or leave out --address"
        ) from None
    check_cpus(settings.cpus_per_trial, autoscaling=bool(address))
    if settings.gpus_per_trial > 0:
        check_gpus(settings.gpus_per_trial, autoscaling=bool(address))


def check_cpus(per_trial: float, autoscaling: bool) -> None:
    """Tune waits, silently and for ever, for a node with enough CPUs; on this machine alone
    none will come."""
    most = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]), default=0)
    if most >= per_trial:
        return
    if autoscaling:
        print(
            f"no node has {per_trial:g} CPUs yet; trials wait for the autoscaler to add one",
            flush=True,
        )
        return
    raise UserError(
        f"--cpus-per-trial {per_trial:g} but this machine has {most:g} CPUs; "
        f"use at most {most:g}, or a cluster (--address)"
    )


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


def build_tuner(settings: SearchSettings, trainable, experiment: Path) -> tune.Tuner:
    """The search as a Tuner: TPE (or random) over the space, ASHA, checkpoints kept by
    score; `settings` must have its budget filled in (`for_train_images`)."""
    seed_point = SEED_POINTS.get(settings.space)
    searcher = PruningOptunaSearch(
        space=SPACES[settings.space],
        metric=settings.metric,
        mode="max",
        sampler=SEARCH_SAMPLERS[settings.sampler](seed=settings.seed),
        points_to_evaluate=[seed_point] if seed_point else None,
        storage=experiment_storage(experiment),
        study_name=settings.name,
        max_epochs=settings.epochs,
    )
    # What Tune builds from max_concurrent_trials, built here to be an ExperimentSearch.
    limited = ConcurrencyLimiter(searcher, max_concurrent=settings.max_concurrent)
    scheduler = None
    if settings.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="training_iteration",
            max_t=settings.epochs,
            grace_period=settings.grace_period,
            reduction_factor=3,
        )
    return tune.Tuner(
        trainable,
        param_space={"epochs": settings.epochs, "seed": settings.seed},
        tune_config=tune.TuneConfig(
            trial_dirname_creator=trial_dirname,
            metric=settings.metric,
            mode="max",
            search_alg=ExperimentSearch(limited),
            scheduler=scheduler,
            num_samples=settings.num_samples,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=settings.name,
            storage_path=settings.storage_root,
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=2,
                checkpoint_score_attribute=settings.metric,
                checkpoint_score_order="max",
            ),
            failure_config=tune.FailureConfig(max_failures=settings.max_failures),
            callbacks=[
                Progress(settings.num_samples, settings.metric, settings.epochs),
                TrialCurves(),
            ],
            verbose=2 if settings.verbose else 0,
        ),
    )


def search(settings: SearchSettings) -> bool:
    """The whole job: the search, the answer's members and the references trained in full,
    the report; and with `confirm`, the top configs retrained with new seeds. False when no
    trial reported a score, so there is no answer."""
    experiment = settings.report_dir
    check_writable(experiment)
    tune_path = settings.tune_path
    exists = tune.Tuner.can_restore(tune_path)
    if settings.resume and not exists:
        raise UserError(f"--resume: no experiment at {tune_path}; check --name and --storage")
    if not settings.resume and exists:
        raise UserError(
            f"{tune_path} already holds an experiment; add --resume to continue "
            "it or pick another --name"
        )
    with experiment_lock(experiment):
        return run_search(settings, experiment)


def run_search(settings: SearchSettings, experiment: Path) -> bool:
    tune_path = settings.tune_path
    data = load_data(settings.data, **data_options(settings))
    if len(data.test_y) == 0:
        raise UserError(
            f"{settings.data} has no test split, which the search scores its answer on once it "
            "ends; add a test/ folder (or test_images to the npz)"
        )
    print(data.describe())
    settings = settings.for_train_images(len(data.train_y))
    if settings.resume:
        check_same_data(experiment, data)
    else:
        write_manifest(experiment, settings, data)
    if not settings.verbose:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    start_ray(settings)
    experiment.mkdir(parents=True, exist_ok=True)
    resources = {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}
    levels = settings.sensitivity_levels  # every trial reports specificity at these
    trainable = tune.with_parameters(train_trial, data=data, sensitivity_levels=levels)
    trainable = tune.with_resources(trainable, resources)
    if settings.resume:
        with resuming_at(experiment, tune_path):  # a moved or copied one resumes in place
            try:
                tuner = tune.Tuner.restore(tune_path, trainable, resume_errored=True)
            except sqlalchemy.exc.OperationalError as e:  # made before relocate.py existed
                raise UserError(
                    f"cannot open the Optuna study this experiment was made with ({e.orig}); "
                    "it predates movable experiments: resume it where it was made"
                ) from None
    else:
        tuner = build_tuner(settings, trainable, experiment)
    epochs, objective, concurrent = settings.epochs, settings.metric, settings.max_concurrent
    stopping = f", ASHA grace {settings.grace_period}" if settings.scheduler == "asha" else ""
    print(
        f"space {settings.space}: {settings.num_samples} trials of up to {epochs} epochs"
        f"{stopping}, {concurrent} at a time -> {tune_path}",
        flush=True,
    )
    started = time.monotonic()
    with resuming_at(experiment, tune_path):
        results = fit(tuner)
    print(f"search took {time.monotonic() - started:.0f}s", flush=True)
    stopped = member_configs(results, objective, epochs, ENSEMBLE_SIZE)
    completions = None
    if stopped:
        print(
            f"training {len(stopped)} of the answer's top {ENSEMBLE_SIZE} configs, which ASHA "
            f"stopped early, for all {epochs} epochs",
            flush=True,
        )
        completions = run_configs(trainable, stopped, tune_path, "members", objective, concurrent)
    print(
        f"training the reference configs (baseline, seed recipe) for {epochs} epochs",
        flush=True,
    )
    references = reference_configs(epochs, settings.seed)
    reference_results = run_configs(
        trainable, list(references.values()), tune_path, "references", objective, concurrent
    )
    report = write_report(
        experiment, results, reference_results, references, data, epochs, objective, completions
    )
    print(format_summary(report))
    if not report["scored"]:
        return False
    if settings.confirm:
        ranks = confirm_configs(
            results, settings.confirm, objective, settings.seed, epochs, CONFIRM_SEEDS
        )
        configs = [config for group in ranks.values() for config in group]
        print(
            f"confirming the top {settings.confirm} configs with {CONFIRM_SEEDS} new seeds each",
            flush=True,
        )
        confirmed = run_configs(trainable, configs, tune_path, "confirm", objective, concurrent)
        print(write_confirm(experiment, confirmed, ranks, data, objective))
    peak_mb = peak_memory_mb()["peak_rss_mb"]  # this process: the driver
    print(f"took {time.monotonic() - started:.0f}s in all; driver peak memory {peak_mb:.0f} MiB")
    print(f"report: {experiment}/leaderboard.csv, best.json, test_metrics.json, *.png")
    print(f"review: tensorboard --logdir {tune_path}")
    return True


def resume_command(argv: list[str] | None, settings: SearchSettings | None) -> str:
    """The command that continues this search: the same flags, the name made explicit."""
    flags = list(sys.argv[1:] if argv is None else argv)
    if (
        settings is not None
        and "--name" not in flags
        and not any(f.startswith("--name=") for f in flags)
    ):
        flags += ["--name", settings.name]
    if "--resume" not in flags:
        flags.append("--resume")
    return shlex.join(["python", "-m", "search.run", *flags])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = None
    try:
        if args.list_spaces:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            print(describe_spaces())
            return 0
        settings = settings_for(args, argv)
        if not search(settings):
            print(
                "error: no trial reported a score, so the search has no answer; each trial "
                "folder's error.txt says why",
                file=sys.stderr,
            )
            return 1
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; continue with: {resume_command(argv, settings)}", file=sys.stderr)
        return 130
    finally:
        if ray.is_initialized():
            ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
