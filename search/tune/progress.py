"""What a person watching a search sees: a line per finished trial, and a status line while
trials run, for the search and for the reference, member and confirm runs alike. A finished
trial's score is its best epoch's, as on the leaderboard, its last epoch's beside it if lower.

    [    42s] trial 3/12 done: trial_ab12cd34 (Optuna #2) stopped after 3/10 epochs,
             val_balanced_accuracy 0.9412 (last epoch 0.9218), best so far 0.9601 (loss focal,
             sampler none, ...)
    [    60s] running trial_ef56ab78 epoch 4/10 0.9521, trial_0a1b2c3d epoch 2/10 0.9012 |
             3/12 done (1 complete, 2 stopped, 0 errored) | about 8 min left in all

Tune's own tables stay off unless --verbose. The clock counts from the job's start through every
phase. The time left is the whole job's, an estimate at the pace so far: the phase's unfinished
trials at the mean length of those ended (ASHA stops most search trials after a few epochs),
then the full-budget runs still to come (the references, the answer's members), `concurrency`
at a time, and a little for each phase's start and the report. The pace is the median epoch
of the trials' own reports (Tune's `time_this_iter_s`), not the phase's elapsed time over its
epochs: that counted the phase's start-up and a running epoch as no work, and overstated the
time left (`python -m benchmarks.efficiency eta` holds the estimate against a run's log).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import optuna
from optuna.storages import BaseStorage
from ray import tune

from search.answer.names import start_point_role, trial_folder
from search.answer.rules import full_budget

STATUS_EVERY_S = 30.0  # a status line at most this often, while results arrive
PHASE_START_S = 10.0  # Tune's start of a phase's runs, and the report: seconds, measured ~7-9
# One clock for the whole job, so the phases' lines (trials, references, members, confirm) read
# as one timeline: seconds since the job imported this module, just before it read the data.
JOB_STARTED = time.monotonic()
KEY_KNOBS = ("loss", "sampler", "aug_strength")  # what a finished trial's line names


class Progress(tune.Callback):
    def __init__(
        self,
        total: int,
        objective: str,
        max_epochs: int,
        phase: str = "trial",
        every_s: float = STATUS_EVERY_S,
        concurrency: int = 1,
        runs_after: tuple[int, ...] = (),
        study: tuple[BaseStorage, str] | None = None,
        start_points: dict[str, dict] | None = None,
        expected_epochs: float | None = None,
    ):
        """`runs_after`: how many full-budget runs each later phase of the job trains, so the
        time left covers the whole job (an estimate where the count is not yet known);
        `study`: the search's Optuna storage and study name, to name each trial by its Optuna
        number as optuna-dashboard does; `start_points`: the references the search trains as
        its start points, by name, so their lines say which reference they are;
        `expected_epochs`: a trial's length before any has ended (None: the whole budget)."""
        self.total, self.objective, self.max_epochs = total, objective, max_epochs
        self.phase, self.every_s = phase, every_s
        self.concurrency, self.runs_after = max(1, concurrency), runs_after
        self.study, self.start_points = study, start_points or {}
        self.expected_epochs = expected_epochs
        # epochs run by the trials that ended, start points aside: ASHA never stops those, so
        # their full budgets said nothing of how long the others run (the time left read
        # 2.2-2.9 times the truth with them counted)
        self.ended_epochs, self.ended_judged = 0, 0
        self.last_status = time.monotonic()
        self.latest: dict[str, tuple[int, float]] = {}  # running trial -> (epoch, score)
        self.ended = {"complete": 0, "stopped": 0, "errored": 0}
        self.epoch_seconds: list[float] = []  # one epoch's seconds, per report
        self.full_budget: set[str] = set()  # running start points: they run every epoch
        self.best = -math.inf

    def __setstate__(self, state: dict) -> None:
        """Restored with the experiment (--resume): the status lines start again."""
        self.__dict__.update(state)
        self.__dict__.setdefault("start_points", {})  # an experiment from before they were named
        self.__dict__.setdefault("full_budget", set())
        self.__dict__.setdefault("expected_epochs", None)
        self.__dict__.setdefault("ended_judged", sum(self.ended.values()))
        self.last_status = time.monotonic()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        name = folder_name(trial)
        if self._role(trial):
            self.full_budget.add(name)
        before = self.latest.get(name, (0, math.nan))[0]
        epoch = result.get("epoch", 0)
        self.latest[name] = (epoch, result.get(self.objective, math.nan))
        seconds = result.get("time_this_iter_s")
        if seconds:  # a trial reports every eval_every epochs
            self.epoch_seconds.append(seconds / max(1, epoch - before))
        now = time.monotonic()
        if now - self.last_status >= self.every_s:
            self.last_status = now
            print(self.status_line(now), flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        last = trial.last_result or {}
        epoch, score = self.latest.pop(folder_name(trial), None) or (
            last.get("epoch", 0),
            last.get(self.objective, math.nan),
        )
        best_of_trial = trial.metric_analysis.get(self.objective, {}).get("max", score)
        self.best = max(self.best, best_of_trial)
        status = "complete" if full_budget(epoch, self.max_epochs) else "stopped"
        self.ended[status] += 1
        if not self._role(trial):
            self.ended_epochs += epoch
            self.ended_judged += 1
        knobs = ", ".join(f"{k} {_short(trial.config[k])}" for k in KEY_KNOBS if k in trial.config)
        # the trial's best epoch, the score the leaderboard and "best so far" use
        last = "" if score == best_of_trial else f" (last epoch {score:.4f})"
        number = optuna_number(*self.study, trial.trial_id) if self.study else None
        named = folder_name(trial) + ("" if number is None else f" (Optuna #{number})")
        role = self._role(trial)
        named += f" = reference {role}" if role else ""
        print(
            f"{self._clock()} {self.phase} {sum(self.ended.values())}/{self.total} done: "
            f"{named} {status} after {epoch}/{self.max_epochs} epochs, "
            f"{self.objective} {best_of_trial:.4f}{last}, best so far {self.best:.4f} ({knobs})",
            flush=True,
        )

    def on_trial_error(self, iteration, trials, trial, **info):
        self.latest.pop(folder_name(trial), None)
        self.ended["errored"] += 1
        print(
            f"{self._clock()} {self.phase} {sum(self.ended.values())}/{self.total} errored: "
            f"{folder_name(trial)}: {last_error_line(trial.error_file)} ({trial.error_file})",
            flush=True,
        )

    def status_line(self, now: float) -> str:
        running = ", ".join(
            f"{name} epoch {epoch}/{self.max_epochs} {score:.4f}"
            for name, (epoch, score) in sorted(self.latest.items())
        )
        done = sum(self.ended.values())
        counts = ", ".join(f"{n} {word}" for word, n in self.ended.items())
        return (
            f"{self._clock(now)} running {running or 'nothing'} | {done}/{self.total} done "
            f"({counts}) | {self.time_left()}"
        )

    def _role(self, trial) -> str | None:
        """The reference a trial's config is the start point of, if any."""
        return start_point_role(trial.config, self.start_points) or None

    def time_left(self) -> str:
        """The whole job's time left, estimated at the pace so far (see the module's doc)."""
        if not self.epoch_seconds:
            return "time left unknown yet"
        full = set(self.full_budget)
        seconds = seconds_left(
            epoch_s=statistics.median(self.epoch_seconds),
            running=[epoch for t, (epoch, _) in self.latest.items() if t not in full],
            unstarted=self.total - sum(self.ended.values()) - len(self.latest),
            mean_epochs=(
                self.ended_epochs / self.ended_judged if self.ended_judged else self.expected_epochs
            ),
            running_full=[epoch for t, (epoch, _) in self.latest.items() if t in full],
            max_epochs=self.max_epochs,
            concurrency=self.concurrency,
            runs_after=self.runs_after,
        )
        minutes = seconds / 60
        left = f"about {round(minutes)} min" if minutes >= 1 else "under a minute"
        return f"{left} left in all"

    def _clock(self, now: float | None = None) -> str:
        return job_clock(now)


def last_error_line(error_file: str | None) -> str:
    """The reason a trial failed, the last line of its traceback (Ray prints the whole of it
    with --verbose; error.txt keeps it): "OSError: [Errno 28] No space left on device"."""
    try:
        lines = [line for line in Path(error_file or "").read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        return "see its error file"
    return lines[-1].strip()[:200] if lines else "see its error file"


def folder_name(trial) -> str:
    """The trial's folder, as the disk, the leaderboard and TensorBoard name it
    (search.answer.names)."""
    path = getattr(trial, "path", None)
    return Path(path).name if path else trial_folder(trial.trial_id)


def job_clock(now: float | None = None) -> str:
    """Seconds since the job started, as every console line of the job shows them."""
    return f"[{(now or time.monotonic()) - JOB_STARTED:7.0f}s]"


def optuna_number(storage: BaseStorage, study_name: str, trial_id: str) -> int | None:
    """The Optuna trial number the searcher gave Tune's `trial_id` (its user attribute), or
    None (a reference or member run, which the study does not hold)."""
    study = optuna.load_study(study_name=study_name, storage=storage)
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("tune_trial_id") == trial_id:
            return t.number
    return None


def seconds_left(
    epoch_s: float,
    running: list[int],
    unstarted: int,
    mean_epochs: float | None,
    max_epochs: int,
    concurrency: int,
    runs_after: tuple[int, ...],
    running_full: Sequence[int] = (),
) -> float:
    """The job's time left: this phase's trials (a running one at least to the mean length of
    the ended ones, each unstarted one that long; the whole budget while none has ended; one
    in `running_full`, a start point ASHA never stops, to the end of its budget), then
    each later phase's `runs_after` full-budget runs, `concurrency` at a time, each phase with
    its start-up and the report. `epoch_s`: a trial's seconds per epoch, `concurrency` running."""
    expected = max_epochs if mean_epochs is None else mean_epochs
    to_run = [max(expected - epoch, 1) for epoch in running] + [expected] * unstarted
    to_run += [max(max_epochs - epoch, 1) for epoch in running_full]
    # the epochs share the slots, and a phase lasts at least as long as its longest run; a
    # remainder that joins the last wave shares its slots, so runs / concurrency, not rounded up
    phase = max(sum(to_run) / concurrency, max(to_run, default=0))
    later = sum(max(runs / concurrency, 1) for runs in runs_after if runs) * max_epochs
    return (phase + later) * epoch_s + (len(runs_after) + 1) * PHASE_START_S


def _short(value) -> str:
    """Two significant digits: 0.0006 is not 0.00 (augmentation off reads 0)."""
    return f"{value:.2g}" if isinstance(value, float) else str(value)
