"""The search end to end on small real runs, and its refusals of bad input."""

import json
import shutil
import wsgiref.util
from pathlib import Path

import optuna
import optuna_dashboard
import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import backend_context
from tensorboard.plugins.hparams.api_pb2 import Status
from tensorboard.plugins.hparams.metadata import (
    EXPERIMENT_TAG,
    SESSION_END_INFO_TAG,
    SESSION_START_INFO_TAG,
)
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from search.answer.rules import UNJUDGED, extra_seed
from search.outputs.board import SHOWN_FIRST
from search.run import main
from search.stats.intervals import judge

pytestmark = pytest.mark.integration  # Ray and real data


def search(storage, flags: str) -> int:
    return main(["--data", "synthetic", "--storage", str(storage), *flags.split()])


@pytest.mark.slow
def test_a_small_search_writes_a_consistent_report(small_search):
    experiment, out = small_search
    assert "trial 5/5 done" in out and "best trial  val" in out and "seed recipe  test" in out
    assert out.count("answer: the mean of ") == 1
    assert "vs baseline: test" in out and "vs seed recipe: test" in out

    board = pd.read_csv(experiment / "leaderboard.csv")
    # the search's 5 trials (an Optuna number each): its first two are the references written
    # in the space's knobs, trained for every epoch (ASHA never stops a start point) and named
    # by their role; the job trained no reference again
    trials = board[board["optuna_trial"].notna()]
    assert sorted(trials["optuna_trial"]) == [0, 1, 2, 3, 4]
    assert set(trials["status"]) <= {"complete", "stopped"}
    references = board[board["role"].isin(["baseline", "seed_recipe"])].set_index("role")
    assert sorted(references.index) == ["baseline", "seed_recipe"]
    assert sorted(references["optuna_trial"]) == [0, 1]
    assert (references["epochs_run"] == 3).all()
    assert references.loc["baseline", "config/aug_strength"] == 0.0
    assert references.loc["baseline", "config/loss"] == "ce"
    assert references.loc["seed_recipe", "config/loss"] == "weighted_ce"
    assert references.loc["seed_recipe", "config/sampler"] == "oversample"
    assert not (experiment / "references").exists()
    assert "reference baseline: the search's start point" in out
    search_rows = board[board["role"] == "search"]
    assert len(search_rows) == 3 and (search_rows["epochs_run"] <= 3).all()
    assert search_rows["val_balanced_accuracy"].is_monotonic_decreasing  # best first
    # the perturbed-validation score is a second validation pass: only `--objective robust`
    assert "val_robust_balanced_accuracy" not in board
    members_roles = {"member_full_run", "member_seed"}
    assert set(board["role"]) - members_roles == {"search", "baseline", "seed_recipe"}
    trials = trials.sort_values(["val_balanced_accuracy", "trial_id"], ascending=[False, True])

    best = json.loads((experiment / "best.json").read_text())
    assert best["objective"] == "val_balanced_accuracy"
    single = best["best_trial"]
    assert single["trial_id"] == trials["trial_id"].iloc[0]
    assert single["val"]["balanced_accuracy"] == pytest.approx(
        trials["val_balanced_accuracy"].iloc[0]
    )
    assert 0 <= single["threshold"] <= 1
    # the plan: good trials (within one validation image of the best and of the references)
    # that ASHA stopped, trained in full, and new seeds of them up to three (members/), each
    # run matched to its good trial by config
    test = json.loads((experiment / "test_metrics.json").read_text())
    image = test["verdict"]["one_validation_image"]
    floor = trials["val_balanced_accuracy"].iloc[0] - image - 1e-9
    by_id = trials.set_index("trial_id")
    good = [t for t in trials["trial_id"] if by_id.loc[t, "val_balanced_accuracy"] >= floor]
    good = (good or [trials["trial_id"].iloc[0]])[:3]
    runs = board[board["role"].isin(members_roles)].set_index("trial_id")
    stopped = sum(by_id.loc[t, "status"] == "stopped" for t in good)
    planned = stopped + 3 - len(good)
    # trained in waves of two; a wave that adds no model to the answer ends them
    assert len(runs) == planned or (
        len(runs) < planned and f"the plan's other {planned - len(runs)} are not trained" in out
    )
    assert (runs["epochs_run"] == 3).all()
    knobs = [f"config/{k}" for k in ("lr", "loss", "sampler", "aug_strength")]
    good_knobs = [list(by_id.loc[t, knobs]) for t in good]
    for trial_id, run in runs.iterrows():
        assert len(list(experiment.glob(f"members*/{trial_id}"))) == 1  # in its wave's folder
        source = by_id.loc[good[good_knobs.index(list(run[knobs]))]]
        new_seed = run["config/seed"] != source["config/seed"]
        assert run["role"] == ("member_seed" if new_seed else "member_full_run")
    # the answer: every model trained for the full budget (search trials run to the end, the
    # plan's runs, the references) within one validation image of the best of them, at most
    # five, best first (ties: folder name)
    members = best["answer"]["members"]
    full = board[board["status"] == "complete"].sort_values(
        ["val_balanced_accuracy", "trial_id"], ascending=[False, True]
    )
    top = full["val_balanced_accuracy"].iloc[0]
    chosen = full[full["val_balanced_accuracy"] >= top - image - 1e-9][:5]
    assert [m["trial_id"] for m in members] == list(chosen["trial_id"])
    # the leaderboard's in_answer column is best.json's members, and says why of the others
    assert sorted(board.loc[board["in_answer"], "trial_id"]) == sorted(chosen["trial_id"])
    assert (board.loc[board["in_answer"], "why_not_in_answer"].fillna("") == "").all()
    assert (board.loc[~board["in_answer"], "why_not_in_answer"].str.len() > 0).all()
    kind_of_role = {"member_full_run": "full_run", "member_seed": "new_seed"}
    for m, role in zip(members, chosen["role"], strict=True):
        assert m["kind"] == kind_of_role.get(role, role)
        if m["kind"] in ("full_run", "new_seed"):
            assert m["search_trial"] in good
        else:
            assert m["search_trial"] == m["trial_id"]
    assert test["verdict"]["answer_models"] == len(members)
    assert f"answer: the mean of {len(members)} model(s) in logit space" in out
    for ref in ("baseline", "seed_recipe"):
        level = references.loc[ref, "val_balanced_accuracy"]
        reaching = (search_rows["val_balanced_accuracy"] >= level - 1e-9).sum()
        assert test["verdict"][ref]["trials_reaching_it"] == reaching
    assert 0 <= best["answer"]["threshold"] <= 1
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
        # its 95% interval, paired over the test images, widened by the spread between
        # seeds of the configs the job trained more than once, and the word it earns
        low, high = v["test_margin_interval_images"]
        assert low <= high
        if test["verdict"]["seed_spread"] is None:
            assert v["on_test"] == UNJUDGED and v["test_margin_interval"] is None
            assert f"95% CI over test images only {low:+.4f} to {high:+.4f}" in out
        else:
            low, high = v["test_margin_interval"]
            assert v["on_test"] == judge(low, high)
            assert f"training seeds {low:+.4f} to {high:+.4f}: {v['on_test']}" in out
        assert v["beats_on_test"] == (v["on_test"] == "better")
    spread = test["verdict"]["seed_spread"]
    if (board["role"] == "member_seed").any():  # a new seed and the run of its trial: one config
        assert spread is not None and spread["df"] >= 1
    if spread:
        assert f"moves by sd {spread['sd']:.4f} between training seeds" in out
    for entry in (test["answer"], test["best_trial"], test["baseline"], test["seed_recipe"]):
        low, high = entry["test_intervals"]["balanced_accuracy"]
        assert 0 <= low <= high <= 1
        image = test["verdict"]["one_validation_image"]
        assert v["ahead_on_val_in_sample"] == (v["val_margin"] > image)

    # every checkpoint the experiment names is relative to it (it may be copied or moved)
    for entry in (test["best_trial"], test["baseline"], *test["answer"]["members"]):
        assert not Path(entry["checkpoint"]).is_absolute()
        assert (experiment / entry["checkpoint"]).is_dir()

    # the technique finding comes first, on the console, in the model card and in TensorBoard
    finding = test["technique_finding"]
    assert f"finding: {finding['sentence']}" in out
    assert out.index("finding: ") < out.index("answer: the mean of")
    card = (experiment / "MODEL_CARD.md").read_text()
    assert finding["sentence"] in card and finding["answer_is"] in card
    assert card.index("## What worked") < card.index("## Data")
    # every search trial (the references' start points among them) in one family each
    techniques = [f for f in finding["families"] if f["axis"] == "technique"]
    assert sum(f["trials"] for f in techniques) == len(trials)
    for f in finding["families"]:
        rows = board[board["trial_id"] == f["best"]]
        assert rows["val_balanced_accuracy"].iloc[0] == pytest.approx(f["val"])
    texts = EventAccumulator(str(experiment / "answer"), size_guidance={"tensors": 0})
    texts.Reload()
    shown = texts.Tensors("technique_finding/text_summary")[0].tensor_proto.string_val[0]
    assert finding["sentence"] in shown.decode()

    # the study in the experiment folder agrees with the leaderboard, pruned included
    study = optuna.load_study(study_name="small", storage=f"sqlite:///{experiment}/optuna.db")
    states = [t.state.name for t in study.trials]
    assert states.count("PRUNED") == (trials["status"] == "stopped").sum()
    assert states.count("COMPLETE") == (trials["status"] == "complete").sum()

    # TensorBoard: the best model's curves
    answer = b"".join(e.read_bytes() for e in (experiment / "answer").glob("events*"))
    assert b"test/pr_curve" in answer and b"test/confusion_matrix" in answer
    for ref in ("baseline", "seed_recipe"):  # the PR Curves tab lays the references over it
        folder = experiment / str(references.loc[ref, "trial_id"])
        curves = b"".join(e.read_bytes() for e in folder.glob("events*.pr_curve"))
        assert b"test/pr_curve" in curves
    # the answer's probabilities calibrated by one temperature fitted on validation
    calibration = test["answer"]["calibration"]
    assert calibration["temperature"] == best["answer"]["temperature"] > 0
    for split in ("val", "test"):
        figures = calibration[split]
        assert 0 <= figures["ece"] <= 1 and 0 <= figures["brier"] <= 1
        assert {"ece", "brier"} <= set(test["baseline"]["calibration"][split])
    # the model card: counts, members and test figures with their bootstrap intervals
    card = (experiment / "MODEL_CARD.md").read_text()
    assert (
        f"## Test results ({sum(test['answer']['confusion']['test']['class_counts'])} images"
        in card
    )
    row = next(line for line in card.splitlines() if line.startswith("| balanced accuracy |"))
    value, low, high = (float(x) for x in row.replace("-", "|").split("|")[2:5])
    assert value == pytest.approx(test["answer"]["test"]["balanced_accuracy"], abs=1e-4)
    assert low <= value <= high
    assert sum(line.startswith("| trial_") for line in card.splitlines()) == len(members)
    for picture in ("roc_pr.png", "knobs.png", "calibration.png", "confusion.png", "history.png"):
        assert (experiment / picture).read_bytes()[:4] == b"\x89PNG"


def hparams_of(run: Path) -> tuple[dict, float | None, str]:
    """What TensorBoard's HParams tab shows for one run: its hparams, its score
    (leaderboard/val_balanced_accuracy) and how its session ended."""
    events = EventAccumulator(str(run))
    events.Reload()
    content = events.PluginTagToContent("hparams")
    start = HParamsPluginData.FromString(content[SESSION_START_INFO_TAG]).session_start_info
    end = HParamsPluginData.FromString(content[SESSION_END_INFO_TAG]).session_end_info
    params = {k: v.string_value or v.number_value for k, v in start.hparams.items()}
    scores = [e.value for e in events.Scalars("leaderboard/val_balanced_accuracy")]
    return params, scores[-1] if scores else None, Status.Name(end.status)


@pytest.mark.slow
def test_tensorboard_optuna_and_the_leaderboard_tell_one_truth(small_search):
    experiment, _ = small_search
    board = pd.read_csv(experiment / "leaderboard.csv")
    study = optuna.load_study(study_name="small", storage=f"sqlite:///{experiment}/optuna.db")
    assert study.metric_names == ["val_balanced_accuracy"]
    by_number = {t.number: t for t in study.trials}
    for row in board.to_dict("records"):
        searched = pd.notna(row["optuna_trial"])  # a search trial, the references' start points too
        where = "." if searched else {"member_full_run": "members*", "member_seed": "members*"}
        where = where if searched else where.get(row["role"], "references")
        [run] = experiment.glob(f"{where}/{row['trial_id']}")
        params, score, ended = hparams_of(run)
        # HParams: the leaderboard's score (the best epoch's), status, role and integer knobs
        assert score == pytest.approx(row["val_balanced_accuracy"], abs=1e-6)
        assert (params["status"], params["role"]) == (row["status"], row["role"])
        assert params["best_epoch"] == str(row["best_epoch"]) and ended == "STATUS_SUCCESS"
        assert params["batch_size"] == str(row["config/batch_size"])  # 128, not 128.00
        if not searched:
            continue
        # Optuna: the same trial, found by number; complete <-> COMPLETE with the same
        # score, stopped <-> PRUNED
        trial = by_number[row["optuna_trial"]]
        assert trial.user_attrs["folder"] == row["trial_id"]
        assert trial.user_attrs["best_val_balanced_accuracy"] == pytest.approx(
            row["val_balanced_accuracy"]
        )  # on PRUNED trials too, whose Optuna value is their last epoch's
        if row["status"] == "complete":
            assert trial.state.name == "COMPLETE"
            assert trial.value == pytest.approx(row["val_balanced_accuracy"])
        else:
            assert trial.state.name == "PRUNED"
        assert row["run_time_s"] > 0
    # the five hparams the tab shows before the reader ticks more, in TensorBoard's own order
    events = EventAccumulator(str(experiment))
    events.Reload()
    content = events.PluginTagToContent("hparams")[EXPERIMENT_TAG]
    shown = HParamsPluginData.FromString(content).experiment
    backend_context._sort_and_reduce_to_hparams_limit(shown, 5)
    assert [info.name for info in shown.hparam_infos] == list(SHOWN_FIRST)
    # best.json and test_metrics.json describe the same epoch as the leaderboard
    best = json.loads((experiment / "best.json").read_text())["best_trial"]
    top = board[board["optuna_trial"].notna()]
    top = top.sort_values(["val_balanced_accuracy", "trial_id"], ascending=[False, True]).iloc[0]
    assert best["epoch"] == top["best_epoch"]
    assert best["threshold"] == pytest.approx(top["val_threshold"])
    assert best["checkpoint"].endswith(f"checkpoint_{top['best_epoch'] - 1:06d}")


def dashboard_study(experiment: Path) -> dict:
    """What optuna-dashboard's server sends the browser for the experiment's study."""
    app = optuna_dashboard.wsgi(f"sqlite:///{experiment}/optuna.db")
    request = {"PATH_INFO": "/api/studies/1"}
    wsgiref.util.setup_testing_defaults(request)  # a GET as a browser's would arrive
    reply = app(request, lambda status, headers, exc_info=None: None)
    return json.loads(b"".join(reply))


@pytest.mark.slow
def test_optuna_dashboard_lists_the_trials_the_leaderboard_has(small_search):
    experiment, _ = small_search
    study = dashboard_study(experiment)
    assert study["objective_names"] == ["val_balanced_accuracy"]
    shown = {t["number"]: t for t in study["trials"]}
    board = pd.read_csv(experiment / "leaderboard.csv")
    for row in board[board["optuna_trial"].notna()].to_dict("records"):
        trial = shown[row["optuna_trial"]]
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert attrs["folder"] == row["trial_id"]
        score = float(attrs["best_val_balanced_accuracy"])  # on every trial's page, pruned too
        assert score == pytest.approx(row["val_balanced_accuracy"])
        if row["status"] == "complete":
            assert trial["state"] == "Complete"
            assert trial["values"] == [pytest.approx(row["val_balanced_accuracy"])]
        else:
            assert trial["state"] == "Pruned"


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
    assert sorted(confirm["seed"]) == [extra_seed(0, k) for k in (1, 2, 3)]
    assert (confirm["rank"] == 1).all()
    summary = json.loads((experiment / "confirm.json").read_text())["ranks"]["1"]
    assert summary["test_balanced_accuracy"]["mean"] == pytest.approx(
        confirm["test_balanced_accuracy"].mean()
    )
    out = capsys.readouterr().out
    assert "confirm: top configs retrained" in out and "driver peak memory" in out


@pytest.mark.slow
def test_a_search_for_specificity_at_a_fixed_sensitivity_runs_end_to_end(tmp_path, capsys):
    flags = "--space focal --name screen --num-samples 3 --objective spec@sens=0.975"
    # validating every 2nd epoch: ASHA judges trials at the epochs they report
    flags += " --epochs 4 --eval-every 2 --grace-period 2"
    assert search(tmp_path, flags) == 0
    metric = "val_specificity_at_sensitivity_0.975"
    board = pd.read_csv(tmp_path / "screen" / "leaderboard.csv")
    search_rows = board[board["role"] == "search"]
    assert search_rows[metric].is_monotonic_decreasing  # ranked by the operating point
    assert set(board["best_epoch"]) <= {2, 4} and set(board["epochs_run"]) <= {2, 4}
    assert (board[board["role"] != "search"]["epochs_run"] == 4).all()
    assert json.loads((tmp_path / "screen" / "best.json").read_text())["objective"] == metric
    test = json.loads((tmp_path / "screen" / "test_metrics.json").read_text())
    for name in ("answer", "baseline", "seed_recipe"):
        points = test[name]["operating_points"]
        assert set(points["val"]) == {"0.9", "0.95", "0.99", "0.975"}
        assert points["val"]["0.975"]["sensitivity"] >= 0.975  # reached on validation
        assert points["test"]["0.975"]["cut"] == points["val"]["0.975"]["cut"]  # then applied
    assert "sens / spec where" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags, message",
    [
        ("--space fancy", "unknown space 'fancy'"),
        ("", "--space is required"),
        ("--space focal --num-samples 0", "--num-samples must be at least 1"),
        ("--space focal --eval-every 0", "--eval-every must be at least 1"),
        ("--space focal --epochs 2 --grace-period 3", "exceeds --epochs"),
        ("--space focal --name nothing --resume", "no experiment at"),
        ("--space focal --gpus-per-trial 1", "GPU"),
        ("--space focal --cpus-per-trial 100", "--cpus-per-trial 100 but this machine has"),
        ("--space focal --address 127.0.0.1:1", "cannot reach a Ray cluster"),
        ("--space focal --address nonsense", "cannot reach a Ray cluster"),
        ("--space focal --max-failures -1", "--max-failures must be at least 0"),
        ("--space focal --cpus-per-trial 0", "--cpus-per-trial must be a number > 0"),
        ("--space focal --gpus-per-trial nan", "--gpus-per-trial a number >= 0; got 1.0 and nan"),
        ("--space focal --cpus-per-trial inf", "--cpus-per-trial must be a number > 0"),
        ("--space focal --train-subsample 1", "--train-subsample must be at least 2"),
        ("--space focal --train-subsample 480", "--train-subsample must leave"),
        ("--space focal --val-fraction 0.9", "--val-fraction must be in [0.02, 0.5]"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, flags, message):
    assert search(tmp_path, flags) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


@pytest.mark.parametrize(
    "flags, message",
    [
        ("--space focal --epochs 1001", "--epochs must be at most 1000; got 1001"),
        ("--space focal --eval-every 1001", "--eval-every must be at most 1000"),
        ("--space focal --data /no/such/file.npz", "data not found: /no/such/file.npz"),
    ],
)
def test_input_refused_before_the_search_leaves_no_folder(tmp_path, capsys, flags, message):
    # --epochs 1001 once ran the whole search and was refused at the references; data that
    # could not be read left an empty experiment folder
    argv = [*flags.split(), "--storage", str(tmp_path / "results"), "--name", "x"]
    assert main(argv if "--data" in flags else [*argv, "--data", "synthetic"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "results").exists()


def test_a_resource_refusal_writes_no_search_record(tmp_path, capsys):
    # search.json was written first, so the experiment looked begun to a corrected rerun
    assert search(tmp_path, "--space focal --name x --cpus-per-trial 100") == 2
    assert "--cpus-per-trial 100 but this machine has" in capsys.readouterr().err
    assert not (tmp_path / "x" / "search.json").exists()


def test_storage_that_cannot_be_written_is_refused_before_anything_runs(tmp_path, capsys):
    (tmp_path / "a_file").write_text("not a folder")
    assert search(tmp_path / "a_file" / "results", "--space focal") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot write results under") and "\n" not in err
    assert (tmp_path / "a_file").read_text() == "not a folder"  # nothing touched


def test_a_disk_without_room_for_the_checkpoints_is_refused_before_anything_is_written(
    tmp_path, capsys, monkeypatch
):
    # a search that filled the disk printed hundreds of lines of Ray, Optuna and SQLite
    # tracebacks; a resume on a full disk cut Tune's state files to nothing
    from search.tune import preflight

    usage = shutil.disk_usage(tmp_path)
    tight = usage._replace(free=2 * 2**20)  # 2 MiB left: a small partition, nearly full
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: tight)
    assert search(tmp_path, "--space focal --name x --data synthetic") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {tmp_path} has 2.0 MiB free and this search (17 runs)")
    assert err.endswith("free space there or choose another --storage") and "\n" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written, not even search.json


def test_a_disk_that_fills_during_the_search_is_named_not_a_traceback():
    import sqlite3

    import optuna

    from search.run import disk_full

    # what the job raised when the disk filled as Optuna told the study of a new trial
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as e:
            raise optuna.exceptions.StorageInternalError("An exception is raised") from e
    except optuna.exceptions.StorageInternalError as raised:
        assert disk_full(raised) == "No space left on device"
    assert disk_full(OSError(28, "No space left on device")) == "No space left on device"
    assert disk_full(ValueError("another problem")) is None  # re-raised, as it was


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


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def best_trial(experiment: Path) -> str:
    return json.loads((experiment / "best.json").read_text())["best_trial"]["trial_id"]


def cut_last_line(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1])


DAMAGE = {  # what is done to a finished experiment -> what the refusal says
    "optuna.db deleted": (lambda e: (e / "optuna.db").unlink(), "optuna.db is missing"),
    "optuna.db cut in half": (
        lambda e: (e / "optuna.db").write_bytes((e / "optuna.db").read_bytes()[:40_000]),
        "optuna.db is damaged",
    ),
    "search.json of the wrong shape": (
        lambda e: (e / "search.json").write_text("[]"),
        "search.json is damaged (not an object with settings, data)",
    ),
    "tuner.pkl cut short": (
        lambda e: (e / "tuner.pkl").write_bytes((e / "tuner.pkl").read_bytes()[:100]),
        "tuner.pkl is damaged",
    ),
    "the best trial's result.json cut at a line": (
        lambda e: cut_last_line(e / best_trial(e) / "result.json"),
        "one was cut short",
    ),
    "the best trial's folder deleted": (
        lambda e: shutil.rmtree(e / best_trial(e)),
        "error: trial folder(s) trial_",
    ),
    "leaderboard.csv garbage": (
        lambda e: (e / "leaderboard.csv").write_bytes(b"\xff\x00"),
        "leaderboard.csv is damaged",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("what", list(DAMAGE))
def test_a_resume_of_a_damaged_experiment_is_refused_in_one_line_and_changes_nothing(
    small_search, tmp_path, capsys, what
):
    copy = tmp_path / "small"
    shutil.copytree(small_search[0], copy)
    do, says = DAMAGE[what]
    do(copy)
    before = tree(copy)
    assert main(["--name", "small", "--storage", str(tmp_path), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and says in err and "\n" not in err, err
    assert tree(copy) == before  # not a byte changed


@pytest.mark.slow
def test_a_resume_rebuilds_a_damaged_report_to_the_same_answer(small_search, tmp_path):
    copy = tmp_path / "small"
    shutil.copytree(small_search[0], copy)
    best = best_trial(copy)
    for name in ("best.json", "test_metrics.json"):
        (copy / name).write_bytes(b"\xff garbage")
    (copy / "MODEL_CARD.md").unlink()
    # what the resume never reads: Ray writes its storage marker anew at every start, and a
    # trial's TensorBoard events are TensorBoard's alone
    (copy / ".validate_storage_marker").unlink()
    events = next((copy / best).glob("events.out.tfevents.*"))
    events.write_bytes(events.read_bytes()[: events.stat().st_size // 2])
    assert main(["--name", "small", "--storage", str(tmp_path), "--resume"]) == 0
    again, first = (json.loads((e / "best.json").read_text()) for e in (copy, small_search[0]))
    assert again["answer"] == first["answer"]  # its members' paths are the folder's own
    again, first = (
        json.loads((e / "test_metrics.json").read_text()) for e in (copy, small_search[0])
    )
    assert again["answer"]["test"] == first["answer"]["test"]
    assert again["verdict"] == first["verdict"]
    assert (copy / "MODEL_CARD.md").exists()


def test_an_objective_for_two_classes_on_three_is_refused_before_anything_is_written(
    tmp_path, capsys
):
    import numpy as np

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 60), ("val", 30), ("test", 30)):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 3)[:, None]
    np.savez(tmp_path / "three.npz", **arrays)
    flags = f"--space focal --data {tmp_path / 'three.npz'} --objective spec@sens=0.9"
    assert main([*flags.split(), "--storage", str(tmp_path / "results"), "--name", "t"]) == 2
    err = capsys.readouterr().err.strip()
    assert "needs two classes" in err and "has 3" in err and "\n" not in err
    assert not (tmp_path / "results").exists()
