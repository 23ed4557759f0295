"""Each trial's per-epoch curves in TensorBoard: the scores, not Tune's bookkeeping."""

from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from search.tune.callbacks import TrialCurves


class Trial:
    """What Tune's logger needs of a trial: a folder, and to be a key of its dicts."""

    def __init__(self, path: Path):
        self.local_path, self.evaluated_params = str(path), {"lr": 0.01}

    def init_local_path(self) -> None:
        pass


def test_the_curves_hold_the_scores_not_tunes_bookkeeping(tmp_path):
    trial = Trial(tmp_path)
    curves = TrialCurves()
    for epoch in (1, 2):
        result = {"epoch": epoch, "val_balanced_accuracy": 0.8 + epoch / 100, "train_loss": 0.3,
                  "training_iteration": epoch, "done": epoch == 2, "time_this_iter_s": 6.0,
                  "iterations_since_restore": epoch, "should_checkpoint": True}  # fmt: skip
        curves.log_trial_result(epoch, trial, result)
    curves.log_trial_end(trial)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == [
        "ray/tune/epoch", "ray/tune/train_loss", "ray/tune/val_balanced_accuracy"
    ]  # fmt: skip
    points = [(e.step, round(e.value, 2)) for e in events.Scalars("ray/tune/val_balanced_accuracy")]
    assert points == [(1, 0.81), (2, 0.82)]
