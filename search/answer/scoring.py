"""Models scored on validation and on the test split, read once after the search.

    scored = score_trial(trial, data, objective)             # one model's best checkpoint
    answer = score_answer([scored, ...], members, data, objective)   # their mean

Each returns a search.answer.rules.Scored: the figures test_metrics.json holds (validation
metrics at the best epoch, test metrics at the validation-tuned threshold, 95% intervals,
calibration, confusion counts, operating points) and the probabilities behind them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from search.answer.rules import Scored, Trial, average
from search.stats.adapt import adapted_cut
from search.stats.calibration import calibration_figures, fit_temperature, scale
from search.stats.intervals import figure_intervals
from trainable.checkpoint import CHECKPOINT_FILE, load_checkpoint
from trainable.data import Data
from trainable.inference import predict_checkpoint
from trainable.metrics import confusion, evaluate, levels_reported, operating_points


def score_trial(trial: Trial, data: Data, objective: str) -> Scored:
    """Validation metrics at the trial's best epoch next to the test split scored once."""
    with trial.checkpoint.as_directory() as folder:
        state = load_checkpoint(Path(folder) / CHECKPOINT_FILE)
    val_probs = predict_checkpoint(state, data, "val")
    val = {
        k.removeprefix("val_"): float(v)
        for k, v in trial.best.items()
        if k.startswith("val_") and v is not None and pd.notna(v)
    }
    probs = predict_checkpoint(state, data, "test")
    test = evaluate(probs, data.test_y, threshold=state["threshold"])
    figures = {
        "trial_id": trial.trial,
        "config": state["config"],
        "epoch": state["epoch"],
        "threshold": state["threshold"],
        "checkpoint": trial.checkpoint.path,
        "val": val,
        "test": test,
        "test_intervals": figure_intervals(probs, data.test_y, state["threshold"]),
        "val_test_gap": val["balanced_accuracy"] - test["balanced_accuracy"],
        "calibration": {
            "val": calibration_figures(val_probs, data.val_y),
            "test": calibration_figures(probs, data.test_y),
        },
        **split_details(val_probs, probs, data, state["threshold"], objective),
    }
    return Scored(figures, val_probs, probs)


def split_details(
    val_probs: np.ndarray,
    test_probs: np.ndarray,
    data: Data,
    threshold: float | None,
    objective: str,
) -> dict:
    """`confusion`: each split's size, prevalence and confusion matrix at `threshold`;
    `operating_points` (binary): sensitivity and specificity at each sensitivity level, on
    validation at the cut that first reaches it there, on test at that same cut (what a
    screening user would deploy)."""
    counts = {
        "val": confusion(val_probs, data.val_y, threshold),
        "test": confusion(test_probs, data.test_y, threshold),
    }
    if data.num_classes != 2:
        return {"confusion": counts, "operating_points": None}
    levels = levels_reported(objective)
    val = operating_points(val_probs[:, 1], data.val_y, levels)
    cuts = {level: point["cut"] for level, point in val.items()}
    test = operating_points(test_probs[:, 1], data.test_y, levels, cuts)
    return {"confusion": counts, "operating_points": {"val": val, "test": test}}


def score_answer(
    scored: Sequence[Scored], members: Sequence[Trial], data: Data, objective: str
) -> Scored:
    """The mean of the members' scored models (search.answer.rules.average), calibrated by a
    temperature fitted on validation (search.stats.calibration) and thresholded on its own
    calibrated validation scores."""
    mean_val = average([s.val_probs for s in scored])
    mean_test = average([s.test_probs for s in scored])
    temperature = fit_temperature(mean_val, data.val_y)
    val_probs, test_probs = scale(mean_val, temperature), scale(mean_test, temperature)
    calibration: dict[str, Any] = {"temperature": temperature}
    for split, before, after, labels in (
        ("val", mean_val, val_probs, data.val_y),
        ("test", mean_test, test_probs, data.test_y),
    ):
        uncalibrated = {
            f"{k}_uncalibrated": v for k, v in calibration_figures(before, labels).items()
        }
        calibration[split] = calibration_figures(after, labels) | uncalibrated
    val = evaluate(val_probs, data.val_y)
    test = evaluate(test_probs, data.test_y, threshold=val.get("threshold"))
    figures = {
        "members": [
            {"search_trial": m.source, "kind": m.kind}
            | {k: s.figures[k] for k in ("trial_id", "config", "epoch", "checkpoint")}
            for m, s in zip(members, scored, strict=True)
        ],
        "threshold": val.get("threshold"),
        "temperature": temperature,
        "val": val,
        "test": test,
        "test_intervals": figure_intervals(test_probs, data.test_y, val.get("threshold")),
        "val_test_gap": val["balanced_accuracy"] - test["balanced_accuracy"],
        "calibration": calibration,
        **split_details(val_probs, test_probs, data, val.get("threshold"), objective),
        "adapted": adapted_to_test(val_probs, test_probs, data, val.get("threshold")),
    }
    return Scored(figures, val_probs, test_probs)


def adapted_to_test(
    val_probs: np.ndarray, test_probs: np.ndarray, data: Data, threshold: float | None
) -> dict | None:
    """A second test figure, never the first: the answer at a cut moved to the test images'
    own scores when they show a shift (search.stats.adapt, no test label read); binary only."""
    if data.num_classes != 2 or threshold is None:
        return None
    decision = adapted_cut(val_probs[:, 1], data.val_y, threshold, test_probs[:, 1])
    test = evaluate(test_probs, data.test_y, threshold=decision.cut)
    return {
        "shift_p_value": decision.p_value,
        "shifted": decision.shifted,
        "cut": decision.cut,
        "test": test,
    }
