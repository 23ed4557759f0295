"""Pictures of a finished search: PNG files, and the answer's curves in TensorBoard.

- roc_pr.png: ROC and precision-recall curves of the answer (the mean of the top trials,
  search/answer.py), validation and test;
- knobs.png: the objective against each knob, one dot per scored trial (stopped trials hollow;
  errored trials have no score and are counted in the title);
- importances.png: Optuna's parameter importances over the finished trials;
- best_model/ (TensorBoard run): the answer's PR curves, ROC as a figure, test confusion matrix.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
)
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

Curves = dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (labels, positive-class scores)


def roc_pr_figure(curves: Curves) -> plt.Figure:
    fig, (roc, pr) = plt.subplots(1, 2, figsize=(10, 4.5))
    for split, (labels, scores) in curves.items():
        RocCurveDisplay.from_predictions(labels, scores, name=split, ax=roc)
        PrecisionRecallDisplay.from_predictions(labels, scores, name=split, ax=pr)
    roc.set_title("ROC, the answer")
    pr.set_title("Precision-recall, the answer")
    fig.tight_layout()
    return fig


def knobs_figure(table: pd.DataFrame, objective: str) -> plt.Figure | None:
    """None when no trial has a score. Errored trials are left out: a NaN score drawn on a
    log or categorical axis makes matplotlib raise (issue 10's ConversionError)."""
    no_scores = pd.Series(False, index=table.index)
    scored = table[objective].notna() if objective in table else no_scores
    errored = int((~scored).sum())
    table = table[scored]
    if table.empty:
        return None
    knobs = [c for c in table.columns if c.startswith("config/") and table[c].nunique() > 1]
    cols = 3
    rows = max(1, -(-len(knobs) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    finished = table["status"] == "complete"
    for ax, knob in zip(axes.flat, knobs, strict=False):
        values = table[knob]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().sum() == values.notna().sum():  # e.g. alpha: floats, None elsewhere
            values = numeric
        if values.dtype == object:  # categorical: one column of dots per choice
            choices = sorted(values.dropna().unique(), key=str)
            x = values.map({c: i for i, c in enumerate(choices)})
            ax.set_xticks(range(len(choices)), [str(c) for c in choices], rotation=20)
        else:
            x = values
            if knob.removeprefix("config/") in ("lr", "weight_decay"):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
        ax.scatter(x[finished], table[objective][finished], label="complete")
        ax.scatter(
            x[~finished],
            table[objective][~finished],
            facecolors="none",
            edgecolors="C1",
            label="stopped",
        )
        ax.set_xlabel(knob.removeprefix("config/"))
        ax.set_ylabel(objective.removeprefix("val_"))
    for ax in list(axes.flat)[len(knobs) :]:
        ax.axis("off")
    if knobs:
        axes.flat[0].legend(fontsize=8)
    if errored:
        fig.suptitle(f"{errored} errored trial(s) left out: no score", fontsize=9)
    fig.tight_layout()
    return fig


def importances_figure(study: optuna.Study) -> plt.Figure | None:
    """None when Optuna cannot compute importances (too few finished trials)."""
    try:
        with warnings.catch_warnings():  # small studies: "importances may be inaccurate"
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):
        return None
    if not importances:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(importances) + 1))
    names = list(importances)[::-1]
    ax.barh(names, [importances[n] for n in names])
    ax.set_xlabel("importance (Optuna's default evaluator, finished trials)")
    fig.tight_layout()
    return fig


def write_plots(
    experiment: Path,
    table: pd.DataFrame,
    objective: str,
    curves: Curves | None,
    study: optuna.Study | None,
) -> list[Path]:
    written = []
    figures = {"knobs.png": knobs_figure(table, objective)}
    if curves:
        figures["roc_pr.png"] = roc_pr_figure(curves)
    if study is not None:
        figures["importances.png"] = importances_figure(study)
    for name, fig in figures.items():
        if fig is None:
            continue
        fig.savefig(experiment / name, dpi=110)
        plt.close(fig)
        written.append(experiment / name)
    return written


def write_tensorboard(
    folder: Path, curves: Curves, test_pred: np.ndarray | None, classes: list[str]
) -> None:
    """The answer's PR curves, ROC and test confusion matrix as a TensorBoard run."""
    with SummaryWriter(str(folder)) as writer:
        for split, (labels, scores) in curves.items():
            writer.add_pr_curve(f"{split}/pr_curve", labels, scores, global_step=0)
        writer.add_figure("roc_pr", roc_pr_figure(curves), global_step=0)
        if test_pred is not None:
            labels = curves["test"][0]
            display = ConfusionMatrixDisplay.from_predictions(
                labels, test_pred, display_labels=classes
            )
            display.ax_.set_title("test, at the validation-tuned threshold")
            writer.add_figure("test/confusion_matrix", display.figure_, global_step=0)
