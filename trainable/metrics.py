"""Validation and test metrics with scikit-learn, and the decision threshold tuned on validation.

    m = evaluate(probs, labels)                 # tunes the threshold on these labels
    m = evaluate(probs, labels, threshold=t)    # applies a threshold tuned elsewhere
    points = operating_points(scores, labels)              # cuts for sensitivity 0.90/0.95/0.99
    operating_points(test_scores, test_labels, cuts=...)   # those cuts applied to test

Binary: class 1 is the positive class (pneumonia in both shipped sets). Sensitivity is its
recall, specificity the recall of class 0. Metrics at the tuned threshold carry plain names
(`balanced_accuracy`, `f1`, ...); the same at 0.5 end in `_05`. K > 2 classes: predictions are
the argmax, balanced accuracy is the mean per-class recall, F1 / ROC-AUC / PR-AUC are macro
averages, and there is no threshold.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.preprocessing import label_binarize


def tune_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The score cut (predict positive when score >= cut) that maximises balanced accuracy.

    Balanced accuracy is (TPR + TNR) / 2 = (1 + TPR - FPR) / 2, so the best cut is the ROC
    point that maximises Youden's J = TPR - FPR, searched over every distinct score.
    """
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))  # roc_curve's first cut is +inf


def evaluate(probs: np.ndarray, labels: np.ndarray, threshold: float | None = None) -> dict:
    """Metrics of class probabilities `probs` (N, K) against integer `labels` (N,)."""
    k = probs.shape[1]
    if k > 2:
        pred = probs.argmax(1)
        onehot = label_binarize(labels, classes=list(range(k)))
        return {
            "balanced_accuracy": balanced_accuracy_score(labels, pred),
            "accuracy": accuracy_score(labels, pred),
            "f1": f1_score(labels, pred, average="macro", zero_division=0),
            "roc_auc": roc_auc_score(labels, probs, multi_class="ovr", average="macro"),
            "pr_auc": average_precision_score(onehot, probs, average="macro"),
        }
    scores = probs[:, 1]
    if threshold is None:
        threshold = tune_threshold(scores, labels)
    out = {"threshold": threshold}
    for suffix, cut in (("", threshold), ("_05", 0.5)):
        pred = (scores >= cut).astype(np.int64)
        out |= {
            f"balanced_accuracy{suffix}": balanced_accuracy_score(labels, pred),
            f"accuracy{suffix}": accuracy_score(labels, pred),
            f"sensitivity{suffix}": recall_score(labels, pred, pos_label=1, zero_division=0),
            f"specificity{suffix}": recall_score(labels, pred, pos_label=0, zero_division=0),
            f"f1{suffix}": f1_score(labels, pred, pos_label=1, zero_division=0),
        }
    out["roc_auc"] = roc_auc_score(labels, scores)
    out["pr_auc"] = average_precision_score(labels, scores)
    return {key: float(value) for key, value in out.items()}


def confusion(probs: np.ndarray, labels: np.ndarray, threshold: float | None = None) -> dict:
    """Split size, class counts and prevalence, and sklearn's confusion matrix (rows: true
    class, columns: predicted) at `threshold` (binary) or the argmax; binary also by name."""
    k = probs.shape[1]
    pred = probs.argmax(1) if k > 2 or threshold is None else (probs[:, 1] >= threshold)
    matrix = confusion_matrix(labels, pred.astype(np.int64), labels=list(range(k)))
    counts = np.bincount(labels, minlength=k)
    out = {
        "images": int(len(labels)),
        "class_counts": counts.tolist(),
        "prevalence": (counts / max(len(labels), 1)).tolist(),
        "matrix": matrix.tolist(),
    }
    if k == 2:
        (tn, fp), (fn, tp) = matrix.tolist()
        out |= {"tn": tn, "fp": fp, "fn": fn, "tp": tp}
    return out


# Screening fixes a sensitivity and asks for the best specificity there (--objective
# spec@sens=L); these levels are always reported, on validation and test.
SENSITIVITY_LEVELS = (0.90, 0.95, 0.99)


OPERATING_KEY = "specificity_at_sensitivity_"


def operating_key(level: float) -> str:
    """The metric name of specificity at sensitivity `level`: specificity_at_sensitivity_0.95."""
    return f"{OPERATING_KEY}{level:g}"


def levels_reported(metric: str) -> tuple[float, ...]:
    """SENSITIVITY_LEVELS, and the level of `metric` when it is an operating point."""
    _, found, level = metric.partition(OPERATING_KEY)
    extra = (float(level),) if found and float(level) not in SENSITIVITY_LEVELS else ()
    return SENSITIVITY_LEVELS + extra


def operating_points(
    scores: np.ndarray,
    labels: np.ndarray,
    levels: tuple[float, ...] = SENSITIVITY_LEVELS,
    cuts: dict[str, float] | None = None,
) -> dict[str, dict]:
    """Per level (by `f"{level:g}"`): the cut, sensitivity and specificity. Without `cuts`,
    each cut is the highest score at which sensitivity first reaches the level on these
    labels (validation); with `cuts` (from validation), those cuts are applied (test)."""
    fpr, tpr, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    out = {}
    for level in levels:
        name = f"{level:g}"
        if cuts is None:
            first = int(np.argmax(tpr >= level))  # tpr rises to 1, so some point reaches it
            cut = float(min(thresholds[first], 1.0))
        else:
            cut = cuts[name]
        said = scores >= cut
        out[name] = {
            "cut": cut,
            "sensitivity": float(said[labels == 1].mean()),
            "specificity": float((~said)[labels == 0].mean()),
        }
    return out
