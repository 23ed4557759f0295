"""Per-epoch TensorBoard curves of every trial, without Tune's hparams or bookkeeping.

    tuner = tune.Tuner(..., run_config=tune.RunConfig(callbacks=[TrialCurves()]))

Tune's own TensorBoard logger writes a trial's hparams when it ends, from its last epoch;
search.outputs.board writes them from the leaderboard instead, once the report knows each
trial's score. The per-epoch scores stay under `ray/tune/`.
"""

from __future__ import annotations

from search.tune.compat import TBXLoggerWithoutHparams

# Tune's bookkeeping, which its logger draws as curves too and TensorBoard sorts before the
# scores ("done", "iterations_since_restore", ... put val_balanced_accuracy on page 2); each
# trial's progress.csv and result.json keep it.
BOOKKEEPING = frozenset({"done", "should_checkpoint", "iterations_since_restore",
                         "time_since_restore", "timesteps_since_restore", "time_this_iter_s",
                         "timesteps_total", "episodes_total"})  # fmt: skip


class TrialCurves(TBXLoggerWithoutHparams):
    """Tune's TensorBoard logger, per-epoch scores only: no bookkeeping curves, and the
    hparams come from the report."""

    def log_trial_result(self, iteration: int, trial, result: dict) -> None:
        kept = {k: v for k, v in result.items() if k not in BOOKKEEPING}
        super().log_trial_result(iteration, trial, kept)
