"""The whole job one search command runs, in named phases that each read one `Job` (the
resolved settings, the experiment's folder, the data, the trainable) and hand on typed trial
records (search.answer.rules.Trial): prepare (search.json, Ray), search (TPE + ASHA), references,
members (the answer's plan), report, and with --confirm, confirm.

    from search.job import search
    search(SearchSettings(space="focal", data="pneumoniamnist"))   # False: no trial scored

`search.run` is its command line, which imports this module only once the flags are read, so
`--help` answers without importing Ray or torch.
"""

from __future__ import annotations

import search.tune.quiet_ray  # noqa: F401  (before Ray is imported)

# isort: split
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import ray
from ray import tune
from ray.tune import ResultGrid
from ray.tune.search import ConcurrencyLimiter

from search.answer.names import tensorboard_url
from search.answer.references import REFERENCES, confirm_configs, reference_configs, reference_role
from search.answer.report import compute_confirm, compute_report
from search.answer.rules import (
    PLAN_SIZE,
    Member,
    Trial,
    one_image,
    plan_members,
    ranked,
    wave_joined,
    waves,
)
from search.experiment.intact import listed_trials
from search.experiment.layout import (
    BEST,
    BOARD,
    CONFIRM_RUNS,
    FIGURES,
    IMPORTANCES_PNG,
    MODEL_CARD,
    REFERENCE_RUNS,
    TEST_METRICS,
    members_wave,
)
from search.experiment.manifest import experiment_lock
from search.experiment.relocate import (
    ExperimentSearch,
    experiment_storage,
    resuming_at,
)
from search.experiment.resume import check_resume, record_or_check, restore_or_build
from search.outputs.card import model_card, write_model_card
from search.outputs.plots import MIN_TRIALS_FOR_IMPORTANCES
from search.outputs.report import load_study, optuna_numbers, write_confirm, write_report
from search.outputs.summary import format_summary
from search.settings import CONFIRM_SEEDS, SEARCH_SAMPLERS, SearchSettings
from search.tune import compat as tune_compat
from search.tune.asha import OrderedASHA, early_rungs, expected_epochs
from search.tune.callbacks import TrialCurves
from search.tune.interrupt import fit
from search.tune.optuna_search import PruningOptunaSearch
from search.tune.preflight import check_space, check_writable, start_ray
from search.tune.progress import Progress, job_clock
from search.tune.records import member_records, trial_records
from search.tune.reruns import member_dirname, reference_dirname, run_configs, search_dirname
from spaces import SPACES, reference_start_points, start_points
from spaces.catalog import is_point, named_start_points
from trainable.cli import data_options
from trainable.config import UserError
from trainable.data import Data, load_data
from trainable.models import peak_memory_mb
from trainable.ray_trainable import train_trial

# What the console's time left assumes the members' phase trains before the plan is known: the
# plan fills three models (search.answer.rules.PLAN_SIZE) and the start points are usually two of
# the good trials: 0, 1 and 0 new seeds in the default search of seeds 0-2 (efficiency.json).
EXPECTED_MEMBER_RUNS = 1


def build_tuner(
    settings: SearchSettings, trainable, experiment: Path, class_counts: list[int]
) -> tune.Tuner:
    """The search as a Tuner: the references written in the space's knobs first, then TPE (or
    random) over the space, ASHA, checkpoints kept by score; `settings` must have its budget
    filled in (`for_train_images`); `class_counts` of the training set fix the seed recipe's
    focal alpha."""
    points = start_points(settings.space, class_counts)
    started = reference_start_points(settings.space, class_counts)  # the references it trains
    rungs = early_rungs(settings.epochs, settings.grace_period, 3)
    asha = settings.scheduler == "asha" and rungs
    searcher = PruningOptunaSearch(
        space=SPACES[settings.space],
        metric=settings.metric,
        mode="max",
        sampler=SEARCH_SAMPLERS[settings.sampler](seed=settings.seed),
        points_to_evaluate=points or None,
        storage=experiment_storage(experiment),
        study_name=settings.name,
        max_epochs=settings.epochs,
        max_concurrent=settings.max_concurrent,
        num_samples=settings.num_samples,
        settle_epoch=max(rungs) if asha else None,  # where a trial's stop is known
        start_points=started,
    )
    # What Tune builds from max_concurrent_trials, built here to be an ExperimentSearch.
    limited = ConcurrencyLimiter(searcher, max_concurrent=settings.max_concurrent)
    scheduler = None
    if asha:
        scheduler = OrderedASHA(
            metric=settings.metric,
            time_attr="epoch",  # not reports: a trial validates every eval_every epochs
            max_t=settings.epochs,
            grace_period=settings.grace_period,
            reduction_factor=3,
            # the references the space writes exactly: trained in full, once
            protected=StartPoint(list(started.values())),
        )
    return tune.Tuner(
        trainable,
        param_space={
            "epochs": settings.epochs,
            "eval_every": settings.eval_every,
            "seed": settings.seed,
        },
        tune_config=tune.TuneConfig(
            trial_dirname_creator=partial(search_dirname, start_points=started),
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
                    runs_after=(
                        len(REFERENCES) - len(started),
                        EXPECTED_MEMBER_RUNS,
                        *confirm_runs(settings),
                    ),
                    study=(experiment_storage(experiment), settings.name),
                    start_points=started,
                    expected_epochs=expected_epochs(rungs, settings.epochs, 3) if asha else None,
                ),
                TrialCurves(),
            ],
            verbose=2 if settings.verbose else 0,
        ),
    )


@dataclass(frozen=True)
class StartPoint:
    """Whether a trial's config is one of the search's start points (all their knobs equal)."""

    points: list[dict]

    def __call__(self, config: dict) -> bool:
        return any(is_point(config, p) for p in self.points)


def search(settings: SearchSettings) -> bool:
    """The whole job: the search, the answer's members and the references trained in full,
    the report; and with `confirm`, the top configs retrained with new seeds. False when no
    trial reported a score, so there is no answer."""
    experiment = settings.report_dir
    tune_compat.atomic_local_uploads()  # a full disk leaves Tune's state files whole
    check_writable(experiment)
    check_resume(settings, experiment)
    # the data is read before the lock makes the experiment's folder: data that cannot be
    # read left an empty folder behind
    data = load_data(settings.data, **data_options(settings))
    if len(data.test_y) == 0:
        raise UserError(
            f"{settings.data} has no test split, which the search scores its answer on once it "
            "ends; add a test/ folder (or test_images to the npz)"
        )
    if "://" not in settings.tune_path:
        check_space(experiment, *space_needed(settings, data))
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


@dataclass(frozen=True)
class Job:
    """What every phase of a search reads: the settings resolved for the training set
    (epochs, ASHA grace, evaluation interval filled in), the experiment's folder, the data,
    and the trial function with the data bound (`train`) and with a trial's resources
    (`trainable`)."""

    settings: SearchSettings
    experiment: Path
    data: Data
    train: Any
    trainable: Any

    @property
    def image(self) -> float:
        """The most one validation image moves balanced accuracy (search.answer.rules.one_image)."""
        return one_image(self.data.val_y, self.data.num_classes)


def run_search(settings: SearchSettings, experiment: Path, data: Data) -> bool:
    """The phases in order; False when no trial scored (no report, no answer)."""
    print(data.describe())
    job = prepare(settings.for_train_images(len(data.train_y)), experiment, data)
    search_trials = search_phase(job)
    references = reference_phase(job, search_trials)
    # a start point that is a reference is one model: its row and role are the reference's
    as_reference = {t.trial: t for t in references}
    search_trials = [as_reference.get(t.trial, t) for t in search_trials]
    members = member_phase(job, search_trials, references)
    if not report_phase(job, search_trials, members, references):
        return False
    if job.settings.confirm:
        confirm_phase(job, search_trials)
    peak_mb = peak_memory_mb()["peak_rss_mb"]  # this process: the driver
    print(f"{job_clock()} done; driver peak memory {peak_mb:.0f} MiB")
    pictures = sorted(name for name in FIGURES if (experiment / name).exists())
    print(f"report: {experiment}/ {BOARD}, {BEST}, {TEST_METRICS}, {MODEL_CARD}, "
          f"{', '.join(pictures)}")  # fmt: skip
    if IMPORTANCES_PNG not in pictures:
        print(f"  {IMPORTANCES_PNG} not drawn: Optuna ranks knobs from at least "
              f"{MIN_TRIALS_FOR_IMPORTANCES} scored trials whose knobs vary")  # fmt: skip
    print(f"review: tensorboard --logdir {job.settings.tune_path}")
    if "://" not in job.settings.tune_path:
        print(f"  the answer's and the references' runs in colour: {highlight_url(experiment)}")
    return True


def highlight_url(experiment: Path) -> str:
    """TensorBoard's address with the runs the answer averages and the references each in a
    colour, the rest grey (search.answer.names.tensorboard_url), read off the leaderboard."""
    rows = pd.read_csv(experiment / BOARD)
    shown = rows["in_answer"].astype(bool) | rows["role"].isin(list(REFERENCES))
    folders = [f for f, keep in zip(listed_trials(experiment), shown, strict=True) if keep]
    return tensorboard_url([f.relative_to(experiment).as_posix() for f in folders])


def space_needed(settings: SearchSettings, data: Data) -> tuple[int, str]:
    """Bytes the job's checkpoints take, about, and what they are for: a checkpoint holds the
    model and Adam's two moments (float32); a run keeps up to two, most are stopped early with
    one, so 1.2 a run, and the report a few MiB: a default search on PneumoniaMNIST (3.4 MB
    checkpoints) is estimated at 80 MB and took 59. A resume needs room for the runs still to
    come at least (the members and a reference); a finished one's, for its report."""
    from trainable.config import TrainConfig
    from trainable.models import make_model

    channels, size = data.train_x.shape[1], data.train_x.shape[-1]
    model = make_model(TrainConfig().model, channels, data.num_classes, size)
    checkpoint = 3 * 4 * sum(p.numel() for p in model.parameters())
    finished = settings.resume and (settings.report_dir / BEST).exists()  # the report again
    runs = 0 if finished else PLAN_SIZE + len(REFERENCES)
    if not settings.resume:
        runs += settings.num_samples + sum(confirm_runs(settings))
    what = f"{'the rest of this search' if settings.resume else 'this search'} ({runs} runs)"
    return int(runs * 1.2 * checkpoint + 10 * 2**20), what


def prepare(settings: SearchSettings, experiment: Path, data: Data) -> Job:
    """Ray started (its CPUs and GPUs checked against the trials'), search.json written (a
    resume: checked against the data), the trainable built with the data bound to it. In
    that order: a refusal of --cpus-per-trial once came after search.json was written."""
    if not settings.verbose:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    start_ray(settings)
    record_or_check(settings, experiment, data)
    experiment.mkdir(parents=True, exist_ok=True)
    resources = {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}
    levels = settings.sensitivity_levels  # every trial reports specificity at these
    train = tune.with_parameters(
        train_trial, data=data, sensitivity_levels=levels, robust_score=settings.robust_score
    )
    return Job(settings, experiment, data, train, tune.with_resources(train, resources))


def search_phase(job: Job) -> list[Trial]:
    """The search itself (TPE + ASHA), built new or restored by --resume, fitted to its end."""
    settings, experiment, tune_path = job.settings, job.experiment, job.settings.tune_path
    counts = np.bincount(job.data.train_y, minlength=job.data.num_classes).tolist()
    tuner = restore_or_build(
        settings,
        experiment,
        job.trainable,
        lambda: build_tuner(settings, job.trainable, experiment, counts),
    )
    stopping = f", ASHA grace {settings.grace_period}" if settings.scheduler == "asha" else ""
    print(
        f"space {settings.space}: {settings.num_samples} trials of up to {settings.epochs} "
        f"epochs{stopping}, {settings.max_concurrent} at a time -> {tune_path}",
        flush=True,
    )
    started = time.monotonic()
    with resuming_at(experiment, tune_path):
        results = fit(tuner)
    print(f"search took {time.monotonic() - started:.0f}s", flush=True)
    return trial_records(results, settings.metric, settings.epochs)


def reference_phase(job: Job, search: list[Trial]) -> list[Trial]:
    """The plain baseline and the seed recipe for the full budget: the search's own start
    point where the space writes the reference exactly (spaces.reference_start_points; ASHA
    never stops it), trained here otherwise."""
    settings = job.settings
    epochs = settings.epochs
    counts = np.bincount(job.data.train_y, minlength=job.data.num_classes).tolist()
    found = started_references(search, reference_start_points(settings.space, counts))
    for name, trial in found.items():
        print(f"reference {name}: the search's start point {trial.trial}", flush=True)
    references = reference_configs(epochs, settings.seed, settings.eval_every)
    missing = {name: config for name, config in references.items() if name not in found}
    if not missing:
        return list(found.values())
    print(
        f"training the reference config(s) {', '.join(missing)} for {epochs} epochs",
        flush=True,
    )
    results = run_configs(
        job.trainable,
        list(missing.values()),
        storage=settings.tune_path,
        name=REFERENCE_RUNS,
        objective=settings.metric,
        max_concurrent=settings.max_concurrent,
        runs_after=(EXPECTED_MEMBER_RUNS, *confirm_runs(settings)),
        dirname=partial(reference_dirname, references=references),
    )
    trained = trial_records(
        results, settings.metric, epochs, lambda r: reference_role(r.config, references)
    )
    return [*found.values(), *trained]


def started_references(search: list[Trial], points: dict[str, dict]) -> dict[str, Trial]:
    """Each reference that a search trial trained in full from its start point, as that
    trial with the reference's role."""
    found = {}
    for name, point in points.items():
        match = StartPoint([point])
        for trial in search:
            if match(trial.config) and trial.status == "complete":
                found[name] = replace(trial, kind=name)
                break
    return found


def member_phase(job: Job, search: list[Trial], references: list[Trial]) -> list[Trial]:
    """The plan's runs (search.answer.rules.plan_members): good trials ASHA stopped, trained in
    full, and new seeds of good trials, in waves."""
    settings = job.settings
    plan = plan_members(search, [t.score for t in ranked(references)], job.image)
    to_train = [member.config for member in plan if member.needs_training]
    if to_train:
        print(member_line(plan, settings.epochs), flush=True)
    grids = train_members(
        settings,
        job.train,
        to_train,
        settings.tune_path,
        [*search, *references],
        job.image,
        dirname=partial(member_dirname, plan=plan),
    )
    return member_records(grids, settings.metric, settings.epochs, plan)


def report_phase(
    job: Job, search: list[Trial], members: list[Trial], references: list[Trial]
) -> bool:
    """The report's files, its summary on the console and the model card; False when no
    trial scored."""
    counts = np.bincount(job.data.train_y, minlength=job.data.num_classes).tolist()
    study = load_study(job.experiment)
    report = compute_report(
        search,
        members,
        references,
        job.data,
        job.settings.metric,
        named_start_points(job.settings.space, counts),
        optuna_numbers(study),
    )
    write_report(job.experiment, report, job.data, study)
    print(format_summary(report))
    if report.scored:
        card = model_card(report.scored, job.data, job.settings, report.finding, report.verdict)
        write_model_card(job.experiment, card)
    return bool(report.scored)


def confirm_phase(job: Job, search: list[Trial]) -> None:
    """--confirm K: the top K configs retrained with new seeds, confirm.csv / confirm.json."""
    settings = job.settings
    ranks = confirm_configs(search, settings.confirm, settings.seed, settings.epochs, CONFIRM_SEEDS)
    configs = [config for group in ranks.values() for config in group]
    print(
        f"confirming the top {settings.confirm} configs with {CONFIRM_SEEDS} new seeds each",
        flush=True,
    )
    confirmed = run_configs(
        job.trainable,
        configs,
        storage=settings.tune_path,
        name=CONFIRM_RUNS,
        objective=settings.metric,
        max_concurrent=settings.max_concurrent,
    )
    runs = trial_records(confirmed, settings.metric, settings.epochs)
    print(write_confirm(job.experiment, compute_confirm(runs, ranks, job.data, settings.metric)))


def train_members(
    settings: SearchSettings,
    train,
    configs: list[dict],
    tune_path: str,
    models: list[Trial],
    image: float,
    dirname=None,
) -> list[ResultGrid]:
    """The plan's runs, a Tune experiment per wave (members/, members_2/, ...): `models` (the
    search's and the references') and each wave's decide whether the next is trained
    (search.answer.rules.wave_joined); a resume repeats the decisions from the same results."""
    grids, done = [], 0
    counts = waves(len(configs), settings.max_concurrent)
    for i, count in enumerate(counts):
        if done >= len(configs):
            break
        at_once, each = member_slots(settings, count)
        grid = run_configs(
            tune.with_resources(train, each),
            configs[done : done + count],
            storage=tune_path,
            name=members_wave(i),
            objective=settings.metric,
            max_concurrent=at_once,
            runs_after=(*counts[i + 1 :], *confirm_runs(settings)),
            dirname=dirname,
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
    (3 runs on 2 CPUs took 171 and 216 s in two waves on the default search's seeds 0 and 1).
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
