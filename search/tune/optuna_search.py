"""OptunaSearch that tells Optuna the truth about trials ASHA stopped early, and survives resume.

Ray's OptunaSearch tells every finished trial to Optuna as COMPLETE with its last value. For a
trial ASHA stopped after 2 of 10 epochs that value is an early one, and TPE then learns that
configs which look good early are good, which is what ASHA already rewards. Here a trial that
ended before its last epoch, without an error, is told as PRUNED: Optuna keeps its intermediate
values (reported every epoch by `on_trial_result`) and TPE treats it as unfinished.

After the driver is killed, Tune restores the searcher from a snapshot that can be older than
the Optuna study on disk. Two things follow, both handled here: a trial the study already holds
as finished may be re-run from its checkpoint (the study keeps the outcome it has; the re-run's
reports are not written twice), and a config asked for after the snapshot is asked for again
under a new trial, leaving the first one RUNNING forever (it is marked FAIL on restore, so
neither TPE's constant liar nor optuna-dashboard counts a trial that will never report).

One seed, one search: which outcomes TPE's k-th proposal sees is fixed by k alone (`Visibility`),
not by which trials happened to finish first, so a `--seed` fixes the configs at a given
`--max-concurrent` c on one machine. A trial that ASHA stopped (or that never got past the
last rung) is seen by proposals k >= j + c; a trial that got past the last rung, and so runs
its full budget, by proposals k >= j + c + LATE_LAG (with c > 1). A proposal waits (the
searcher answers None and Tune asks again) until every trial it must see has ended and every
trial it might see is known to be one or the other; an outcome is told to Optuna only once
every proposal that must not see it has been made. Until then its trial is RUNNING in the
study, which TPE's constant liar (Optuna's default) counts among the worse trials, as it
counts any trial still running. With c = 1 that is the sequential search;
search.tune.asha.OrderedASHA makes the stops themselves fixed.

One truth with the leaderboard: a finished trial's value is its best epoch's score (what the
leaderboard, best.json and TensorBoard's HParams tab call its score), not its last epoch's; the
study names its metric, and each Optuna trial carries its Tune trial id and folder as user
attributes, so optuna-dashboard's trial #3 can be found on disk.
"""

from __future__ import annotations

import logging
import warnings

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from search.answer.names import search_folder
from search.answer.rules import full_budget
from search.tune.compat import OptunaSearchInternals

logger = logging.getLogger(__name__)

# Proposals a full-budget trial is hidden from beyond the c every trial is: waiting for it to
# end held a slot idle while the trial ran its last two thirds (the default search of seed 0
# had one slot idle 136 s of 371 with the lag c alone).
LATE_LAG = 3


class Visibility:
    """Which ended trials TPE's next proposal may see, a function of the proposal's number.

    seen = Visibility(concurrency=2, settle_epoch=3)
    seen.propose("t0"); seen.propose("t1"); seen.report("t0", 4); seen.end("t1")
    seen.ready()          # may proposal 2 be made now?
    seen.tellable()       # ended trials that every proposal still to come may see
    """

    def __init__(self, concurrency: int, settle_epoch: int, lag: int = LATE_LAG):
        self.concurrency, self.settle_epoch = concurrency, settle_epoch
        self.lag = lag if concurrency > 1 else 0  # one at a time, no slot waits beside it
        self.order: list[str] = []  # trial ids in the order proposed
        self.late: set[str] = set()  # reported past settle_epoch: runs its full budget
        self.ended: set[str] = set()

    def propose(self, trial: str) -> None:
        self.order.append(trial)

    def report(self, trial: str, epoch: float) -> None:
        if epoch > self.settle_epoch:
            self.late.add(trial)

    def end(self, trial: str) -> None:
        self.ended.add(trial)

    def _lag(self, trial: str) -> int:
        return self.concurrency + (self.lag if trial in self.late else 0)

    def ready(self) -> bool:
        """Whether proposal number len(order) can be made: each earlier trial it might see
        has ended or is known to run late, and each late one it must see has ended."""
        k = len(self.order)
        for j, trial in enumerate(self.order):
            if j > k - self.concurrency:
                break
            if trial not in self.ended and trial not in self.late:
                return False  # not known yet whether this proposal sees it
            if trial not in self.ended and k >= j + self._lag(trial):
                return False  # a late trial this proposal must see is still running
        return True

    def tellable(self, total: int = 0) -> list[str]:
        """Ended trials, in proposal order, that every proposal from now on sees (all of them
        once `total` proposals are made)."""
        k = len(self.order)
        every = bool(total) and k >= total
        return [
            t
            for j, t in enumerate(self.order)
            if t in self.ended and (every or k > j + self._lag(t) - 1)
        ]


class PruningOptunaSearch(OptunaSearchInternals):
    def __init__(
        self,
        *args,
        max_epochs: int,
        max_concurrent: int = 1,
        num_samples: int = 0,
        settle_epoch: int | None = None,
        start_points: dict[str, dict] | None = None,
        **kwargs,
    ):
        """`settle_epoch`: the last epoch at which the scheduler may stop a trial (ASHA's last
        rung; None: max_epochs, no early stops); `start_points`: the references among
        points_to_evaluate, by name, for each trial's folder (search.answer.names)."""
        self.start_points = start_points or {}
        self.max_epochs = max_epochs
        self.best_scores: dict[str, float] = {}  # Tune trial id -> best reported score
        self.num_samples = num_samples
        self.seen = Visibility(max_concurrent, settle_epoch or max_epochs)
        self.untold: dict[str, tuple[dict | None, bool]] = {}  # ended, not told yet
        self.last_step: dict[str, int] = {}  # Tune trial id -> last step reported to Optuna
        super().__init__(*args, **kwargs)

    def study_ready(self) -> None:
        with warnings.catch_warnings():  # experimental since optuna 3.2, still there in 5.0
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.study.set_metric_names([self.metric])  # not "Objective 0" in the dashboard

    def suggest(self, trial_id: str) -> dict | None:
        if self.optuna_trial(trial_id) is None:  # a new proposal
            if not self.seen.ready():
                return None  # an outcome it must see is still running: Tune asks again
            self._tell_ready()
            self.seen.propose(trial_id)
        config = super().suggest(trial_id)
        self._tell_ready()
        ot_trial = self.optuna_trial(trial_id)
        if ot_trial is not None:
            ot_trial.set_user_attr("tune_trial_id", trial_id)
            ot_trial.set_user_attr("folder", search_folder(trial_id, config, self.start_points))
        return config

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        # a searcher saved before proposals were ordered: order the ones still to come
        self.__dict__.setdefault("seen", Visibility(1, self.max_epochs))
        self.__dict__.setdefault("untold", {})
        self.__dict__.setdefault("last_step", {})
        self.__dict__.setdefault("num_samples", 0)
        self.__dict__.setdefault("start_points", {})
        for number in self.fail_untracked_running():
            logger.info("trial #%d was interrupted before Tune saved it: FAIL", number)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.seen.report(trial_id, result.get("epoch", 0))
        self._keep_best(trial_id, result)
        self.last_step[trial_id] = result.get("training_iteration")
        try:
            super().on_trial_result(trial_id, result)
        except UpdateFinishedTrialError:
            logger.info("trial %s is already finished in the study; result not re-told", trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if result is not None and not error and trial_id not in self.told:
            self._report_last(trial_id, result)
            self.seen.report(trial_id, result.get("epoch", 0))
        self.untold[trial_id] = (result, error)
        self.seen.end(trial_id)
        self._tell_ready()

    def _tell_ready(self) -> None:
        """Tell Optuna the ended trials every proposal still to come may see."""
        for trial_id in self.seen.tellable(self.num_samples):
            if trial_id in self.untold:
                self._tell(trial_id, *self.untold.pop(trial_id))
        for trial_id in [t for t in self.untold if t not in self.seen.order]:  # not proposed
            self._tell(trial_id, *self.untold.pop(trial_id))

    def _tell(self, trial_id: str, result: dict | None, error: bool) -> None:
        stopped_early = (
            not error
            and result is not None
            and not full_budget(result.get("epoch", self.max_epochs), self.max_epochs)
            and trial_id not in self.told
        )
        if not stopped_early:
            if result is not None and not error:
                result = {**result, self.metric: self.best_scores[trial_id]}
            return super().on_trial_complete(trial_id, result, error)
        try:
            self.study.tell(self.optuna_trial(trial_id), state=TrialState.PRUNED)
        except UpdateFinishedTrialError:
            logger.info("trial %s is already finished in the study", trial_id)
        self.told.add(trial_id)

    def _report_last(self, trial_id: str, result: dict) -> None:
        """Tune hands a trial's last result (the one that ended it: its last epoch, or ASHA's
        stop) to on_trial_complete only: record it as the last intermediate value, and the
        trial's best score as a user attribute, which the dashboard shows on every trial's page
        (a PRUNED trial's "Value" there is its last epoch's, Optuna's rule, not its best)."""
        self._keep_best(trial_id, result)
        ot_trial = self.optuna_trial(trial_id)
        step = result.get("training_iteration")
        try:
            # a trial held at a rung and stopped later had that result reported already
            if self.metric in result and step is not None and self.last_step.get(trial_id) != step:
                ot_trial.report(result[self.metric], step)
            if trial_id in self.best_scores:
                ot_trial.set_user_attr(f"best_{self.metric}", self.best_scores[trial_id])
        except UpdateFinishedTrialError:
            logger.info("trial %s is already finished in the study", trial_id)

    def _keep_best(self, trial_id: str, result: dict) -> None:
        if self.metric in result:
            best = self.best_scores.get(trial_id, float("-inf"))
            self.best_scores[trial_id] = max(best, result[self.metric])
