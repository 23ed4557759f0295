"""The private corners of Ray Tune this package relies on, in one place, checked against the
versions they were written for (constraints.txt pins the tested ones).

    tune_compat.decide_held(tune_controller, trial, "CONTINUE")   # or "STOP"
    tune_compat.proposal_number(trial)                            # 0, 1, 2, ... as created
"""

from __future__ import annotations

import ray

WRITTEN_FOR = "2.60"  # the Ray minor version these calls were read from

if not ray.__version__.startswith(WRITTEN_FOR):  # pragma: no cover - another Ray
    import warnings

    warnings.warn(
        f"search.tune_compat was written for Ray {WRITTEN_FOR}.x and this is Ray "
        f"{ray.__version__}: run the tests before trusting a search",
        stacklevel=1,
    )


def decide_held(tune_controller, trial, decision: str) -> None:
    """Carry out CONTINUE or STOP for a trial a scheduler held at a report (it answered NOOP):
    what Tune does itself right after a decision, which it has no public call for when the
    decision comes later. A trial whose report's checkpoint is still being saved gets the
    decision cached, as Tune caches its own then, and acted on once the save is processed:
    a train request beside the save could be answered first and leave the trial waiting,
    and a stop would drop the checkpoint."""
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import TrialScheduler

    controller = getattr(tune_controller, "_tune_controller", tune_controller)  # unwrapped
    if trial.status != Trial.RUNNING:
        return
    if trial.is_saving:
        controller._cached_trial_decisions[trial.trial_id] = decision
    elif decision == TrialScheduler.CONTINUE:
        controller._schedule_trial_train(trial)
    else:
        controller.stop_trial(trial)


def proposal_number(trial) -> int | None:
    """The order in which the searcher made a trial: Tune's experiment tag starts with its
    counter ("3_lr=0.003,..."), which a restored experiment keeps; None where it does not."""
    head = str(getattr(trial, "experiment_tag", "")).split("_", 1)[0]
    return int(head) if head.isdigit() else None
