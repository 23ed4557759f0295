"""The search end to end on small real runs, and its refusals of bad input."""

import json

import optuna
import pandas as pd
import pytest

from search.run import main


def search(storage, flags: str) -> int:
    return main(["--data", "synthetic", "--storage", str(storage), *flags.split()])


@pytest.mark.slow
def test_a_small_search_writes_a_consistent_report(tmp_path, capsys):
    flags = "--space full --name small --num-samples 5 --epochs 3 --grace-period 1 --seed 1"
    code = search(tmp_path, flags)
    assert code == 0
    out = capsys.readouterr().out
    assert "trial 5/5 done" in out and "best trial  val" in out and "seed recipe  test" in out
    assert out.count("answer: the mean of the top 5 trials") == 1
    assert "vs baseline: test" in out and "vs seed recipe: test" in out
    experiment = tmp_path / "small"

    board = pd.read_csv(experiment / "leaderboard.csv")
    search_rows = board[board["role"] == "search"]
    assert len(search_rows) == 5 and set(search_rows["status"]) <= {"complete", "stopped"}
    assert (search_rows["epochs_run"] <= 3).all()
    assert search_rows["val_balanced_accuracy"].is_monotonic_decreasing  # best first
    assert "val_robust_balanced_accuracy" in board  # both objectives for every trial
    # the seed recipe was the search's first trial (points_to_evaluate) ...
    seeded = search_rows[
        (search_rows["config/sampler"] == "oversample")
        & (search_rows["config/loss"] == "weighted_ce")
    ]
    assert len(seeded) >= 1
    # ... and both references were trained for every epoch beside it
    references = board[board["role"].isin(["baseline", "seed_recipe"])].set_index("role")
    assert set(board["role"]) - {"member_full_run"} == {"search", "baseline", "seed_recipe"}
    assert sorted(references.index) == ["baseline", "seed_recipe"]
    assert (references["epochs_run"] == 3).all()
    assert references.loc["baseline", "config/aug_strength"] == 0.0

    best = json.loads((experiment / "best.json").read_text())
    assert best["objective"] == "val_balanced_accuracy"
    single = best["best_trial"]
    assert single["trial_id"] == search_rows["trial_id"].iloc[0]
    assert single["val"]["balanced_accuracy"] == pytest.approx(
        search_rows["val_balanced_accuracy"].iloc[0]
    )
    assert 0 <= single["threshold"] <= 1
    # the answer: the leaderboard's top 5 trials, each at the full budget: a trial ASHA
    # stopped is stood in for by its config's full run (members/), matched by config
    members = best["answer"]["members"]
    assert [m["search_trial"] for m in members] == list(search_rows["trial_id"].iloc[:5])
    full_runs = board[board["role"] == "member_full_run"].set_index("trial_id")
    assert len(full_runs) == (search_rows["status"] == "stopped").sum()
    assert (full_runs["epochs_run"] == 3).all()
    by_id = search_rows.set_index("trial_id")
    for m in members:
        if by_id.loc[m["search_trial"], "status"] == "complete":
            assert m["trial_id"] == m["search_trial"]
        else:
            assert (experiment / "members" / m["trial_id"]).is_dir()
            knobs = full_runs.loc[m["trial_id"], [f"config/{k}" for k in ("lr", "loss")]]
            assert list(knobs) == list(by_id.loc[m["search_trial"], knobs.index])
    assert 0 <= best["answer"]["threshold"] <= 1
    test = json.loads((experiment / "test_metrics.json").read_text())
    assert {"answer", "best_trial", "baseline", "seed_recipe", "verdict"} <= set(test)
    for entry in (test["answer"], test["best_trial"], test["baseline"], test["seed_recipe"]):
        assert {"balanced_accuracy", "balanced_accuracy_05", "roc_auc"} <= set(entry["test"])
        assert entry["val_test_gap"] == pytest.approx(
            entry["val"]["balanced_accuracy"] - entry["test"]["balanced_accuracy"]
        )
    # the verdict is the margin of the answer over each reference, split by split
    for ref in ("baseline", "seed_recipe"):
        v = test["verdict"][ref]
        answer, reference = test["answer"]["test"], test[ref]["test"]
        margin = answer["balanced_accuracy"] - reference["balanced_accuracy"]
        assert v["test_margin"] == pytest.approx(margin)
        assert v["beats_on_test"] == (margin > 0)
        assert v["beats_on_val"] == (v["val_margin"] > test["verdict"]["one_validation_image"])

    # the study in the experiment folder agrees with the leaderboard, pruned included
    study = optuna.load_study(study_name="small", storage=f"sqlite:///{experiment}/optuna.db")
    states = [t.state.name for t in study.trials]
    assert states.count("PRUNED") == (search_rows["status"] == "stopped").sum()
    assert states.count("COMPLETE") == (search_rows["status"] == "complete").sum()

    # TensorBoard: an event file per trial with hparams, and the best model's curves
    events = sorted(experiment.glob("trial_*/events.out.tfevents.*"))
    assert len(events) == 5
    assert all(b"hparams" in e.read_bytes() for e in events)
    best_model = b"".join(e.read_bytes() for e in (experiment / "best_model").glob("events*"))
    assert b"test/pr_curve" in best_model and b"test/confusion_matrix" in best_model
    for picture in ("roc_pr.png", "knobs.png"):
        assert (experiment / picture).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_robust_objective_and_confirm_with_storage_given_as_a_uri(tmp_path, capsys, monkeypatch):
    # A URI (s3://, gs://, file://) is where a cluster keeps trials; the report then goes to
    # ./results/<name> beside the driver.
    monkeypatch.chdir(tmp_path)
    bucket = (tmp_path / "bucket").as_uri()
    flags = "--space augment --name robust --num-samples 2 --epochs 2 --sampler random"
    assert search(bucket, f"{flags} --scheduler none --objective robust --confirm 1") == 0
    assert (tmp_path / "bucket" / "robust" / "tuner.pkl").exists()
    assert len(list((tmp_path / "bucket" / "robust" / "confirm").glob("trial_*"))) == 3
    experiment = tmp_path / "results" / "robust"
    best = json.loads((experiment / "best.json").read_text())
    assert best["objective"] == "val_robust_balanced_accuracy"
    board = pd.read_csv(experiment / "leaderboard.csv")
    search_rows = board[board["role"] == "search"]
    assert search_rows["val_robust_balanced_accuracy"].is_monotonic_decreasing
    assert (search_rows["epochs_run"] == 2).all()  # --scheduler none: nothing stopped early
    assert (board["peak_rss_mb"] > 50).all()  # each trial's process, torch loaded
    confirm = pd.read_csv(experiment / "confirm.csv")
    assert sorted(confirm["seed"]) == [1, 2, 3] and (confirm["rank"] == 1).all()
    summary = json.loads((experiment / "confirm.json").read_text())["1"]
    assert summary["test_balanced_accuracy"]["mean"] == pytest.approx(
        confirm["test_balanced_accuracy"].mean()
    )
    out = capsys.readouterr().out
    assert "confirm: top configs retrained" in out and "driver peak memory" in out


@pytest.mark.parametrize(
    "flags, message",
    [
        ("--space fancy", "unknown space 'fancy'"),
        ("", "--space is required"),
        ("--space focal --num-samples 0", "--num-samples must be at least 1"),
        ("--space focal --epochs 2 --grace-period 3", "exceeds --epochs"),
        ("--space focal --name nothing --resume", "no experiment at"),
        ("--space focal --gpus-per-trial 1", "GPU"),
        ("--space focal --cpus-per-trial 100", "--cpus-per-trial 100 but this machine has"),
        ("--space focal --address 127.0.0.1:1", "cannot reach a Ray cluster"),
        ("--space focal --address nonsense", "cannot reach a Ray cluster"),
        ("--space focal --max-failures -1", "--max-failures must be at least 0"),
        ("--space focal --cpus-per-trial 0", "--cpus-per-trial must be > 0"),
        ("--space focal --train-subsample 1", "--train-subsample must be at least 2"),
        ("--space focal --train-subsample 480", "--train-subsample must leave"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, flags, message):
    assert search(tmp_path, flags) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_storage_that_cannot_be_written_is_refused_before_anything_runs(tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    assert search(tmp_path / "a_file" / "results", "--space focal") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot write results under") and "\n" not in err
    assert (tmp_path / "a_file").read_text() == "not a folder"  # nothing touched


def test_data_without_a_test_split_is_refused_before_anything_trains(tmp_path, capsys):
    import shutil

    from datasets import CHEST_XRAY

    for cls in ("NORMAL", "PNEUMONIA"):  # real Kermany images, train/ only
        (tmp_path / "no_test" / "train" / cls).mkdir(parents=True)
        for f in sorted((CHEST_XRAY / "train" / cls).iterdir())[:30]:
            shutil.copy2(f, tmp_path / "no_test" / "train" / cls / f.name)
    code = main(
        [
            "--space",
            "focal",
            "--data",
            str(tmp_path / "no_test"),
            "--size",
            "28",
            "--storage",
            str(tmp_path / "results"),
            "--name",
            "x",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "has no test split" in err and "\n" not in err
    assert not (tmp_path / "results" / "x" / "tuner.pkl").exists()  # nothing trained
