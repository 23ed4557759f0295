"""A search's settings as plain data, validated once at the edge.

    settings = SearchSettings(space="focal", data="pneumoniamnist", num_samples=12)
    settings = settings.for_train_images(4_708)   # fills the budget, grace period, eval_every

The command line (`search.run`) builds one from its flags; benchmarks build one directly.
Library functions take it, never an argparse namespace. Bad values raise `UserError` when it
is built, before anything starts or is written. It imports neither torch nor Ray: the
command line's --help reads its defaults.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import optuna

from search.answer.rules import ENSEMBLE_SIZE, SEED_STRIDE
from spaces import SPACES
from trainable.config import DEFAULT_PATIENT_PATTERN, MAX_EPOCHS, MAX_SEED
from trainable.errors import UserError

# What the search maximises, by --objective: the metrics every trial reports (trainable.train)
# as validation balanced accuracy at the tuned threshold, and the same on perturbed images.
OBJECTIVES = {"val": "val_balanced_accuracy", "robust": "val_robust_balanced_accuracy"}
# and spec@sens=L: validation specificity where sensitivity first reaches L, any L in (0, 1)
OPERATING_PREFIX = "spec@sens="
# TPE models the scores once this many finished trials are visible to it (search.tune.optuna_search.
# Visibility), the references' start points
# (spaces.start_points) among them; Optuna's default, 10, left a 12-trial search 10 random
# draws; 5 itself was not compared with other counts. Multivariate and grouped: the knobs are
# modelled jointly, per branch.
TPE_STARTUP_TRIALS = 5


def tpe_sampler(seed: int) -> optuna.samplers.BaseSampler:
    with warnings.catch_warnings():  # multivariate and group: experimental flags in optuna 5.0
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            n_startup_trials=TPE_STARTUP_TRIALS, multivariate=True, group=True, seed=seed
        )


SEARCH_SAMPLERS = {"tpe": tpe_sampler, "random": optuna.samplers.RandomSampler}
SCHEDULERS = ("asha", "none")
BUDGET_IMAGES = 10 * 4_708  # see default_epochs
NAME_MAX = 255  # bytes in a folder name on Linux, macOS and Windows file systems
# --confirm retrains each config with 3 new seeds (search.answer.rules.extra_seed)
CONFIRM_SEEDS = 3
# The most seeds above --seed a search trains: --confirm's, or the answer's new seeds
EXTRA_SEEDS = max(CONFIRM_SEEDS, ENSEMBLE_SIZE - 1)


def default_epochs(train_images: int) -> int:
    """A trial's budget in images seen, not epochs: 10 epochs of PneumoniaMNIST's 4,708
    training images (the measured default), so 500 images get 94 epochs, about as many
    optimiser steps, and ASHA never judges a small-data trial after a handful of steps.
    At least 10 epochs, at most 200."""
    return min(200, max(10, round(BUDGET_IMAGES / train_images)))


def default_eval_every(epochs: int) -> int:
    """About 10 validation passes per trial, as on PneumoniaMNIST's 10 epochs: 500 images'
    94 epochs validate after every 9th (each pass scores 524 validation images, longer than
    the epoch's 3 optimiser steps). The same tenth as ASHA's default grace, so its first rung
    is the first report."""
    return default_grace(epochs)


def default_grace(epochs: int) -> int:
    """A tenth of the budget: 1 epoch of 10 (docs/asha.md), 9 of 94."""
    return max(1, round(epochs / 10))


@dataclass(frozen=True)
class SearchSettings:
    space: str = ""  # required; "" is refused with the list of spaces
    data: str = "pneumoniamnist"
    size: int | None = None
    channels: int | None = None  # None: as stored (folders: 1)
    val_fraction: float = 0.1  # carved from train/ when a folder has no usable val/
    patient_pattern: str = DEFAULT_PATIENT_PATTERN
    train_subsample: int | None = None
    num_samples: int = 12
    epochs: int | None = None  # None: default_epochs of the training set's size
    max_concurrent: int = 2
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    sampler: str = "tpe"
    scheduler: str = "asha"
    grace_period: int | None = None  # None: default_grace of the epochs
    eval_every: int | None = None  # None: default_eval_every of the epochs
    objective: str = "val"
    confirm: int = 0
    max_failures: int = 1
    seed: int = 0
    name: str = ""  # "": <space>-<date>-<time>
    storage: str = "./results"
    address: str | None = None
    resume: bool = False
    verbose: bool = False

    def __post_init__(self) -> None:
        self._check()
        if not self.name:
            object.__setattr__(self, "name", f"{self.space}-{datetime.now():%Y%m%d-%H%M%S}")

    def _check(self) -> None:
        if self.space not in SPACES:
            given = f"unknown space {self.space!r}" if self.space else "--space is required"
            raise UserError(f"{given}; choose one of: {', '.join(SPACES)} (see --list-spaces)")
        for flag, value, options in (
            ("--sampler", self.sampler, tuple(SEARCH_SAMPLERS)),
            ("--scheduler", self.scheduler, SCHEDULERS),
        ):
            if value not in options:
                raise UserError(f"{flag} must be one of {', '.join(options)}; got {value!r}")
        if self.objective not in OBJECTIVES and self.sensitivity_level is None:
            raise UserError(
                f"--objective must be one of {', '.join(OBJECTIVES)} or {OPERATING_PREFIX}L "
                f"with 0 < L < 1 (e.g. {OPERATING_PREFIX}0.95); got {self.objective!r}"
            )
        # every bound a trial's TrainConfig has too, checked before anything is written (an
        # --epochs of 1001 once ran the whole search and was refused at the references)
        for flag, value, low, high in (
            ("--num-samples", self.num_samples, 1, None),
            ("--epochs", self.epochs, 1, MAX_EPOCHS),
            ("--max-concurrent", self.max_concurrent, 1, None),
            ("--grace-period", self.grace_period, 1, None),
            ("--eval-every", self.eval_every, 1, MAX_EPOCHS),
            ("--max-failures", self.max_failures, 0, None),
            ("--confirm", self.confirm, 0, None),
            ("--train-subsample", self.train_subsample, 2, None),
        ):
            if value is not None and value < low:
                raise UserError(f"{flag} must be at least {low}; got {value}")
            if value is not None and high is not None and value > high:
                raise UserError(f"{flag} must be at most {high}; got {value}")
        if self.scheduler == "asha" and None not in (self.grace_period, self.epochs):
            if self.grace_period > self.epochs:
                raise UserError(
                    f"--grace-period ({self.grace_period}) exceeds --epochs ({self.epochs})"
                )
        # `not x > 0` rather than `x <= 0`: NaN compares false both ways (a nan GPU share
        # passed the old check and left every trial waiting for a resource no node has)
        if not (self.cpus_per_trial > 0 and self.gpus_per_trial >= 0) or not all(
            math.isfinite(x) for x in (self.cpus_per_trial, self.gpus_per_trial)
        ):
            raise UserError(
                "--cpus-per-trial must be a number > 0 and --gpus-per-trial a number >= 0; got "
                f"{self.cpus_per_trial} and {self.gpus_per_trial}"
            )
        if self.resume and not self.name:
            raise UserError("--resume needs --name, the experiment to continue")
        highest = MAX_SEED - EXTRA_SEEDS * SEED_STRIDE  # its new seeds stay valid seeds
        if not 0 <= self.seed <= highest:
            raise UserError(f"--seed must be in [0, {highest}]; got {self.seed}")
        for flag, value in (("--name", self.name), ("--storage", self.storage),
                            ("--data", self.data)):  # fmt: skip
            if not utf8(value):  # Ray's and pyarrow's paths raised UnicodeEncodeError on them
                shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                raise UserError(
                    f"{flag} '{shown}' holds bytes that are not UTF-8, which Ray cannot take "
                    "in a path; rename it (files inside a data folder may have such names)"
                )
        if self.name in (".", "..") or any(sep in self.name for sep in "/\\\0"):
            raise UserError(
                f"--name {self.name!r} must be a plain folder name (no '/', '\\', NUL, '.' or "
                "'..'); use --storage for where it goes"
            )
        if len(self.name.encode()) > NAME_MAX:  # the experiment's folder: OSError 36 otherwise
            raise UserError(
                f"--name is {len(self.name.encode())} bytes long; a folder name holds at most "
                f"{NAME_MAX}: choose a shorter one"
            )
        for flag, value in (("--storage", self.storage), ("--data", self.data)):
            if "\0" in value:
                raise UserError(f"{flag} {value!r} holds a NUL character; no path can")

    def for_train_images(self, n: int) -> SearchSettings:
        """The settings with the budget filled in for a training set of `n` images."""
        epochs = self.epochs or default_epochs(n)
        return dataclasses.replace(
            self,
            epochs=epochs,
            grace_period=self.grace_period or default_grace(epochs),
            eval_every=self.eval_every or default_eval_every(epochs),
        )

    @property
    def metric(self) -> str:
        """The reported metric the search maximises."""
        if self.sensitivity_level is not None:
            from trainable.metrics import operating_key  # not at the top: it imports sklearn

            return f"val_{operating_key(self.sensitivity_level)}"
        return OBJECTIVES[self.objective]

    @property
    def robust_score(self) -> bool:
        """Whether trials score perturbed validation images every epoch: only when they are
        the objective (a second validation pass per epoch)."""
        return self.objective == "robust"

    @property
    def sensitivity_level(self) -> float | None:
        """L of an objective spec@sens=L; None for any other objective (or a bad L)."""
        if not self.objective.startswith(OPERATING_PREFIX):
            return None
        try:
            level = float(self.objective.removeprefix(OPERATING_PREFIX))
        except ValueError:
            return None
        return level if 0 < level < 1 else None

    @property
    def sensitivity_levels(self) -> tuple[float, ...]:
        """The levels every trial reports specificity at: the report's, and the objective's."""
        from trainable.metrics import levels_reported  # see metric

        return levels_reported(self.metric)

    @property
    def storage_root(self) -> str:
        """Where Tune keeps trials and checkpoints: a cloud URI as given, a local path
        absolute."""
        return storage_root(self.storage)

    @property
    def tune_path(self) -> str:
        return f"{self.storage_root}/{self.name}"

    @property
    def report_dir(self) -> Path:
        return experiment_dir(self.storage, self.name)


def storage_root(storage: str) -> str:
    """A cloud URI as given, a local path absolute."""
    if "://" in storage:
        return storage.rstrip("/")
    return str(Path(storage).expanduser().resolve())


def experiment_dir(storage: str, name: str) -> Path:
    """Where the report and the Optuna study go: the experiment folder, or for cloud storage
    ./results/<name> next to the driver (SQLite needs a local file)."""
    if "://" in storage:
        return Path("results").resolve() / name
    return Path(storage_root(storage)) / name


def utf8(text: str) -> bool:
    """Whether a command-line value is text UTF-8 can hold (a Latin-1 byte arrives as a lone
    surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
