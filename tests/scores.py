"""Positive-class scores of known shape, for the cut and shift tests."""

import numpy as np


def two_class_scores(normal_logit: float, pneumonia_logit: float, n: tuple[int, int], seed: int):
    """Positive-class probabilities of two classes whose logits are normal around the given
    centres, and their labels."""
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.normal(normal_logit, 1, n[0]), rng.normal(pneumonia_logit, 1, n[1])])
    return 1 / (1 + np.exp(-z)), np.repeat([0, 1], n)
