"""ASHA that stops trials only in the first third of their budget.

    scheduler = EarlyRungsASHA(time_attr="epoch", max_t=10, grace_period=1, reduction_factor=3)

Ray's ASHAScheduler puts rungs at grace * 3^k below max_t: at epochs 1, 3 and 9 of 10, and
9, 27 and 81 of 94. A stop at the last of them saves one epoch of ten (13 of 94) for the trial
it stops, but the trials that reach it are the search's best, and a good trial stopped there
is trained again from its first epoch as one of the answer's members: in the default search's
seed-2 run (BENCHMARKS.md, "Fifth session") ASHA stopped the best trial at 9 of 10 epochs, and
retraining it cost 100 s of the job's 675. Here a trial past a third of the budget (the last
rung at or below max_t / reduction_factor) runs to its end; the rungs before that stop as
Ray's do.
"""

from __future__ import annotations

from ray.tune.schedulers import ASHAScheduler, TrialScheduler


def may_stop(time: float, max_t: float, reduction_factor: float) -> bool:
    """Whether ASHA may judge a trial at `time`: up to a third of the budget (with factor 3),
    and at max_t, where every trial ends anyway."""
    return time <= max_t / reduction_factor or time >= max_t


class EarlyRungsASHA(ASHAScheduler):
    def __init__(self, *, time_attr: str, max_t: int, reduction_factor: float, **kwargs):
        super().__init__(
            time_attr=time_attr, max_t=max_t, reduction_factor=reduction_factor, **kwargs
        )
        self.time_attr, self.max_t, self.reduction_factor = time_attr, max_t, reduction_factor

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        time = result.get(self.time_attr)
        if time is not None and not may_stop(time, self.max_t, self.reduction_factor):
            return TrialScheduler.CONTINUE
        return super().on_trial_result(tune_controller, trial, result)
