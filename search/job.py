"""The whole job one search command runs: Ray started, the Tuner built and fitted, the answer's
members and the references trained, the report written.

    from search.job import search
    search(SearchSettings(space="focal", data="pneumoniamnist"))   # False: no trial scored

`search.run` is its command line, which imports this module only once the flags are read, so
`--help` answers without importing Ray or torch.
"""

from __future__ import annotations

import os

# Quiet Ray before it is imported: no usage stats, the plain reporter, no sync warnings.
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")

import logging  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import optuna  # noqa: E402
import ray  # noqa: E402
import sqlalchemy  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune import ResultGrid  # noqa: E402
from ray.tune.search import ConcurrencyLimiter  # noqa: E402

from search.answer import (  # noqa: E402
    Member,
    Trial,
    one_image,
    plan_members,
    ranked,
    wave_joined,
    waves,
)
from search.asha import EarlyRungsASHA  # noqa: E402
from search.board import TrialCurves  # noqa: E402
from search.card import model_card, write_model_card  # noqa: E402
from search.intact import check_intact  # noqa: E402
from search.interrupt import fit, stop_on_sigterm  # noqa: E402
from search.manifest import check_same_data, experiment_lock, write_manifest  # noqa: E402
from search.optuna_search import PruningOptunaSearch  # noqa: E402
from search.progress import Progress, job_clock  # noqa: E402
from search.records import member_records, trial_records  # noqa: E402
from search.relocate import (  # noqa: E402
    ExperimentSearch,
    experiment_storage,
    resuming_at,
)
from search.report import write_confirm, write_report  # noqa: E402
from search.reruns import (  # noqa: E402
    REFERENCES,
    confirm_configs,
    reference_configs,
    reference_dirname,
    reference_role,
    run_configs,
    trial_dirname,
)
from search.settings import CONFIRM_SEEDS, SEARCH_SAMPLERS, SearchSettings  # noqa: E402
from search.summary import format_summary  # noqa: E402
from spaces import SPACES, start_points  # noqa: E402
from trainable.cli import data_options  # noqa: E402
from trainable.config import UserError  # noqa: E402
from trainable.data import Data, load_data  # noqa: E402
from trainable.models import peak_memory_mb  # noqa: E402
from trainable.ray_trainable import train_trial  # noqa: E402

# What the console's time left assumes the members' phase trains before the plan is known:
# the waves round's six idle default searches trained 2, 2, 2, 3, 4 and 4 member runs
# (BENCHMARKS.md, "The members in waves"), a mean of 2.8.
EXPECTED_MEMBER_RUNS = 3
RAY_TEMP = Path(os.environ.get("RAY_TMPDIR", tempfile.gettempdir())) / "ray"


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


def local_address(cluster_file: Path, timeout_s: float = 5.0) -> str | None:
    """What ray.init should be given without --address: None (Ray's own choice: RAY_ADDRESS,
    else the cluster this machine last started, else a new one), or "local" when the cluster
    recorded in Ray's `ray_current_cluster` file no longer answers. A cluster killed without
    `ray stop` leaves that file behind, and ray.init then tried to reach it for 13 minutes."""
    if os.environ.get("RAY_ADDRESS") or not cluster_file.exists():
        return None
    recorded = cluster_file.read_text().strip()
    host, _, port = recorded.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError):
        print(
            f"note: the Ray cluster recorded in {cluster_file} ({recorded}) does not answer; "
            "starting a new one on this machine",
            flush=True,
        )
        return "local"
    return None


def start_ray(settings: SearchSettings) -> None:
    level = logging.INFO if settings.verbose else logging.ERROR
    address, verbose = settings.address, settings.verbose
    if address:
        check_reachable(address)
    try:
        if address:
            ray.init(address=address, logging_level=level, log_to_driver=verbose)
        else:
            ray.init(
                address=local_address(RAY_TEMP / "ray_current_cluster"),
                include_dashboard=False,
                logging_level=level,
                log_to_driver=verbose,
            )
    except (ConnectionError, RuntimeError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"cannot reach a Ray cluster at {address!r} ({first_line}); start "
            "one with 'ray up cluster.yaml' or leave out --address"
        ) from None
    stop_on_sigterm()  # ray.init set its own handler, which exits 15 without a word
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


def build_tuner(
    settings: SearchSettings, trainable, experiment: Path, class_counts: list[int]
) -> tune.Tuner:
    """The search as a Tuner: the references written in the space's knobs first, then TPE (or
    random) over the space, ASHA, checkpoints kept by score; `settings` must have its budget
    filled in (`for_train_images`); `class_counts` of the training set fix the seed recipe's
    focal alpha."""
    points = start_points(settings.space, class_counts)
    searcher = PruningOptunaSearch(
        space=SPACES[settings.space],
        metric=settings.metric,
        mode="max",
        sampler=SEARCH_SAMPLERS[settings.sampler](seed=settings.seed),
        points_to_evaluate=points or None,
        storage=experiment_storage(experiment),
        study_name=settings.name,
        max_epochs=settings.epochs,
    )
    # What Tune builds from max_concurrent_trials, built here to be an ExperimentSearch.
    limited = ConcurrencyLimiter(searcher, max_concurrent=settings.max_concurrent)
    scheduler = None
    if settings.scheduler == "asha":
        scheduler = EarlyRungsASHA(
            time_attr="epoch",  # not reports: a trial validates every eval_every epochs
            max_t=settings.epochs,
            grace_period=settings.grace_period,
            reduction_factor=3,
        )
    return tune.Tuner(
        trainable,
        param_space={
            "epochs": settings.epochs,
            "eval_every": settings.eval_every,
            "seed": settings.seed,
        },
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
                Progress(
                    settings.num_samples,
                    settings.metric,
                    settings.epochs,
                    concurrency=settings.max_concurrent,
                    runs_after=(len(REFERENCES), EXPECTED_MEMBER_RUNS, *confirm_runs(settings)),
                    study=(experiment_storage(experiment), settings.name),
                ),
                TrialCurves(),
            ],
            verbose=2 if settings.verbose else 0,
        ),
    )


def started(settings: SearchSettings) -> bool:
    """Whether the search has saved a state that --resume can continue."""
    return tune.Tuner.can_restore(settings.tune_path)


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
    if settings.resume:  # every file the resume reads, before anything is written
        own_folders = Path(tune_path).resolve() == experiment.resolve()
        check_intact(experiment, settings.name, tune_files=own_folders)
    # the data is read before the lock makes the experiment's folder: data that cannot be
    # read left an empty folder behind
    data = load_data(settings.data, **data_options(settings))
    if len(data.test_y) == 0:
        raise UserError(
            f"{settings.data} has no test split, which the search scores its answer on once it "
            "ends; add a test/ folder (or test_images to the npz)"
        )
    if settings.sensitivity_level is not None and data.num_classes != 2:
        # its metric is reported for two classes only: every trial ended without a score
        raise UserError(
            f"--objective {settings.objective} needs two classes (a positive one to be sensitive "
            f"to), and {settings.data} has {data.num_classes}; use --objective val or robust"
        )
    try:
        with experiment_lock(experiment):
            return run_search(settings, experiment, data)
    finally:
        if ray.is_initialized():
            ray.shutdown()


def run_search(settings: SearchSettings, experiment: Path, data: Data) -> bool:
    tune_path = settings.tune_path
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
    train = tune.with_parameters(
        train_trial, data=data, sensitivity_levels=levels, robust_score=settings.robust_score
    )
    trainable = tune.with_resources(train, resources)
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
        counts = np.bincount(data.train_y, minlength=data.num_classes).tolist()
        tuner = build_tuner(settings, trainable, experiment, counts)
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
    print(
        f"training the reference configs (baseline, seed recipe) for {epochs} epochs",
        flush=True,
    )
    references = reference_configs(epochs, settings.seed, settings.eval_every)
    reference_results = run_configs(
        trainable,
        list(references.values()),
        tune_path,
        "references",
        objective,
        concurrent,
        runs_after=(EXPECTED_MEMBER_RUNS, *confirm_runs(settings)),
        dirname=partial(reference_dirname, references=references),
    )
    image = one_image(data.val_y, data.num_classes)
    trials = trial_records(results, objective, epochs)
    reference_trials = trial_records(
        reference_results, objective, epochs, lambda r: reference_role(r.config, references)
    )
    plan = plan_members(trials, [t.score for t in ranked(reference_trials)], image)
    to_train = [member.config for member in plan if member.needs_training]
    if to_train:
        print(member_line(plan, epochs), flush=True)
    completions = train_members(
        settings, train, to_train, tune_path, [*trials, *reference_trials], image
    )
    member_trials = member_records(completions, objective, epochs, plan)
    report = write_report(experiment, trials, member_trials, reference_trials, data, objective)
    print(format_summary(report))
    if not report.scored:
        return False
    write_model_card(experiment, model_card(report.scored, data, settings))
    if settings.confirm:
        ranks = confirm_configs(trials, settings.confirm, settings.seed, epochs, CONFIRM_SEEDS)
        configs = [config for group in ranks.values() for config in group]
        print(
            f"confirming the top {settings.confirm} configs with {CONFIRM_SEEDS} new seeds each",
            flush=True,
        )
        confirmed = run_configs(trainable, configs, tune_path, "confirm", objective, concurrent)
        runs = trial_records(confirmed, objective, epochs)
        print(write_confirm(experiment, runs, ranks, data, objective))
    peak_mb = peak_memory_mb()["peak_rss_mb"]  # this process: the driver
    print(f"{job_clock()} done; driver peak memory {peak_mb:.0f} MiB")
    print(f"report: {experiment}/leaderboard.csv, best.json, test_metrics.json, *.png")
    print(f"review: tensorboard --logdir {tune_path}")
    return True


def train_members(
    settings: SearchSettings,
    train,
    configs: list[dict],
    tune_path: str,
    models: list[Trial],
    image: float,
) -> list[ResultGrid]:
    """The plan's runs, a Tune experiment per wave (members/, members_2/, ...): `models` (the
    search's and the references') and each wave's decide whether the next is trained
    (search.answer.wave_joined); a resume repeats the decisions from the same results."""
    grids, done = [], 0
    counts = waves(len(configs), settings.max_concurrent)
    for i, count in enumerate(counts):
        if done >= len(configs):
            break
        at_once, each = member_slots(settings, count)
        grid = run_configs(
            tune.with_resources(train, each),
            configs[done : done + count],
            tune_path,
            "members" if i == 0 else f"members_{i + 1}",
            settings.metric,
            at_once,
            runs_after=(*counts[i + 1 :], *confirm_runs(settings)),
        )
        done += max(count, len(grid))  # an experiment from before the waves holds them all
        grids.append(grid)
        wave = trial_records(grid, settings.metric, settings.epochs)
        models = [*models, *wave]
        if done < len(configs) and not wave_joined(models, {m.trial for m in wave}, image):
            print(
                f"the members' last {count} run(s) added no model to the answer; the plan's "
                f"other {len(configs) - done} are not trained",
                flush=True,
            )
            break
    return grids


def member_slots(settings: SearchSettings, runs: int) -> tuple[int, dict[str, float]]:
    """How many runs of a members' wave train at once, and each one's resources. On CPUs, a
    wave larger than the search's concurrency (a remainder joins the last whole wave) trains
    all at once, sharing the search's CPUs: alone, the remainder left a CPU idle for a whole run
    (3 runs on 2 CPUs took 171 and 216 s in two waves, the fourth session's seeds 0 and 1).
    Ray gives a trial of at most one CPU one thread, as the search's trials have, so a run's
    numbers do not change. GPU runs keep the slots."""
    slots = settings.max_concurrent
    if settings.gpus_per_trial > 0 or runs <= slots:
        return slots, {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}
    return runs, {"cpu": settings.cpus_per_trial * slots / runs, "gpu": 0.0}


def confirm_runs(settings: SearchSettings) -> tuple[int, ...]:
    """The runs --confirm adds after the report, as a phase of the time left."""
    return (settings.confirm * CONFIRM_SEEDS,) if settings.confirm else ()


def member_line(plan: list[Member], epochs: int) -> str:
    """What the members' phase is about to train, in words."""
    full = sum(m.kind == "full_run" for m in plan)
    seeds = sum(m.kind == "new_seed" for m in plan)
    parts = [f"{full} good trial(s) ASHA stopped early"] if full else []
    parts += [f"{seeds} new seed(s) of the good trials"] if seeds else []
    return f"training the answer's members for all {epochs} epochs: " + " and ".join(parts)
