import json
import subprocess
import sys

import numpy as np
import pytest
from datasets import PNEUMONIAMNIST

from trainable.checkpoint import load_checkpoint, save_checkpoint
from trainable.config import TrainConfig, UserError
from trainable.data import load_data
from trainable.train import main, train


def run_epochs(cfg: TrainConfig, data, start=None):
    history, states = [], []

    def report(metrics, state):
        history.append(metrics)
        states.append(state())

    train(cfg, data, report, start)
    return history, states


def test_short_real_run_beats_the_majority_baseline(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        ["--data", str(PNEUMONIAMNIST), "--epochs", "2", "--out", str(out), "--evaluate-test"]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "train normal 1214 (25.8%) / pneumonia 3494 (74.2%)" in printed
    assert printed.count("epoch ") == 2
    metrics = json.loads((out / "metrics.json").read_text())
    test = json.loads((out / "test_metrics.json").read_text())["test"]
    # predicting "pneumonia" for everything scores balanced accuracy 0.5
    assert metrics["val"]["balanced_accuracy"] > 0.85
    assert test["balanced_accuracy"] > 0.75
    assert metrics["config"]["epochs"] == 2 and 0 < metrics["threshold"] <= 1
    assert len(metrics["history"]) == 2
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2


def test_resume_continues_at_the_next_epoch_and_matches_an_uninterrupted_run(tmp_path):
    data = load_data("synthetic")
    cfg = TrainConfig(epochs=3, sampler="oversample", loss="focal", aug_strength=0.5)
    path = tmp_path / "checkpoint.pt"

    def killed_after_first_epoch(metrics, state):
        save_checkpoint(state(), path)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, data, killed_after_first_epoch)
    full, _ = run_epochs(cfg, data)
    resumed, _ = run_epochs(cfg, data, start=load_checkpoint(path))
    assert [m["epoch"] for m in resumed] == [2, 3]
    for a, b in zip(full[1:], resumed, strict=True):
        assert a["val_balanced_accuracy"] == b["val_balanced_accuracy"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)


def test_same_seed_same_metrics_on_cpu():
    data = load_data("synthetic")
    cfg = TrainConfig(epochs=2, sampler="undersample", minority_aug=0.5)
    a, _ = run_epochs(cfg, data)
    b, _ = run_epochs(cfg, data)
    timings = ("epoch_time_s", "train_time_s", "peak_rss_mb")  # the machine's, not the run's
    assert all(m["peak_rss_mb"] > 50 for m in a + b)  # torch alone takes more
    strip = [{k: v for k, v in m.items() if k not in timings} for m in a]
    assert strip == [{k: v for k, v in m.items() if k not in timings} for m in b]


def test_compiled_training_matches_eager_and_saves_plain_weights():
    data = load_data("synthetic")
    eager, _ = run_epochs(TrainConfig(epochs=1), data)
    compiled, states = run_epochs(TrainConfig(epochs=1, compile=True), data)
    assert compiled[0]["train_loss"] == pytest.approx(eager[0]["train_loss"], rel=1e-3)
    assert not any(key.startswith("_orig_mod") for key in states[0]["model"])


@pytest.mark.parametrize(
    "knobs",
    [
        {"sampler": "smote", "loss": "weighted_ce"},
        {"sampler": "smote_tomek", "schedule": "cosine"},
        {"model": "resnet18", "batch_size": 64, "schedule": "none"},
    ],
)
def test_every_knob_family_trains(knobs):
    history, states = run_epochs(TrainConfig(epochs=1, **knobs), load_data("synthetic"))
    assert np.isfinite(history[0]["train_loss"]) and states[0]["epoch"] == 1


def test_three_classes_train_without_a_threshold(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 300), ("val", 90), ("test", 90)):
        y = rng.choice(3, n, p=[0.6, 0.3, 0.1])
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for c in range(3):  # class c brightens one horizontal band
            x[y == c, 9 * c : 9 * c + 9] += 120
        arrays |= {f"{split}_images": x, f"{split}_labels": y[:, None]}
    np.savez(tmp_path / "three.npz", **arrays)
    data = load_data(str(tmp_path / "three.npz"))
    cfg = TrainConfig(epochs=3, loss="focal", alpha=0.7, minority_aug=0.3)
    history, states = run_epochs(cfg, data)
    assert "val_threshold" not in history[-1] and states[-1]["threshold"] is None
    assert history[-1]["val_balanced_accuracy"] > 0.6  # chance is 1/3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--data", "/no/such/file.npz"], "data not found"),
        (["--data", "synthetic", "--config", '{"focal_gamma": 2}'], "unknown config key"),
        (["--data", "synthetic", "--config", '{"gamma": 99}'], "gamma must be in"),
        (["--data", "synthetic", "--config", '{"device": "cuda"}'], "CUDA is not available"),
        (["--data", "synthetic", "--resume"], "no checkpoint"),
        (["--data", "synthetic", "--size", "4"], "--size must be"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists()  # nothing written before the input was checked


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    (tmp_path / "one_class" / "train" / "NORMAL").mkdir(parents=True)
    src = sorted((PNEUMONIAMNIST.parent.parent / "chest_xray" / "train" / "NORMAL").iterdir())[0]
    (tmp_path / "one_class" / "train" / "NORMAL" / src.name).write_bytes(src.read_bytes())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "trainable.train",
            "--data",
            str(tmp_path / "one_class"),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: training data has one class only")
    assert "Traceback" not in proc.stderr


def test_the_largest_seed_trains_every_sampler_its_derived_seeds_stay_in_range():
    # seed * 100_003 + epoch once overflowed numpy's range and crashed undersampling
    data = load_data("synthetic")
    for sampler in ("undersample", "smote"):
        cfg = TrainConfig.from_dict({"epochs": 1, "sampler": sampler, "seed": 2**32 - 1})
        history, _ = run_epochs(cfg, data)
        assert history[0]["epoch"] == 1


def test_out_naming_a_file_is_refused_and_the_file_kept(tmp_path, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    assert main(["--data", "synthetic", "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --out") and "is a file" in err and "\n" not in err
    assert out.read_text() == "mine"


def test_resume_after_an_interruption_keeps_the_earlier_epochs_history(tmp_path, monkeypatch):
    out = tmp_path / "run"
    from trainable import train as train_module

    real_train = train_module.train

    def interrupted_after_one_epoch(cfg, data, report, start=None):
        def report_then_stop(metrics, state):
            report(metrics, state)
            raise KeyboardInterrupt  # Ctrl-C just after epoch 1 was saved

        return real_train(cfg, data, report_then_stop, start)

    monkeypatch.setattr(train_module, "train", interrupted_after_one_epoch)
    args = ["--data", "synthetic", "--epochs", "3", "--out", str(out)]
    assert main(args) == 130
    assert [m["epoch"] for m in json.loads((out / "metrics.json").read_text())["history"]] == [1]
    monkeypatch.setattr(train_module, "train", real_train)
    assert main(["--data", "synthetic", "--out", str(out), "--resume"]) == 0  # no other flag
    metrics = json.loads((out / "metrics.json").read_text())
    assert [m["epoch"] for m in metrics["history"]] == [1, 2, 3]
    assert metrics["epochs_run"] == 3 and metrics["threshold"] is not None


def test_resume_of_a_finished_run_changes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--data", "synthetic", "--epochs", "1", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["--data", "synthetic", "--out", str(out), "--resume"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--epochs", "4"], "epochs 2 -> 4"),
        (["--config", '{"loss": "focal"}'], "loss 'ce' -> 'focal'"),
    ],
)
def test_resume_with_another_config_is_one_line(tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    assert main(["--data", "synthetic", "--epochs", "2", "--out", str(out)]) == 0
    checkpoint = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main(["--data", "synthetic", "--out", str(out), "--resume", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --resume with another config") and message in err
    assert "\n" not in err and (out / "checkpoint.pt").read_bytes() == checkpoint


def test_a_checkpoint_of_another_model_is_refused_in_one_line(tmp_path):
    data = load_data("synthetic")
    path = tmp_path / "checkpoint.pt"
    train(TrainConfig(epochs=1), data, lambda metrics, state: save_checkpoint(state(), path))
    state = load_checkpoint(path)
    three_channels = load_data("synthetic", channels=3)  # same config, other input
    with pytest.raises(UserError, match="does not fit this model and data"):
        train(TrainConfig(epochs=2), three_channels, lambda m, s: None, start=state)
