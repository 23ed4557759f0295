"""TensorBoard's HParams tab as the leaderboard: the same score, epoch and status per trial.

    tensorboard --logdir results/NAME      # HParams: one row per trial, search and references

Tune's own TensorBoard logger writes a trial's hparams when it ends, with its last epoch's
values, every trial marked finished and integer knobs as floats, so the search logs with
search.tune.callbacks.TrialCurves, which leaves the hparams out. Once the report knows each
trial's score, `write_hparams` writes one HParams session into every trial's folder from its
leaderboard row: the knobs as the trial got them (integers stay integers), `role` (search,
baseline, seed_recipe, member_full_run, member_seed), `status` (complete, stopped, error),
`best_epoch`, and
the row's scores under `leaderboard/` (e.g. `leaderboard/val_balanced_accuracy`, the score the
answer ranks by, and specificity at each reported sensitivity). An errored trial's session
ends as a failure.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.plugins.hparams.api_pb2 import Status
from tensorboard.plugins.hparams.metadata import (
    PLUGIN_DATA_VERSION,
    PLUGIN_NAME,
    SESSION_END_INFO_TAG,
)
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData, SessionEndInfo
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from search.answer.rules import Trial
from trainable.config import TrainConfig
from trainable.metrics import OPERATING_KEY

# The leaderboard columns shown as HParams metrics, the answer's objective first.
METRICS = (
    "val_balanced_accuracy",
    "val_robust_balanced_accuracy",
    "val_roc_auc",
    "val_balanced_accuracy_05",
    "val_sensitivity",
    "val_specificity",
    "val_threshold",
)
PREFIX = "leaderboard/"
FILE_SUFFIX = ".leaderboard"  # our event files, told apart from Tune's
# The HParams tab shows five hparams until the reader ticks more: those marked `differs`
# first, then by name (TensorBoard's backend_context sorts so, its page ticks the first five).
# Left to themselves these were alpha, aug_strength, batch_size, best_epoch and compile (seen
# in headless Chromium); these five are the ones a reader compares trials by (whether a run is
# in the answer first; the technique in the finding's words rather than the loss knob, which
# reads "focal" for the plain baseline in the focal space).
SHOWN_FIRST = ("in_answer", "role", "sampler", "status", "technique")


def write_hparams(experiment: Path, table: pd.DataFrame, trials: dict[str, Trial]) -> None:
    """The HParams experiment (every knob, its choices, the metrics) once in `experiment`, and
    one session per leaderboard row in its trial's folder (`trials`, by trial id), with the
    knobs as the trial got them. Trials on cloud storage are left to the curves alone."""
    trials = {name: r for name, r in trials.items() if "://" not in r.path}
    table = table[table["trial_id"].isin(list(trials))]
    if table.empty:
        return
    configs = {name: TrainConfig.from_dict(r.config).to_dict() for name, r in trials.items()}
    sessions = {
        row["trial_id"]: session_params(row, configs[row["trial_id"]])
        for row in table.to_dict("records")
    }
    example: dict = {}
    for params in sessions.values():
        example |= {k: v for k, v in params.items() if k not in example}
    discrete = {
        k: sorted({p[k] for p in sessions.values() if k in p}, key=_natural)
        for k, v in example.items()
        if isinstance(v, str)
    }
    shown = tuple(m for m in METRICS if m in table.columns)
    shown += tuple(c for c in table.columns if c.startswith(f"val_{OPERATING_KEY}"))
    metrics = dict.fromkeys((PREFIX + m for m in shown), 0.0)  # names only
    with fresh_writer(experiment) as writer:
        writer.file_writer.add_summary(experiment_summary(example, metrics, discrete))
    for row in table.to_dict("records"):
        step = int(row["best_epoch"]) if _is_number(row.get("best_epoch")) else 0
        start = hparams(sessions[row["trial_id"]], {})[1]
        with fresh_writer(trials[row["trial_id"]].path) as writer:
            writer.file_writer.add_summary(start)
            for m in shown:
                if _is_number(row.get(m)):
                    writer.add_scalar(PREFIX + m, float(row[m]), global_step=step)
            writer.file_writer.add_summary(session_end(row["status"] != "error"))


def fresh_writer(folder: Path | str) -> SummaryWriter:
    """A writer whose file replaces the one an earlier report wrote there (a --resume reports
    again). TensorBoard keeps the earliest session-start event it finds in a run: with a second file
    the HParams row showed the first report's hparams beside the second's score (checked
    through its session_groups API). Tune's own event files are left alone."""
    for earlier in Path(folder).glob(f"events.out.tfevents.*{FILE_SUFFIX}"):
        earlier.unlink()
    return SummaryWriter(str(folder), filename_suffix=FILE_SUFFIX)


def session_params(row: dict, config: dict) -> dict:
    """A trial's hparams: its knobs (integers and booleans as text, so 128 reads 128, not
    128.00, and False not 0; None left out, as HParams has no empty value), role, status and
    best epoch (text too: 2, not 2.0000)."""
    params = {
        k: str(v) if isinstance(v, int) else v  # bool is an int too
        for k, v in config.items()
        if isinstance(v, (int, float, str))
    }
    params |= {"role": row["role"], "status": row["status"]}
    if "technique" in row:  # the sampler and loss in the finding's words
        params["technique"] = row["technique"]
    if "in_answer" in row:
        params["in_answer"] = "yes" if row["in_answer"] else "no"
    if _is_number(row.get("best_epoch")):
        params["best_epoch"] = str(int(row["best_epoch"]))
    return params


def experiment_summary(example: dict, metrics: dict, discrete: dict) -> Summary:
    """torch's HParams experiment, with SHOWN_FIRST marked as the hparams that differ."""
    summary = hparams(example, metrics, discrete)[0]
    value = summary.value[0]
    data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
    for info in data.experiment.hparam_infos:
        info.differs = info.name in SHOWN_FIRST
    value.metadata.plugin_data.content = data.SerializeToString()
    return summary


def session_end(succeeded: bool) -> Summary:
    """torch's `hparams` always ends a session as a success; an errored trial failed."""
    status = Status.Value("STATUS_SUCCESS" if succeeded else "STATUS_FAILURE")
    content = HParamsPluginData(
        session_end_info=SessionEndInfo(status=status), version=PLUGIN_DATA_VERSION
    )
    metadata = SummaryMetadata(
        plugin_data=SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=content.SerializeToString()
        )
    )
    return Summary(value=[Summary.Value(tag=SESSION_END_INFO_TAG, metadata=metadata)])


def _natural(value: str) -> tuple:
    """Numbers as numbers (2 before 10), then words."""
    return (0, int(value), "") if value.isdigit() else (1, 0, value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)
