import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from trainable.metrics import confusion, evaluate, operating_points, tune_threshold


def scores_and_labels(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.7).astype(int)
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1)
    return s, y


def test_tuned_threshold_is_the_best_cut_over_every_score():
    s, y = scores_and_labels()
    t = tune_threshold(s, y)
    best = max(balanced_accuracy_score(y, s >= c) for c in np.unique(s))
    assert balanced_accuracy_score(y, s >= t) == pytest.approx(best)
    # far better than the default 0.5 cut on these shifted scores
    assert best > balanced_accuracy_score(y, s >= 0.5)


def test_binary_metrics_agree_with_sklearn():
    s, y = scores_and_labels(seed=1)
    probs = np.stack([1 - s, s], 1)
    m = evaluate(probs, y)
    t = m["threshold"]
    pred = (s >= t).astype(int)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["sensitivity"] == pytest.approx(np.mean(pred[y == 1] == 1))
    assert m["specificity"] == pytest.approx(np.mean(pred[y == 0] == 0))
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["balanced_accuracy_05"] == pytest.approx(balanced_accuracy_score(y, s >= 0.5))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    # a threshold passed in is applied, not re-tuned
    assert evaluate(probs, y, threshold=0.5)["balanced_accuracy"] == m["balanced_accuracy_05"]


def test_multiclass_uses_argmax_and_macro_averages():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + 2 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    m = evaluate(probs, y)
    assert "threshold" not in m
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, probs.argmax(1)))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr"))


def test_confusion_counts_at_the_threshold_with_sizes_and_prevalence():
    labels = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.6, 0.2, 0.7, 0.4])
    probs = np.stack([1 - scores, scores], axis=1)
    c = confusion(probs, labels, threshold=0.5)
    assert (c["tn"], c["fp"], c["fn"], c["tp"]) == (2, 1, 1, 1)
    assert c["images"] == 5 and c["class_counts"] == [3, 2] and c["prevalence"] == [0.6, 0.4]
    assert confusion(probs, labels, threshold=0.35)["tp"] == 2  # the cut decides


def test_operating_points_take_the_cut_where_sensitivity_first_reaches_the_level():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.35, 0.7, 0.3, 0.6, 0.8, 0.9])
    val = operating_points(scores, labels, levels=(0.75, 0.9))
    # 3 of 4 positives from 0.6 on: one normal (0.7) above it
    assert val["0.75"] == {"cut": 0.6, "sensitivity": 0.75, "specificity": 0.75}
    # all 4 need the cut at 0.3, which lets the 0.35 and 0.7 normals through
    assert val["0.9"] == {"cut": 0.3, "sensitivity": 1.0, "specificity": 0.5}
    # on other data the validation cuts are applied, whatever sensitivity they reach there
    test = operating_points(scores[::-1], labels, levels=(0.75,), cuts={"0.75": 0.6})
    assert test["0.75"]["cut"] == 0.6 and test["0.75"]["sensitivity"] == 0.25
