from optuna.storages import RDBStorage
from optuna.trial import TrialState

from search.answer.names import technique_label
from search.tune.optuna_search import PruningOptunaSearch
from spaces import SPACES

METRIC = "val_balanced_accuracy"


def searcher(max_epochs: int = 5, storage=None, max_concurrent: int = 1) -> PruningOptunaSearch:
    s = PruningOptunaSearch(
        space=SPACES["focal"],
        metric=METRIC,
        mode="max",
        max_epochs=max_epochs,
        storage=storage,
        max_concurrent=max_concurrent,
    )
    s.set_search_properties(METRIC, "max", {})
    return s


def result(value: float, epoch: int) -> dict:
    return {METRIC: value, "epoch": epoch, "training_iteration": epoch}


def test_a_trial_stopped_early_is_told_to_optuna_as_pruned():
    s = searcher()
    s.suggest("stopped")
    s.on_trial_result("stopped", result(0.80, 1))
    s.on_trial_complete("stopped", result(0.90, 2))  # ASHA stopped it after 2 of 5 epochs
    s.suggest("finished")
    for epoch in range(1, 5):
        s.on_trial_result("finished", result(0.7, epoch))
    s.on_trial_complete("finished", result(0.85, 5))
    stopped, finished = s._ot_study.trials
    assert stopped.state == TrialState.PRUNED
    assert stopped.intermediate_values == {1: 0.80, 2: 0.90}  # the early values are kept
    assert stopped.user_attrs[f"best_{METRIC}"] == 0.90  # the leaderboard's score
    assert finished.state == TrialState.COMPLETE and finished.value == 0.85


def test_a_crashed_trial_is_still_a_failure():
    s = searcher()
    s.suggest("crashed")
    s.on_trial_complete("crashed", None, error=True)
    assert s._ot_study.trials[0].state == TrialState.FAIL


def test_a_trial_finished_in_the_study_is_not_told_twice():
    # after a driver crash Tune may re-run a trial the study already holds as finished
    s = searcher()
    s.suggest("rerun")
    s.on_trial_complete("rerun", result(0.9, 5))
    s._completed_trials.clear()  # the restored searcher snapshot predates the completion
    s.on_trial_result("rerun", result(0.8, 4))
    s.on_trial_complete("rerun", result(0.7, 5))
    (trial,) = s._ot_study.trials
    assert trial.state == TrialState.COMPLETE and trial.value == 0.9


def test_restore_fails_study_trials_the_snapshot_never_saw(tmp_path):
    storage = RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")  # outlives a crash
    s = searcher(storage=storage, max_concurrent=2)
    s.suggest("saved")
    s.save(str(tmp_path / "snapshot.pkl"))  # Tune's periodic searcher snapshot
    s.suggest("asked-after-the-snapshot")  # then the driver is killed
    restored = searcher(storage=RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}"))
    restored.restore(str(tmp_path / "snapshot.pkl"))
    saved, orphan = restored._ot_study.trials
    assert saved.state == TrialState.RUNNING  # Tune resumes this one
    assert orphan.state == TrialState.FAIL  # nobody will ever report this one


def test_a_finished_trial_is_told_its_best_epoch_and_where_it_lives():
    s = searcher(max_epochs=3)
    config = s.suggest("abc")
    for epoch, value in ((1, 0.7), (2, 0.95)):
        s.on_trial_result("abc", result(value, epoch))
    s.on_trial_complete("abc", result(0.9, 3))  # the last epoch is not the best
    (trial,) = s._ot_study.trials
    assert trial.value == 0.95  # as the leaderboard's score: the best epoch
    assert trial.intermediate_values == {1: 0.7, 2: 0.95, 3: 0.9}  # the last epoch too
    assert trial.user_attrs == {
        "tune_trial_id": "abc",
        "folder": f"trial_abc_{technique_label(config)}",  # as Tune names its folder
        f"best_{METRIC}": 0.95,
    }
    assert s._ot_study.metric_names == [METRIC]


def test_with_two_at_once_a_proposal_sees_the_trials_before_the_one_running_beside_it():
    s = PruningOptunaSearch(
        space=SPACES["focal"], metric=METRIC, mode="max", max_epochs=5,
        max_concurrent=2, num_samples=4,
    )  # fmt: skip
    s.set_search_properties(METRIC, "max", {})
    s.suggest("t0"), s.suggest("t1")
    s.on_trial_complete("t1", result(0.9, 5))  # the second one ends first
    assert s.suggest("t2") is None  # proposal 2 must see trial 0: Tune asks again later
    states = [t.state for t in s._ot_study.trials]
    assert states == [TrialState.RUNNING, TrialState.RUNNING]  # trial 1's outcome held back
    s.on_trial_complete("t0", result(0.8, 5))
    assert s.suggest("t2") is not None
    # proposal 2 was made from trial 0 alone; trial 1 is told once proposal 2 exists
    assert [t.state for t in s._ot_study.trials[:2]] == [TrialState.COMPLETE] * 2
    assert s.suggest("t3") is not None
    s.on_trial_complete("t3", result(0.7, 5))  # the last proposal is made: told at once
    assert s._ot_study.trials[3].state == TrialState.COMPLETE


def test_a_trial_past_the_last_rung_is_hidden_longer_instead_of_holding_a_slot_idle():
    from search.tune.optuna_search import LATE_LAG, Visibility

    seen = Visibility(concurrency=2, settle_epoch=3)
    seen.propose("long"), seen.propose("short")
    seen.end("short")  # stopped at a rung: proposal 2 must know what "long" is first
    assert not seen.ready()
    seen.report("long", 4)  # past the last rung: it runs its full budget
    assert seen.ready()  # proposal 2 hides it instead of waiting for its end
    for k in range(2, 2 + LATE_LAG):
        seen.propose(f"t{k}")
        seen.end(f"t{k}")
    assert seen.tellable() == ["short", "t2", "t3"]  # proposals from 5 on see these
    assert not seen.ready()  # proposal 5 = 0 + 2 + LATE_LAG must see "long": it waits
    seen.end("long")
    assert seen.ready() and seen.tellable()[0] == "long"
