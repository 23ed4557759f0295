"""Probabilities that mean what they say: the answer's temperature, fitted on validation.

    temperature = fit_temperature(val_probs, val_labels)      # one number
    calibrated = scale(test_probs, temperature)               # (N, K) -> (N, K)
    figures = calibration_figures(calibrated, test_labels)    # {"ece": ..., "brier": ...}

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017) divides
the log-probabilities by one number that minimises the validation negative log-likelihood. It
keeps every image's rank and, for two classes, the decision at the tuned cut, so balanced
accuracy and ROC-AUC do not move. Chosen over Platt scaling (slope and intercept on the logit)
and isotonic regression on the answers of finished searches (docs/calibration.md): all three
calibrate validation, but under the test acquisition's shift Platt's
intercept (it puts back the class prior that balanced training removed) and isotonic's steps
made test calibration worse than no calibration, where the temperature made it better.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.metrics import brier_score_loss

ECE_BINS = 10
TEMPERATURE_BOUNDS = (0.05, 20.0)
FLOOR = 1e-12  # a float32 softmax can round a class's probability to 0: log of it is -inf


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Class probabilities (N, K) with their log-probabilities divided by `temperature`."""
    z = np.log(np.clip(probs, FLOOR, 1.0)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of `labels` (scipy's
    bounded Brent search: one parameter, no gradient code of our own)."""

    def nll(temperature: float) -> float:
        p = scale(probs, temperature)[np.arange(len(labels)), labels]
        return float(-np.log(np.clip(p, FLOOR, 1.0)).mean())

    return float(minimize_scalar(nll, bounds=TEMPERATURE_BOUNDS, method="bounded").x)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray) -> float:
    """Top-label ECE over 10 equal-width confidence bins (Guo et al. 2017): the mean gap
    between confidence and accuracy, weighted by each bin's share of images. Written here
    because scikit-learn has no ECE (its calibration_curve gives the bins, not the gap)."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    gap = 0.0
    for b in np.unique(bins):
        inside = bins == b
        gap += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(gap)


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """The Brier score: scikit-learn's for two classes (the positive class's probability);
    the mean squared distance to the one-hot label, summed over classes, for more."""
    if probs.shape[1] == 2:
        return float(brier_score_loss(labels, probs[:, 1]))
    onehot = np.eye(probs.shape[1])[labels]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def positive_class_ece(probs: np.ndarray, labels: np.ndarray) -> float:
    """ECE of the positive class's probability itself (two classes), over 10 equal-width
    bins of it: what the reliability diagram draws. Top-label ECE folds p and 1 - p
    together, so a probability pulled towards the minority by class weights (0.49 on
    average where 74% are positive) can score 0.025 there and 0.25 here."""
    p = probs[:, 1]
    bins = np.minimum((p * ECE_BINS).astype(int), ECE_BINS - 1)
    gap = 0.0
    for b in np.unique(bins):
        inside = bins == b
        gap += inside.mean() * abs((labels[inside] == 1).mean() - p[inside].mean())
    return float(gap)


def calibration_figures(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-label ECE, the Brier score and, for two classes, the positive class's ECE."""
    found = {"ece": expected_calibration_error(probs, labels), "brier": brier(probs, labels)}
    if probs.shape[1] == 2:
        found["ece_positive"] = positive_class_ece(probs, labels)
    return found
