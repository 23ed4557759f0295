"""EarlyRungsASHA: Ray's rungs in the first third of the budget, none after."""

from types import SimpleNamespace

from ray.tune.schedulers import TrialScheduler

from search.asha import EarlyRungsASHA, may_stop


def test_only_the_first_third_of_the_budget_and_its_end_are_judged():
    assert [t for t in range(1, 11) if may_stop(t, 10, 3)] == [1, 2, 3, 10]
    # 500 images: 94 epochs validated every 9th; Ray's rungs 9, 27 and 81, the last dropped
    assert [t for t in range(9, 95, 9) if may_stop(t, 94, 3)] == [9, 18, 27]


def asha(max_t: int) -> EarlyRungsASHA:
    return EarlyRungsASHA(
        time_attr="epoch",
        metric="score",
        mode="max",
        max_t=max_t,
        grace_period=1,
        reduction_factor=3,
    )


def run(scheduler: EarlyRungsASHA, name: str, scores: list[float]) -> int:
    """Report `scores` epoch by epoch until the scheduler stops the trial; the epochs run."""
    trial = SimpleNamespace(trial_id=name)
    scheduler.on_trial_add(None, trial)
    for epoch, score in enumerate(scores, start=1):
        action = scheduler.on_trial_result(None, trial, {"epoch": epoch, "score": score})
        if action == TrialScheduler.STOP:
            break
    return epoch


def test_a_trial_behind_the_leaders_at_epoch_9_of_10_is_not_stopped():
    scheduler = asha(max_t=10)
    for i in range(3):  # three strong trials fill every rung first
        assert run(scheduler, f"strong{i}", [0.9 + i / 100] * 10) == 10
    # behind them at every epoch: stopped at the first rung (epoch 1) ...
    assert run(scheduler, "weak", [0.5] * 10) == 1
    # ... but one level with them until epoch 3 and behind at 9 runs to its end (Ray's own
    # ASHA stops it at its rung 9)
    assert run(scheduler, "late", [0.92] * 3 + [0.5] * 7) == 10
