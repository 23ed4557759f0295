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
from ray.tune.search.optuna import OptunaSearch

from search.reruns import trial_folder

logger = logging.getLogger(__name__)


class PruningOptunaSearch(OptunaSearch):
    def __init__(self, *args, max_epochs: int, **kwargs):
        self.max_epochs = max_epochs
        self.best_scores: dict[str, float] = {}  # Tune trial id -> best reported score
        super().__init__(*args, **kwargs)

    def _setup_study(self, mode) -> None:
        super()._setup_study(mode)
        with warnings.catch_warnings():  # experimental since optuna 3.2, still there in 5.0
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self._ot_study.set_metric_names([self._metric])  # not "Objective 0" in the dashboard

    def suggest(self, trial_id: str) -> dict | None:
        config = super().suggest(trial_id)
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is not None:
            ot_trial.set_user_attr("tune_trial_id", trial_id)
            ot_trial.set_user_attr("folder", trial_folder(trial_id))
        return config

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        # _trial_id is the storage key of both Trial and FrozenTrial; optuna has no public one.
        tracked = {trial._trial_id for trial in self._ot_trials.values()}
        storage = self._ot_study._storage
        for trial in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial._trial_id not in tracked:
                storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
                logger.info("trial #%d was interrupted before Tune saved it: FAIL", trial.number)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self._keep_best(trial_id, result)
        try:
            super().on_trial_result(trial_id, result)
        except UpdateFinishedTrialError:
            logger.info("trial %s is already finished in the study; result not re-told", trial_id)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        stopped_early = (
            not error
            and result is not None
            and result.get("epoch", self.max_epochs) < self.max_epochs
            and trial_id not in self._completed_trials
        )
        finished = result is not None and not error and trial_id not in self._completed_trials
        if finished:
            self._report_last(trial_id, result)
        if not stopped_early:
            if result is not None and not error:
                result = {**result, self.metric: self.best_scores[trial_id]}
            return super().on_trial_complete(trial_id, result, error)
        try:
            self._ot_study.tell(self._ot_trials[trial_id], state=TrialState.PRUNED)
        except UpdateFinishedTrialError:
            logger.info("trial %s is already finished in the study", trial_id)
        self._completed_trials.add(trial_id)

    def _report_last(self, trial_id: str, result: dict) -> None:
        """Tune hands a trial's last result (the one that ended it: its last epoch, or ASHA's
        stop) to on_trial_complete only: record it as the last intermediate value, and the
        trial's best score as a user attribute, which the dashboard shows on every trial's page
        (a PRUNED trial's "Value" there is its last epoch's, Optuna's rule, not its best)."""
        self._keep_best(trial_id, result)
        ot_trial = self._ot_trials[trial_id]
        step = result.get("training_iteration")
        try:
            if self.metric in result and step is not None:
                ot_trial.report(result[self.metric], step)
            if trial_id in self.best_scores:
                ot_trial.set_user_attr(f"best_{self.metric}", self.best_scores[trial_id])
        except UpdateFinishedTrialError:
            logger.info("trial %s is already finished in the study", trial_id)

    def _keep_best(self, trial_id: str, result: dict) -> None:
        if self.metric in result:
            best = self.best_scores.get(trial_id, float("-inf"))
            self.best_scores[trial_id] = max(best, result[self.metric])
