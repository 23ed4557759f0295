"""OrderedASHA: Ray's rungs in the first third of the budget, each trial judged against the
trials made before it, whichever reports first; start points never stopped."""

import json
from types import SimpleNamespace

import pyarrow.fs
from ray.tune.schedulers import TrialScheduler

from search.tune.asha import OrderedASHA, early_rungs


def test_rungs_only_in_the_first_third_of_the_budget():
    assert early_rungs(10, 1, 3) == [1, 3]
    # 500 images: 94 epochs validated every 9th; Ray's rungs 9, 27 and 81, the last dropped
    assert early_rungs(94, 9, 3) == [9, 27]


class Controller:
    """What the scheduler asks of Tune for a held trial: its next report, or its stop."""

    def __init__(self, scheduler: OrderedASHA):
        self.scheduler, self.continued, self.stopped = scheduler, [], []
        self._cached_trial_decisions = {}  # Tune's: acted on once a trial's save is processed

    def _schedule_trial_train(self, trial) -> None:
        self.continued.append(trial.trial_id)

    def stop_trial(self, trial) -> None:
        self.stopped.append(trial.trial_id)
        self.scheduler.on_trial_complete(self, trial, {})


def asha(max_t: int = 10, protected=lambda config: False) -> tuple[OrderedASHA, Controller]:
    scheduler = OrderedASHA(
        metric="score", max_t=max_t, grace_period=1, reduction_factor=3, protected=protected
    )
    return scheduler, Controller(scheduler)


def trial(name: str, tag: str = "", **config) -> SimpleNamespace:
    return SimpleNamespace(
        trial_id=name, config=config, status="RUNNING", is_saving=False, experiment_tag=tag
    )


def report(scheduler, controller, t, epoch: int, score: float) -> str:
    return scheduler.on_trial_result(controller, t, {"epoch": epoch, "score": score})


def run(scheduler, controller, t, scores: list[float]) -> int:
    """Report `scores` epoch by epoch until the trial is stopped; the epochs run."""
    scheduler.on_trial_add(controller, t)
    for epoch, score in enumerate(scores, start=1):
        if report(scheduler, controller, t, epoch, score) == TrialScheduler.STOP:
            return epoch
    scheduler.on_trial_complete(controller, t, {})
    return len(scores)


def test_one_after_another_it_stops_as_ray_does_in_the_first_third_only():
    scheduler, controller = asha()
    for i in range(3):  # three strong trials fill every rung first
        assert run(scheduler, controller, trial(f"strong{i}"), [0.9 + i / 100] * 10) == 10
    # behind them at every epoch: stopped at the first rung (epoch 1) ...
    assert run(scheduler, controller, trial("weak"), [0.5] * 10) == 1
    # ... but one level with them until epoch 3 and behind after runs to its end
    assert run(scheduler, controller, trial("late"), [0.92] * 3 + [0.5] * 7) == 10


def test_a_start_point_is_never_stopped():
    scheduler, controller = asha(protected=lambda config: config.get("gamma") == 0.0)
    for i in range(3):
        run(scheduler, controller, trial(f"strong{i}"), [0.9] * 10)
    assert run(scheduler, controller, trial("start", gamma=0.0), [0.5] * 10) == 10


def test_a_later_trial_that_reports_first_waits_for_the_earlier_one():
    scheduler, controller = asha()
    first, second = trial("first"), trial("second")
    scheduler.on_trial_add(controller, first)
    scheduler.on_trial_add(controller, second)
    # the second trial gets to epoch 1 first: held, not judged against nobody
    assert report(scheduler, controller, second, 1, 0.5) == TrialScheduler.NOOP
    # the first arrives: it is judged against nothing earlier and goes on; the held one is
    # now judged against the first's 0.9 and stopped, as it would be one after another
    assert report(scheduler, controller, first, 1, 0.9) == TrialScheduler.CONTINUE
    assert controller.stopped == ["second"]
    assert scheduler.held == {}


def test_the_same_decisions_in_either_order_of_arrival():
    """Two trials of three, reaching rung 1 in both orders: the same trials stopped."""

    def stopped(order: list[str]) -> set[str]:
        scheduler, controller = asha()
        trials = {name: trial(name) for name in ("a", "b", "c")}
        for t in trials.values():
            scheduler.on_trial_add(controller, t)
        scores = {"a": 0.80, "b": 0.95, "c": 0.70}
        out = set()
        for name in order:
            if report(scheduler, controller, trials[name], 1, scores[name]) == "STOP":
                out.add(name)
        return out | set(controller.stopped)

    orders = [["a", "b", "c"], ["c", "b", "a"], ["b", "c", "a"], ["c", "a", "b"]]
    assert {frozenset(stopped(order)) for order in orders} == {frozenset({"c"})}


def test_a_held_trial_is_released_when_the_earlier_one_ends_before_the_rung():
    scheduler, controller = asha()
    first, second = trial("first"), trial("second")
    scheduler.on_trial_add(controller, first)
    scheduler.on_trial_add(controller, second)
    report(scheduler, controller, first, 1, 0.9)
    assert report(scheduler, controller, second, 3, 0.5) == TrialScheduler.NOOP  # rung 3
    scheduler.on_trial_error(controller, first)  # the first never reaches epoch 3
    assert controller.continued == ["second"]  # nothing earlier recorded at rung 3


def test_a_trial_retried_after_an_error_is_waited_for_and_judged_at_its_held_rung_again():
    scheduler, controller = asha()
    first, second, third = trial("first"), trial("second"), trial("third")
    for t in (first, second, third):
        scheduler.on_trial_add(controller, t)
    report(scheduler, controller, first, 1, 0.9)
    assert report(scheduler, controller, third, 1, 0.5) == TrialScheduler.NOOP  # waits: second
    scheduler.on_trial_error(controller, second)  # its node was lost ...
    assert controller.stopped == ["third"]  # (judged against first alone once second ended)
    scheduler, controller = asha()
    for t in (first, second, third):
        scheduler.on_trial_add(controller, t)
    report(scheduler, controller, first, 1, 0.9)
    assert report(scheduler, controller, second, 1, 0.95) == TrialScheduler.CONTINUE
    assert report(scheduler, controller, third, 3, 0.5) == TrialScheduler.NOOP  # rung 3
    scheduler.on_trial_error(controller, third)  # third's node is lost while it is held
    scheduler.on_trial_add(controller, third)  # ... and Tune retries it from epoch 3
    assert scheduler.held == {} and "third" not in scheduler.book.ended
    # its next report (epoch 4) is judged at rung 3 with its epoch-3 score, once second is there
    assert report(scheduler, controller, third, 4, 0.99) == TrialScheduler.NOOP
    scheduler.on_trial_complete(controller, first, {})
    report(scheduler, controller, second, 3, 0.95)
    assert controller.stopped == ["third"]  # 0.5 at rung 3, below second's 0.95


def test_the_order_is_the_proposal_order_tune_tags_carry_whatever_order_they_are_added_in():
    # a resumed experiment hands its trials back most recent first
    scheduler, controller = asha()
    late, early = trial("late", tag="2_lr=0.01"), trial("early", tag="1_lr=0.003")
    scheduler.on_trial_add(controller, late)
    scheduler.on_trial_add(controller, early)
    assert scheduler.book.order == ["early", "late"]


def test_a_held_trial_whose_checkpoint_is_still_being_saved_gets_the_decision_cached():
    scheduler, controller = asha()
    first, second = trial("first"), trial("second")
    scheduler.on_trial_add(controller, first)
    scheduler.on_trial_add(controller, second)
    report(scheduler, controller, second, 1, 0.95)  # held
    second.is_saving = True  # Tune saves each report's checkpoint after the decision
    report(scheduler, controller, first, 1, 0.9)
    assert controller._cached_trial_decisions == {"second": TrialScheduler.CONTINUE}
    assert controller.continued == []  # Tune acts on it once the save is processed


def test_a_trial_queued_for_resources_is_not_waited_for():
    # on a cluster an earlier trial can wait for a node while a later one runs: holding the
    # later one would keep the resources the earlier one waits for
    scheduler, controller = asha()
    first, second = trial("first"), trial("second")
    first.status = "PENDING"
    scheduler.on_trial_add(controller, first)
    scheduler.on_trial_add(controller, second)
    assert report(scheduler, controller, second, 1, 0.5) == TrialScheduler.CONTINUE


def test_a_book_pickled_before_rungs_were_marked_decided_still_resumes():
    import pickle

    from search.tune.asha import RungBook

    book = RungBook()
    book.add("a")
    book.scores["a"][1] = 0.9
    state = {k: v for k, v in book.__dict__.items() if k not in ("decided", "position")}
    old = RungBook.__new__(RungBook)
    old.__dict__.update(state)
    restored = pickle.loads(pickle.dumps(old))
    restored.add("b")
    assert restored.order == ["a", "b"] and restored.decided["a"] == {1}


def test_a_trials_expected_length_keeps_a_third_at_each_rung():
    from search.tune.asha import expected_epochs

    assert expected_epochs([1, 3], 10, 3) == 1 + 2 / 3 + 7 / 9
    assert expected_epochs([], 10, 3) == 10  # no rung: every trial runs its budget


def test_a_resumed_search_reads_the_rung_scores_its_trials_reported_and_stops_the_same(tmp_path):
    # uninterrupted: a and b report at rung 1, b is stopped there; c is judged against both
    scheduler, controller = asha()
    a, b, c = trial("a", "0_"), trial("b", "1_"), trial("c", "2_")
    for t in (a, b, c):
        scheduler.on_trial_add(controller, t)
    assert run(scheduler, controller, a, [0.90] * 10) == 10
    assert run(scheduler, controller, b, [0.80] * 10) == 1
    uninterrupted = report(scheduler, controller, c, 1, 0.85)

    # resumed: Tune restores a and b as ended, each with its last result and its result.json
    # (one JSON per line), and a scheduler as built, whose book is empty
    resumed, controller = asha()
    for t, scores in ((a, [0.90] * 10), (b, [0.80])):
        (tmp_path / t.trial_id).mkdir()
        results = [{"epoch": e, "score": s} for e, s in enumerate(scores, start=1)]
        (tmp_path / t.trial_id / "result.json").write_text(
            "\n".join(json.dumps(r) for r in results) + "\n{cut sho"  # the stop cut a line
        )
        t.status, t.last_result, t.local_path = "TERMINATED", results[-1], tmp_path / t.trial_id
        resumed.on_trial_add(controller, t)
    c = trial("c", "2_")
    resumed.on_trial_add(controller, c)
    assert report(resumed, controller, c, 1, 0.85) == uninterrupted == TrialScheduler.STOP
    # without the scores read back (no result.json here, nor on the storage), c had nothing
    # to be judged against and went on
    forgetful, controller = asha()
    for t in (a, b):
        t.local_path = tmp_path / "gone"
        t.storage = SimpleNamespace(trial_fs_path=str(tmp_path / "gone"),
                                    storage_filesystem=pyarrow.fs.LocalFileSystem())  # fmt: skip
        forgetful.on_trial_add(controller, t)
    forgetful.on_trial_add(controller, c := trial("c", "2_"))
    assert report(forgetful, controller, c, 1, 0.85) == TrialScheduler.CONTINUE
