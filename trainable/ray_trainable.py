"""The training loop as a Ray Tune function trainable.

    from ray import tune
    from trainable.data import load_data
    from trainable.ray_trainable import train_trial

    data = load_data("../shared/data/pneumoniamnist/pneumoniamnist.npz")
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(train_trial, data=data), {"cpu": 1}),
        param_space={"loss": "focal", "gamma": tune.uniform(0, 4), "epochs": 5},
        tune_config=tune.TuneConfig(metric="val_balanced_accuracy", mode="max", num_samples=4),
    )
    tuner.fit()

`data` travels once through Ray's object store (`tune.with_parameters`), not once per trial.
Each epoch is reported with `tune.report` and a checkpoint (model, optimiser, scheduler, epoch,
tuned threshold); a restarted trial resumes from `tune.get_checkpoint()` at the next epoch.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from ray import tune

from trainable.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from trainable.config import TrainConfig
from trainable.data import Data
from trainable.loop import train
from trainable.metrics import SENSITIVITY_LEVELS


def train_trial(
    config: dict,
    data: Data,
    sensitivity_levels: tuple[float, ...] = SENSITIVITY_LEVELS,
    robust_score: bool = True,
) -> None:
    """Ray Tune entry point: `config` holds TrainConfig knobs (validated here); each epoch
    also reports specificity at `sensitivity_levels` (a search objective may add one) and,
    with `robust_score`, balanced accuracy on perturbed validation images."""
    cfg = TrainConfig.from_dict(config)
    start = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            start = load_checkpoint(Path(folder) / CHECKPOINT_FILE)

    def report(metrics: dict, state: Callable[[], dict]) -> None:
        with tempfile.TemporaryDirectory() as folder:
            save_checkpoint(state(), Path(folder) / CHECKPOINT_FILE)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))

    train(cfg, data, report, start, sensitivity_levels, robust_score)
