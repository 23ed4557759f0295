"""`python -m trainable.train`: runs, resumes, and bad input as one line."""

import json
import subprocess
import sys

import pytest
from datasets import PNEUMONIAMNIST

from trainable.checkpoint import load_checkpoint
from trainable.train import main

pytestmark = pytest.mark.integration  # real data and the command in its own process


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


def test_evaluate_test_without_a_test_split_is_refused_before_training(tmp_path, capsys):
    chest_xray = PNEUMONIAMNIST.parent.parent / "chest_xray"
    for cls in ("NORMAL", "PNEUMONIA"):  # real Kermany images, train/ only
        (tmp_path / "no_test" / "train" / cls).mkdir(parents=True)
        for f in sorted((chest_xray / "train" / cls).iterdir())[:12]:
            (tmp_path / "no_test" / "train" / cls / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "out"
    argv = ["--data", str(tmp_path / "no_test"), "--size", "28", "--evaluate-test"]
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --evaluate-test:") and "has no test split" in err
    assert not out.exists()  # refused before a single epoch, not after all of them


def test_out_naming_a_file_is_refused_and_the_file_kept(tmp_path, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    assert main(["--data", "synthetic", "--epochs", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --out") and "is a file" in err and "\n" not in err
    assert out.read_text() == "mine"


def test_resume_after_an_interruption_keeps_the_earlier_epochs_history(tmp_path, monkeypatch):
    out = tmp_path / "run"
    from trainable import loop

    real_train = loop.train

    def interrupted_after_one_epoch(cfg, data, report, start=None):
        def report_then_stop(metrics, state):
            report(metrics, state)
            raise KeyboardInterrupt  # Ctrl-C just after epoch 1 was saved

        return real_train(cfg, data, report_then_stop, start)

    monkeypatch.setattr(loop, "train", interrupted_after_one_epoch)
    args = ["--data", "synthetic", "--epochs", "3", "--out", str(out)]
    assert main(args) == 130
    assert [m["epoch"] for m in json.loads((out / "metrics.json").read_text())["history"]] == [1]
    monkeypatch.setattr(loop, "train", real_train)
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
