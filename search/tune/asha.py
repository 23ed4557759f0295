"""ASHA whose decisions do not depend on which trial reports first, and never stops a start point.

    scheduler = OrderedASHA(metric="val_balanced_accuracy", max_t=10, grace_period=1,
                            protected=lambda config: config in start_point_configs)

Ray's ASHAScheduler judges a trial at a rung against whichever trials happened to reach that
rung before it. With two trials at once that depends on their pace, so the same `--seed` could
stop other trials and hand TPE other results (the README's "same seed, same configs" held
only at `--max-concurrent 1`). Here the trials are numbered in the order the searcher made
them, and trial k is judged at a rung against trials 0..k-1 alone, once each of them has
passed that rung or ended: the decision ASHA would make if the trials ran one after another.
A trial that gets to a rung before an earlier one is held at that report (Tune's NOOP: its
training thread waits for the next request) and released, continued or stopped, as soon as
the earlier ones are there. A trial retried after an error is judged again at the rung it
was held at; a resumed search keeps the order (Tune's experiment tags carry it) and reads each
restored trial's rung scores back from the results it reported (Tune keeps the scheduler as it
was built, in tuner.pkl, so its book starts empty): without them a resumed search judged its
next trials against fewer scores, let a trial past a rung that the uninterrupted run stopped
it at, and from there proposed other configs.

Rungs sit where Ray's do (grace * 3^k) but only in the first third of the budget: a trial past
that runs to its end, since the trials that reach a late rung are the search's best and a good
trial stopped there was trained again from its first epoch as one of the answer's members.
The start points (the references written in the space's knobs) are never stopped: they are
the references, trained once for the full budget (search.job's reference phase reuses them).
ASHA's decision rule itself (cut below the (1 - 1/rf) quantile of the rung) is Ray's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from search.tune import compat as tune_compat

STOP, CONTINUE, WAIT = "stop", "continue", "wait"


def early_rungs(max_t: int, grace_period: int, reduction_factor: float) -> list[int]:
    """Ray's rungs (grace * rf^k) up to a third of the budget (with factor 3)."""
    rungs, rung = [], grace_period
    while rung <= max_t / reduction_factor:
        rungs.append(int(rung))
        rung *= reduction_factor
    return rungs


def expected_epochs(rungs: list[int], max_t: int, reduction_factor: float) -> float:
    """A trial's length if each rung keeps 1/rf of the trials reaching it: what the console's
    time left assumes before any trial ASHA judges has ended (2.4 of 10 epochs at rungs 1, 3)."""
    edges = [0, *rungs, max_t]
    return sum((b - a) / reduction_factor**i for i, (a, b) in enumerate(pairwise(edges)))


def cutoff(scores: list[float], reduction_factor: float) -> float | None:
    """ASHA's bar at a rung: the (1 - 1/rf) quantile of the scores recorded there (Ray's)."""
    if not scores:
        return None
    return float(np.nanpercentile(scores, (1 - 1 / reduction_factor) * 100))


@dataclass
class RungBook:
    """What the decisions read: the trials in the order they were made, each one's score at
    the rungs it recorded and the rungs already decided for it, the last time it reported,
    which trials ended, which are kept."""

    order: list[str] = field(default_factory=list)
    position: dict[str, float] = field(default_factory=dict)
    scores: dict[str, dict[int, float]] = field(default_factory=dict)
    decided: dict[str, set[int]] = field(default_factory=dict)
    reached: dict[str, float] = field(default_factory=dict)
    ended: set[str] = field(default_factory=set)
    protected: set[str] = field(default_factory=set)

    def __setstate__(self, state: dict) -> None:
        """A book pickled by an earlier version (Tune keeps the scheduler in tuner.pkl)."""
        self.__dict__.update(state)
        self.__dict__.setdefault("decided", {t: set(rungs) for t, rungs in self.scores.items()})
        self.__dict__.setdefault("position", {t: i for i, t in enumerate(self.order)})

    def add(self, trial: str, protected: bool = False, number: int | None = None) -> None:
        """A trial, at its proposal `number` (None: after every trial known so far)."""
        if trial not in self.scores:
            self.scores[trial], self.decided[trial] = {}, set()
            self.position[trial] = number if number is not None else len(self.order) + 1e6
            self.order.append(trial)
            self.order.sort(key=self.position.__getitem__)
        if protected:
            self.protected.add(trial)

    def decide(
        self, trial: str, rung: int, reduction_factor: float, waiting: set[str] | None = None
    ) -> str:
        """STOP, CONTINUE or WAIT (an earlier trial has neither passed `rung` nor ended).
        `waiting`: the earlier trials worth waiting for (None: all); a held trial keeps its
        resources, so one queued for resources on a cluster is not waited for."""
        if trial in self.protected:
            return CONTINUE
        earlier = self.order[: self.order.index(trial)]
        behind = [e for e in earlier if e not in self.ended and self.reached.get(e, 0) < rung]
        if any(waiting is None or e in waiting for e in behind):
            return WAIT
        bar = cutoff([self.scores[e][rung] for e in earlier if rung in self.scores[e]],
                     reduction_factor)  # fmt: skip
        return STOP if bar is not None and self.scores[trial][rung] < bar else CONTINUE


class OrderedASHA(FIFOScheduler):
    def __init__(
        self,
        *,
        metric: str,
        max_t: int,
        grace_period: int,
        reduction_factor: float = 3,
        time_attr: str = "epoch",
        protected: Callable[[dict], bool] = lambda config: False,
    ):
        super().__init__()
        super().set_search_properties(metric, "max")  # Tune's own setter; ours refuses later calls
        self.time_attr, self.reduction_factor = time_attr, reduction_factor
        self.max_t = max_t
        self.rungs = early_rungs(max_t, grace_period, reduction_factor)
        self.protected = protected
        self.book = RungBook()
        self.held: dict[str, int] = {}  # trial id -> the rung it waits at
        self._trials: dict = {}
        self._releasing = False

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return True  # the metric is set here; mode is "max"

    def on_trial_add(self, tune_controller, trial) -> None:
        """A new trial, a restored one (resume) or one retried after an error."""
        self._trials[trial.trial_id] = trial
        number = tune_compat.proposal_number(trial)
        self.book.add(trial.trial_id, self.protected(trial.config), number)
        self.held.pop(trial.trial_id, None)  # a retried trial reports its held rung again
        if trial.status in ("TERMINATED", "ERROR"):
            self.book.ended.add(trial.trial_id)
        else:
            self.book.ended.discard(trial.trial_id)
        reported = (getattr(trial, "last_result", None) or {}).get(self.time_attr) is not None
        if reported and not self.book.scores[trial.trial_id]:  # restored by a resume
            for result in tune_compat.reported_results(trial):
                self._record(trial.trial_id, result)

    def _record(self, tid: str, result: dict) -> list[int]:
        """A result's time and its score at a rung (like Ray's bracket: one rung per result,
        the highest one crossed and not yet decided); the rungs it crossed."""
        time_, score = result.get(self.time_attr), result.get(self.metric)
        if time_ is None or score is None:
            return []
        self.book.reached[tid] = max(self.book.reached.get(tid, 0), time_)
        crossed = [r for r in self.rungs if r <= time_ and r not in self.book.decided[tid]]
        if crossed:
            self.book.scores[tid].setdefault(max(crossed), float(score))  # a retry keeps the first
        return crossed

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        time_ = result.get(self.time_attr)
        if time_ is None or result.get(self.metric) is None:
            return TrialScheduler.CONTINUE
        tid = trial.trial_id
        self.book.add(tid)
        crossed = self._record(tid, result)
        decision = CONTINUE
        if crossed:
            rung = max(crossed)
            decision = self.book.decide(tid, rung, self.reduction_factor, self._running())
            if decision == WAIT:
                self.held[tid] = rung
            else:
                self.book.decided[tid].update(crossed)
        self._release(tune_controller)
        if decision == CONTINUE and time_ >= self.max_t:
            decision = STOP  # the budget's end, as Ray's ASHA says it: the trial is complete
        return {
            STOP: TrialScheduler.STOP,
            CONTINUE: TrialScheduler.CONTINUE,
            WAIT: TrialScheduler.NOOP,
        }[decision]

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self._ended(tune_controller, trial)

    def on_trial_error(self, tune_controller, trial) -> None:
        self._ended(tune_controller, trial)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self._ended(tune_controller, trial)

    def _ended(self, tune_controller, trial) -> None:
        self.book.ended.add(trial.trial_id)
        self.held.pop(trial.trial_id, None)
        self._release(tune_controller)

    def _release(self, tune_controller) -> None:
        """Decide the held trials whose earlier trials are now past their rung, in order."""
        if self._releasing:  # stopping a held trial calls back into on_trial_complete
            return
        self._releasing = True
        try:
            for tid in [t for t in self.book.order if t in self.held]:
                rung = self.held[tid]
                decision = self.book.decide(tid, rung, self.reduction_factor, self._running())
                if decision == WAIT:
                    continue
                del self.held[tid]
                self.book.decided[tid].update(r for r in self.rungs if r <= rung)
                tune_compat.decide_held(
                    tune_controller,
                    self._trials[tid],
                    TrialScheduler.CONTINUE if decision == CONTINUE else TrialScheduler.STOP,
                )
        finally:
            self._releasing = False

    def _running(self) -> set[str]:
        return {t for t, trial in self._trials.items() if trial.status == "RUNNING"}

    def debug_string(self) -> str:
        return f"OrderedASHA: rungs {self.rungs}, held {sorted(self.held)}"
