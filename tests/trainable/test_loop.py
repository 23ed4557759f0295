"""The training loop on real data: it learns, resumes exactly, repeats itself on CPU."""

import dataclasses

import numpy as np
import pytest
import torch

from trainable.checkpoint import load_checkpoint, save_checkpoint
from trainable.config import TrainConfig, UserError
from trainable.data import load_data, make_synthetic
from trainable.loop import train


def small_synthetic():
    """A third of the synthetic set: the tests that train a run three times stay fast."""
    return make_synthetic(n_train=160, n_eval=64)


def run_epochs(cfg: TrainConfig, data, start=None):
    history, states = [], []

    def report(metrics, state):
        history.append(metrics)
        states.append(state())

    train(cfg, data, report, start)
    return history, states


def test_resume_continues_at_the_next_epoch_and_matches_an_uninterrupted_run(tmp_path):
    data = small_synthetic()
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


def test_eval_every_validates_every_kth_epoch_and_the_last_and_resumes_between(tmp_path):
    data = small_synthetic()
    cfg = TrainConfig(epochs=5, eval_every=2, aug_strength=0.5)
    every, states = run_epochs(cfg, data)
    assert [m["epoch"] for m in every] == [2, 4, 5]  # the last epoch always validates
    assert [s["epoch"] for s in states] == [2, 4, 5]  # a checkpoint per report
    # the same training as validating every epoch: validation never touches the weights
    each, _ = run_epochs(dataclasses.replace(cfg, eval_every=1), data)
    for m in every:
        assert m["val_balanced_accuracy"] == each[m["epoch"] - 1]["val_balanced_accuracy"]
    # the report's train loss is the mean over the epochs since the last report
    assert every[0]["train_loss"] == pytest.approx(np.mean([m["train_loss"] for m in each[:2]]))
    # resumed from the epoch-2 checkpoint, it repeats the uninterrupted run
    resumed, _ = run_epochs(cfg, data, start=states[0])
    assert [m["val_balanced_accuracy"] for m in resumed] == [
        m["val_balanced_accuracy"] for m in every[1:]
    ]


def test_same_seed_same_metrics_on_cpu():
    data = load_data("synthetic")
    cfg = TrainConfig(epochs=2, sampler="undersample", minority_aug=0.5, mixup=0.4)
    a, _ = run_epochs(cfg, data)
    b, _ = run_epochs(cfg, data)
    timings = ("epoch_time_s", "train_time_s", "peak_rss_mb")  # the machine's, not the run's
    assert all(m["peak_rss_mb"] > 50 for m in a + b)  # torch alone takes more
    strip = [{k: v for k, v in m.items() if k not in timings} for m in a]
    assert strip == [{k: v for k, v in m.items() if k not in timings} for m in b]


@pytest.mark.integration  # torch.compile starts compiler worker processes
def test_compiled_training_matches_eager_and_saves_plain_weights():
    data = load_data("synthetic")
    # in float32: inductor and eager round bfloat16 sums differently
    eager, _ = run_epochs(TrainConfig(epochs=1, precision="fp32"), data)
    compiled, states = run_epochs(TrainConfig(epochs=1, compile=True, precision="fp32"), data)
    assert compiled[0]["train_loss"] == pytest.approx(eager[0]["train_loss"], rel=1e-3)
    assert not any(key.startswith("_orig_mod") for key in states[0]["model"])


@pytest.mark.parametrize(
    "knobs",
    [
        {"sampler": "smote", "loss": "weighted_ce"},
        {"sampler": "smote_tomek", "schedule": "cosine"},
        pytest.param(  # 11 M parameters: 10 s for one epoch on two cores
            {"model": "resnet18", "batch_size": 64, "schedule": "none"},
            marks=pytest.mark.integration,
        ),
        {"mixup": 0.2, "loss": "focal", "alpha": 0.7},
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


def test_the_largest_seed_trains_every_sampler_its_derived_seeds_stay_in_range():
    # seed * 100_003 + epoch once overflowed numpy's range and crashed undersampling
    data = load_data("synthetic")
    for sampler in ("undersample", "smote"):
        cfg = TrainConfig.from_dict({"epochs": 1, "sampler": sampler, "seed": 2**32 - 1})
        history, _ = run_epochs(cfg, data)
        assert history[0]["epoch"] == 1


def test_a_checkpoint_of_another_model_is_refused_in_one_line(tmp_path):
    data = load_data("synthetic")
    path = tmp_path / "checkpoint.pt"
    train(TrainConfig(epochs=1), data, lambda metrics, state: save_checkpoint(state(), path))
    state = load_checkpoint(path)
    three_channels = load_data("synthetic", channels=3)  # same config, other input
    with pytest.raises(UserError, match="does not fit this model and data"):
        train(TrainConfig(epochs=2), three_channels, lambda m, s: None, start=state)


@pytest.mark.parametrize(
    "failure",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 8589934592 bytes"
        ),  # fmt: skip
    ],
)
def test_running_out_of_memory_is_one_line_naming_the_batch_and_image_size(monkeypatch, failure):
    def allocate(*args, **kwargs):
        raise failure

    monkeypatch.setattr("trainable.loop.augment", allocate)  # the first step's batch
    data = load_data("synthetic")
    with pytest.raises(UserError) as refused:
        train(TrainConfig(epochs=1, batch_size=64), data, lambda m, s: None)
    message = str(refused.value)
    assert message.startswith("out of memory training small_cnn at batch size 64 on 1x28x28")
    assert "lower batch_size or --size" in message and "\n" not in message
    # any other error is left as it was
    monkeypatch.setattr("trainable.loop.augment", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        train(TrainConfig(epochs=1), data, lambda m, s: None)


def test_mixup_changes_what_the_model_sees():
    data = load_data("synthetic")
    plain, _ = run_epochs(TrainConfig(epochs=1), data)
    mixed, _ = run_epochs(TrainConfig(epochs=1, mixup=0.4), data)
    # blended images and labels: another training loss from the same seed and batches
    assert mixed[0]["train_loss"] != pytest.approx(plain[0]["train_loss"], rel=1e-3)
