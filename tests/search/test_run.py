"""The search end to end on small real runs, and its refusals of bad input."""

import json

import optuna
import pandas as pd
import pytest

from search.run import main


def search(tmp_path, *flags: str) -> int:
    return main(["--data", "synthetic", "--storage", str(tmp_path), *flags])


def test_a_small_search_writes_a_consistent_report(tmp_path, capsys):
    code = search(
        tmp_path,
        "--space",
        "full",
        "--name",
        "small",
        "--num-samples",
        "5",
        "--epochs",
        "3",
        "--grace-period",
        "1",
        "--seed",
        "1",
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "trial 5/5 done" in out and "best  validation" in out
    experiment = tmp_path / "small"

    board = pd.read_csv(experiment / "leaderboard.csv")
    assert len(board) == 5 and set(board["status"]) <= {"complete", "stopped"}
    assert (board["epochs_run"] <= 3).all()
    assert board["val_balanced_accuracy"].is_monotonic_decreasing  # sorted best first
    # the seed recipe was evaluated first (points_to_evaluate)
    seed_rows = board[
        (board["config/sampler"] == "oversample") & (board["config/loss"] == "weighted_ce")
    ]
    assert len(seed_rows) >= 1

    best = json.loads((experiment / "best.json").read_text())
    assert best["val"]["balanced_accuracy"] == pytest.approx(board["val_balanced_accuracy"][0])
    assert 0 <= best["threshold"] <= 1
    test = json.loads((experiment / "test_metrics.json").read_text())
    assert {"best", "seed_recipe"} <= set(test)
    assert {"balanced_accuracy", "balanced_accuracy_05", "roc_auc"} <= set(test["best"])

    # the study in the experiment folder agrees with the leaderboard, pruned included
    study = optuna.load_study(study_name="small", storage=f"sqlite:///{experiment}/optuna.db")
    states = [t.state.name for t in study.trials]
    assert states.count("PRUNED") == (board["status"] == "stopped").sum()
    assert states.count("COMPLETE") == (board["status"] == "complete").sum()

    # TensorBoard: an event file per trial, hparams written when each trial ended
    events = sorted(experiment.glob("trial_*/events.out.tfevents.*"))
    assert len(events) == 5
    assert all(b"hparams" in e.read_bytes() for e in events)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--space", "fancy"], "unknown space 'fancy'"),
        ([], "--space is required"),
        (["--space", "focal", "--num-samples", "0"], "--num-samples must be at least 1"),
        (["--space", "focal", "--epochs", "2", "--grace-period", "3"], "exceeds --epochs"),
        (["--space", "focal", "--name", "nothing", "--resume"], "no experiment at"),
        (["--space", "focal", "--gpus-per-trial", "1"], "GPU"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, flags, message):
    assert search(tmp_path, *flags) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
