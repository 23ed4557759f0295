"""TensorBoard's HParams rows, written from the leaderboard and rewritten by a second report."""

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.metadata import SESSION_START_INFO_TAG
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from search.outputs.board import write_hparams


def leaderboard(score: float, best_epoch: int) -> pd.DataFrame:
    row = {"trial_id": "trial_a", "role": "search", "status": "complete"}
    return pd.DataFrame([row | {"best_epoch": best_epoch, "val_balanced_accuracy": score}])


def shown(run: Path) -> tuple[dict, list[tuple[int, float]]]:
    """A run's HParams session and its leaderboard score points, as TensorBoard reads them."""
    events = EventAccumulator(str(run))
    events.Reload()
    content = events.PluginTagToContent("hparams")[SESSION_START_INFO_TAG]
    start = HParamsPluginData.FromString(content).session_start_info
    params = {k: v.string_value or v.number_value for k, v in start.hparams.items()}
    points = [(e.step, e.value) for e in events.Scalars("leaderboard/val_balanced_accuracy")]
    return params, points


def test_a_second_report_replaces_the_first_rows_instead_of_adding_sessions(tmp_path):
    run = tmp_path / "trial_a"
    run.mkdir()
    tune_curves = run / "events.out.tfevents.1.tune"  # Tune's per-epoch file: kept
    tune_curves.write_bytes(b"")
    trials = {"trial_a": SimpleNamespace(path=str(run), config={"loss": "focal", "epochs": 10})}
    write_hparams(tmp_path, leaderboard(0.80, best_epoch=3), trials)
    write_hparams(tmp_path, leaderboard(0.90, best_epoch=7), trials)  # e.g. after --resume
    assert len(list(run.glob("*.leaderboard"))) == 1 and tune_curves.exists()
    assert len(list(tmp_path.glob("*.leaderboard"))) == 1  # the experiment's summary too
    params, points = shown(run)
    assert params["best_epoch"] == "7" and params["loss"] == "focal"
    assert points == [(7, 0.8999999761581421)]  # the second report's score alone
