"""The console while a search runs: status lines with the running trials and a time bound,
and a line per finished trial with its id, status, score and key knobs."""

from types import SimpleNamespace

import search.progress
from search.progress import Progress

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


def test_status_lines_name_running_trials_counts_and_an_upper_bound(capsys):
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
    progress.on_trial_error(0, [], trial("c"))
    lines = capsys.readouterr().out.splitlines()
    assert (
        "trial 1/3 done: trial_b stopped after 1/4 epochs, val_balanced_accuracy 0.7000" in lines[0]
    )
    assert "(loss ce)" in lines[0]
    done_a = [line for line in lines if "trial_a complete after 4/4 epochs" in line]
    assert (
        len(done_a) == 1
        and "val_balanced_accuracy 0.9500 (last epoch 0.9000), best so far 0.9500 (loss focal, "
        "sampler none, aug_strength 0.30)"
        in done_a[0]
    )
    assert "trial 3/3 errored: trial_c (e.txt)" in lines[-1]


def test_the_time_left_bound_is_the_unfinished_budget_at_the_pace_so_far():
    progress = Progress(total=2, objective=OBJECTIVE, max_epochs=10)
    progress.started, progress.epochs_seen = 0.0, 6  # 6 epochs in the first 60 s
    progress.latest = {"a": (4, 0.9), "b": (2, 0.8)}
    # (2 trials x 10 epochs - 6 done) at 0.1 epoch/s: 140 s, at most 3 minutes
    assert progress.time_left(60.0) == "at most 3 min left of the trials"
    progress.latest = {"a": (10, 0.9), "b": (9, 0.8)}  # one epoch to go: 10 s
    assert progress.time_left(60.0) == "under a minute left of the trials"


def test_every_phase_reads_one_clock_from_the_job_start(monkeypatch):
    monkeypatch.setattr(search.progress, "JOB_STARTED", 1000.0)
    trials = Progress(total=12, objective=OBJECTIVE, max_epochs=10)
    references = Progress(total=2, objective=OBJECTIVE, max_epochs=10, phase="reference")
    trials.started, references.started = 1000.0, 1400.0  # the references began 400 s later
    assert trials._clock(1500.0) == references._clock(1500.0) == "[    500s]"
    references.epochs_seen = 1
    assert references.time_left(1500.0).endswith("left of the references")
