"""What a person watching a search sees: a line per finished trial, and a status line while
trials run, for the search and for the reference, member and confirm runs alike. A finished
trial's score is its best epoch's, as on the leaderboard, its last epoch's beside it if lower.

    [    42s] trial 3/12 done: trial_ab12cd34 stopped after 3/10 epochs, val_balanced_accuracy
             0.9412 (last epoch 0.9218), best so far 0.9601 (loss focal, sampler none, ...)
    [    60s] running trial_ef56ab78 epoch 4/10 0.9521, trial_0a1b2c3d epoch 2/10 0.9012 |
             3/12 done (1 complete, 2 stopped, 0 errored) | at most 8 min left of the trials

Tune's own tables stay off unless --verbose. The clock counts from the job's start through every
phase. The time left is the phase's, an upper bound: it assumes every unfinished trial runs its
whole budget at the pace so far, and ASHA stops most of them early.
"""

from __future__ import annotations

import math
import time

from ray import tune

STATUS_EVERY_S = 30.0  # a status line at most this often, while results arrive
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
    ):
        self.total, self.objective, self.max_epochs = total, objective, max_epochs
        self.phase, self.every_s = phase, every_s
        self.started = self.last_status = time.monotonic()
        self.latest: dict[str, tuple[int, float]] = {}  # running trial -> (epoch, score)
        self.ended = {"complete": 0, "stopped": 0, "errored": 0}
        self.epochs_seen, self.best = 0, -math.inf

    def __setstate__(self, state: dict) -> None:
        """Restored with the experiment (--resume): the clock starts again."""
        self.__dict__.update(state)
        self.started = self.last_status = time.monotonic()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        before = self.latest.get(trial.trial_id, (0, math.nan))[0]
        epoch = result.get("epoch", 0)
        self.latest[trial.trial_id] = (epoch, result.get(self.objective, math.nan))
        self.epochs_seen += max(1, epoch - before)  # a trial reports every eval_every epochs
        now = time.monotonic()
        if now - self.last_status >= self.every_s:
            self.last_status = now
            print(self.status_line(now), flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        last = trial.last_result or {}
        epoch, score = self.latest.pop(trial.trial_id, None) or (
            last.get("epoch", 0),
            last.get(self.objective, math.nan),
        )
        best_of_trial = trial.metric_analysis.get(self.objective, {}).get("max", score)
        self.best = max(self.best, best_of_trial)
        status = "complete" if epoch >= self.max_epochs else "stopped"
        self.ended[status] += 1
        knobs = ", ".join(f"{k} {_short(trial.config[k])}" for k in KEY_KNOBS if k in trial.config)
        # the trial's best epoch, the score the leaderboard and "best so far" use
        last = "" if score == best_of_trial else f" (last epoch {score:.4f})"
        print(
            f"{self._clock()} {self.phase} {sum(self.ended.values())}/{self.total} done: "
            f"trial_{trial.trial_id} {status} after {epoch}/{self.max_epochs} epochs, "
            f"{self.objective} {best_of_trial:.4f}{last}, best so far {self.best:.4f} ({knobs})",
            flush=True,
        )

    def on_trial_error(self, iteration, trials, trial, **info):
        self.latest.pop(trial.trial_id, None)
        self.ended["errored"] += 1
        print(
            f"{self._clock()} {self.phase} {sum(self.ended.values())}/{self.total} errored: "
            f"trial_{trial.trial_id} ({trial.error_file})",
            flush=True,
        )

    def status_line(self, now: float) -> str:
        running = ", ".join(
            f"trial_{tid} epoch {epoch}/{self.max_epochs} {score:.4f}"
            for tid, (epoch, score) in sorted(self.latest.items())
        )
        done = sum(self.ended.values())
        counts = ", ".join(f"{n} {word}" for word, n in self.ended.items())
        return (
            f"{self._clock(now)} running {running or 'nothing'} | {done}/{self.total} done "
            f"({counts}) | {self.time_left(now)}"
        )

    def time_left(self, now: float) -> str:
        """An upper bound from the epoch budget: every unfinished trial runs all its epochs at
        the pace seen so far."""
        elapsed = now - self.started
        if not self.epochs_seen or elapsed <= 0:
            return "time left unknown yet"
        done = sum(self.ended.values())
        running_epochs = sum(epoch for epoch, _ in self.latest.values())
        budget_left = (self.total - done) * self.max_epochs - running_epochs
        minutes = budget_left / (self.epochs_seen / elapsed) / 60
        left = f"at most {math.ceil(minutes)} min" if minutes >= 1 else "under a minute"
        return f"{left} left of the {self.phase}s"

    def _clock(self, now: float | None = None) -> str:
        return f"[{(now or time.monotonic()) - JOB_STARTED:7.0f}s]"


def _short(value) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)
