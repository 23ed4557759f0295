"""The console while a search runs: status lines with the running trials and a time bound,
and a line per finished trial with its id, status, score and key knobs."""

from types import SimpleNamespace

import optuna

import search.tune.progress
from search.tune.progress import PHASE_START_S, Progress, seconds_left

OBJECTIVE = "val_balanced_accuracy"


def trial(trial_id: str, **config) -> SimpleNamespace:
    """What Tune hands a callback: the trial's id, config, last result and running maxima."""
    return SimpleNamespace(
        trial_id=trial_id, config=config, last_result={}, metric_analysis={}, error_file="e.txt"
    )


def report(progress: Progress, t: SimpleNamespace, epoch: int, score: float) -> None:
    t.last_result = {"epoch": epoch, OBJECTIVE: score}
    t.metric_analysis = {
        OBJECTIVE: {"max": max(score, t.metric_analysis.get(OBJECTIVE, {}).get("max", 0))}
    }
    progress.on_trial_result(0, [], t, t.last_result)


def test_status_lines_name_running_trials_counts_and_an_upper_bound(capsys, tmp_path):
    progress = Progress(total=3, objective=OBJECTIVE, max_epochs=4, every_s=0)
    a, b = trial("a", loss="focal", sampler="none", aug_strength=0.3), trial("b", loss="ce")
    report(progress, a, 1, 0.80)
    report(progress, b, 1, 0.70)
    status = capsys.readouterr().out.splitlines()[-1]
    assert "running trial_a epoch 1/4 0.8000, trial_b epoch 1/4 0.7000" in status
    assert "0/3 done (0 complete, 0 stopped, 0 errored)" in status and "left" in status

    progress.on_trial_complete(0, [], b)  # ASHA stopped b after 1 of 4 epochs
    report(progress, a, 3, 0.95)
    report(progress, a, 4, 0.90)  # a's last epoch is not its best
    progress.on_trial_complete(0, [], a)
    failed = trial("c")
    failed.error_file = str(tmp_path / "error.txt")  # Tune's: the traceback, last line the cause
    (tmp_path / "error.txt").write_text(
        "Traceback (most recent call last):\n  ...\nOSError: [Errno 28] No space left on device\n"
    )
    progress.on_trial_error(0, [], failed)
    lines = capsys.readouterr().out.splitlines()
    assert (
        "trial 1/3 done: trial_b stopped after 1/4 epochs, val_balanced_accuracy 0.7000" in lines[0]
    )
    assert "(loss ce)" in lines[0]
    done_a = [line for line in lines if "trial_a complete after 4/4 epochs" in line]
    assert (
        len(done_a) == 1
        and "val_balanced_accuracy 0.9500 (last epoch 0.9000), best so far 0.9500 (loss focal, "
        "sampler none, aug_strength 0.3)"
        in done_a[0]
    )
    assert (
        f"trial 3/3 errored: trial_c: OSError: [Errno 28] No space left on device ({tmp_path}"
        in lines[-1]
    )


def test_the_time_left_is_the_whole_jobs_at_the_pace_so_far():
    # 12 search trials, 2 at a time, 10 s per trial-epoch: 4 ended after 2 epochs on average,
    # one running at epoch 1, one at 5 (past the mean: one more epoch), 6 not started
    search = seconds_left(
        epoch_s=10, running=[1, 5], unstarted=6, mean_epochs=2, max_epochs=10, concurrency=2,
        runs_after=(2, 4),
    )  # fmt: skip
    # (1 + 1 + 6 x 2 epochs) / 2 slots x 10 s, then 1 + 2 waves of 10 epochs, 3 phase starts
    assert search == 70 + 300 + 3 * PHASE_START_S
    # three members in one wave of two slots share them: 1.5 waves, not 2
    three = seconds_left(
        epoch_s=10, running=[], unstarted=0, mean_epochs=None, max_epochs=10, concurrency=2,
        runs_after=(3,),
    )  # fmt: skip
    assert three == 150 + 2 * PHASE_START_S
    # the last phase: one run left, alone in its slot, needs its own 6 epochs, not half of them
    members = seconds_left(
        epoch_s=10, running=[4], unstarted=0, mean_epochs=None, max_epochs=10, concurrency=2,
        runs_after=(),
    )  # fmt: skip
    assert members == 60 + PHASE_START_S


def test_the_pace_is_the_trials_own_epoch_time_not_the_phases_elapsed_time():
    progress = Progress(total=2, objective=OBJECTIVE, max_epochs=10, concurrency=2)
    a, b = trial("a"), trial("b")
    progress.on_trial_result(0, [], a, {"epoch": 2, OBJECTIVE: 0.8, "time_this_iter_s": 40.0})
    progress.on_trial_result(0, [], b, {"epoch": 1, OBJECTIVE: 0.7, "time_this_iter_s": 20.0})
    progress.on_trial_result(0, [], a, {"epoch": 4, OBJECTIVE: 0.9, "time_this_iter_s": 38.0})
    # per epoch: 20, 20, 19 s (a reports every second epoch); median 20 s, however long the
    # phase took to start. a has 6 epochs to go, b 9: 15 / 2 slots, at least b's 9: 9 x 20 s
    assert progress.epoch_seconds == [20.0, 20.0, 19.0]
    assert progress.time_left() == "about 3 min left in all"  # 190 s
    progress.latest = {"a": (10, 0.9), "b": (9, 0.8)}  # one epoch each to go: 20 s + 10 s
    assert progress.time_left() == "under a minute left in all"
    assert Progress(total=2, objective=OBJECTIVE, max_epochs=10).time_left() == (
        "time left unknown yet"
    )


def test_every_phase_reads_one_clock_from_the_job_start(monkeypatch):
    monkeypatch.setattr(search.tune.progress, "JOB_STARTED", 1000.0)
    trials = Progress(total=12, objective=OBJECTIVE, max_epochs=10)
    references = Progress(total=2, objective=OBJECTIVE, max_epochs=10, phase="reference")
    assert trials._clock(1500.0) == references._clock(1500.0) == "[    500s]"
    references.epoch_seconds = [20.0]
    assert references.time_left().endswith("left in all")


def test_a_finished_trial_is_named_by_its_optuna_number_as_the_dashboard_shows(capsys):
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="s")
    for tune_id in ("x", "b"):  # Optuna's #0 and #1
        study.ask().set_user_attr("tune_trial_id", tune_id)
    progress = Progress(total=2, objective=OBJECTIVE, max_epochs=4, study=(storage, "s"))
    b, reference = trial("b"), trial("baseline")
    report(progress, b, 4, 0.9)
    progress.on_trial_complete(0, [], b)
    report(progress, reference, 4, 0.8)  # not in the study: no number
    progress.on_trial_complete(0, [], reference)
    done = capsys.readouterr().out.splitlines()
    assert "trial_b (Optuna #1) complete after 4/4 epochs" in done[0]
    assert "trial_baseline complete after 4/4 epochs" in done[1]


def test_start_points_run_their_budget_and_say_nothing_of_how_long_the_others_run():
    point = {"gamma": 0.0, "alpha": 0.5}
    progress = Progress(
        total=6, objective=OBJECTIVE, max_epochs=10, concurrency=2, start_points={"baseline": point}
    )
    start, other = trial("start"), trial("other")
    start.config, other.config = dict(point), {"gamma": 2.0, "alpha": 0.5}
    for t in (start, other):
        progress.on_trial_result(0, [], t, {"epoch": 1, OBJECTIVE: 0.8, "time_this_iter_s": 10.0})
    progress.latest.pop("trial_other")  # by folder, as the console names it
    other.last_result = {"epoch": 1, OBJECTIVE: 0.8}
    progress.on_trial_complete(0, [], other)  # ASHA stopped it at epoch 1
    # the start point runs its 9 epochs left; the 4 unstarted trials are as long as the one
    # judged trial (1 epoch), not the start point's 10: max(9 + 4, 9) / 2 ... at least 9 epochs
    assert progress.ended_judged == 1 and progress.full_budget == {"trial_start"}
    assert progress.time_left() == "about 2 min left in all"  # 9 x 10 s + phase start
