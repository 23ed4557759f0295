"""Temperature scaling on real scores: a pixel-wise logistic regression on PneumoniaMNIST."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from search.stats.calibration import (
    brier,
    calibration_figures,
    expected_calibration_error,
    fit_temperature,
    scale,
)
from trainable.metrics import evaluate

pytestmark = pytest.mark.integration  # a model trained on real PneumoniaMNIST images


@pytest.fixture(scope="module")
def scores(pneumoniamnist):
    """Validation and test class probabilities of a quick, real classifier, and the labels."""

    def flat(x):
        return x.reshape(len(x), -1) / 255.0

    model = LogisticRegression(max_iter=200).fit(
        flat(pneumoniamnist.train_x), pneumoniamnist.train_y
    )
    val = model.predict_proba(flat(pneumoniamnist.val_x))
    test = model.predict_proba(flat(pneumoniamnist.test_x))
    return val, pneumoniamnist.val_y, test, pneumoniamnist.test_y


def test_an_overconfident_model_is_cooled_back(scores):
    val, val_y, _, _ = scores
    fitted = fit_temperature(val, val_y)
    overconfident = scale(val, 1 / 3)  # log-probabilities tripled
    assert fit_temperature(overconfident, val_y) == pytest.approx(3 * fitted, rel=0.02)
    before = expected_calibration_error(overconfident, val_y)
    after = expected_calibration_error(
        scale(overconfident, fit_temperature(overconfident, val_y)), val_y
    )
    assert after < before / 2


def test_scaling_keeps_every_decision_at_the_tuned_cut(scores):
    val, val_y, test, test_y = scores
    t = fit_temperature(val, val_y)
    raw = evaluate(val, val_y)
    calibrated = evaluate(scale(val, t), val_y)
    assert calibrated["balanced_accuracy"] == pytest.approx(raw["balanced_accuracy"])
    assert calibrated["roc_auc"] == pytest.approx(raw["roc_auc"])
    test_raw = evaluate(test, test_y, raw["threshold"])
    test_cal = evaluate(scale(test, t), test_y, calibrated["threshold"])
    assert test_cal["balanced_accuracy"] == pytest.approx(test_raw["balanced_accuracy"])
    np.testing.assert_allclose(scale(test, 1.0), test, atol=1e-12)
    np.testing.assert_allclose(scale(test, t).sum(axis=1), 1.0)


def test_ece_and_brier_by_hand():
    probs = np.array([[0.1, 0.9], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([1, 0, 0, 1])
    # confidence bins: 0.9 (right), 0.8 (wrong), 0.6 (right), 0.7 (right)
    assert expected_calibration_error(probs, labels) == pytest.approx(
        0.25 * 0.1 + 0.25 * 0.8 + 0.25 * 0.4 + 0.25 * 0.3
    )
    assert brier(probs, labels) == pytest.approx(np.mean([0.01, 0.64, 0.16, 0.09]))
    three = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    assert brier(three, np.array([0, 1])) == pytest.approx(
        np.mean([0.09 + 0.04 + 0.01, 0.01 + 0.81 + 0.64])
    )
    assert set(calibration_figures(probs, labels)) == {"ece", "brier", "ece_positive"}
    assert set(calibration_figures(three, np.array([0, 1]))) == {"ece", "brier"}


def test_the_positive_class_ece_sees_a_pull_the_top_label_ece_folds_away():
    # every image said 0.4 positive where 3 in 4 are: the top label (0.6 "negative") is
    # wrong 3 times in 4, the positive probability is 0.35 too low in every bin it fills
    probs = np.tile([0.6, 0.4], (8, 1))
    labels = np.array([1, 1, 1, 0, 1, 1, 1, 0])
    figures = calibration_figures(probs, labels)
    assert figures["ece_positive"] == pytest.approx(0.75 - 0.4)
    assert figures["ece"] == pytest.approx(abs(0.25 - 0.6))
