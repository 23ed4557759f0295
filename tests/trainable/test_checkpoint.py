import numpy as np
import pytest
import torch

from trainable.checkpoint import load_checkpoint, save_checkpoint
from trainable.config import TrainConfig, UserError
from trainable.inference import evaluate_checkpoint, predict, predict_checkpoint
from trainable.loop import train
from trainable.metrics import evaluate
from trainable.train import main


@pytest.mark.integration  # real PneumoniaMNIST images
def test_a_saved_checkpoint_predicts_what_the_live_model_did(pneumoniamnist, tmp_path):
    path = tmp_path / "checkpoint.pt"
    seen = {}

    def report(metrics, state):
        save_checkpoint(state(), path)
        seen.update(metrics)

    model = train(TrainConfig(epochs=1, batch_size=256), pneumoniamnist, report)
    state = load_checkpoint(path)
    assert state["epoch"] == 1 and state["threshold"] == seen["val_threshold"]
    live, _ = predict(
        model, pneumoniamnist.val_x, state["pixel_mean"], state["pixel_std"], torch.device("cpu")
    )
    assert np.allclose(predict_checkpoint(state, pneumoniamnist, "val"), live, atol=1e-6)
    # scored at the threshold the epoch tuned on validation, which is what it reported
    val = evaluate_checkpoint(state, pneumoniamnist, "val")
    assert val["balanced_accuracy"] == pytest.approx(seen["val_balanced_accuracy"])
    assert val == evaluate(live, pneumoniamnist.val_y, threshold=state["threshold"])


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"model": Payload()}, path)  # a pickle that calls a function when loaded
    with pytest.raises(UserError, match="cannot read checkpoint"):
        load_checkpoint(path)


def test_disk_full_while_checkpointing_keeps_the_last_good_checkpoint(
    tmp_path, capsys, monkeypatch
):
    import errno

    from trainable import checkpoint as checkpoint_module

    real_save, calls = torch.save, []

    def save_until_the_disk_fills(obj, path):
        calls.append(path)
        if len(calls) == 2:  # the second epoch's checkpoint hits a full disk half-way
            open(path, "wb").write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, path)

    monkeypatch.setattr(checkpoint_module.torch, "save", save_until_the_disk_fills)
    out = tmp_path / "out"
    assert main(["--data", "synthetic", "--epochs", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot write checkpoint" in err and "No space left" in err and "\n" not in err
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 1  # epoch 1's file is intact
    assert not list(out.glob(".*.tmp"))  # the partial one is gone
