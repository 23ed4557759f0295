"""Scores and decisions of known shape, for the cut, shift and interval tests."""

import numpy as np


def two_class_scores(normal_logit: float, pneumonia_logit: float, n: tuple[int, int], seed: int):
    """Positive-class probabilities of two classes whose logits are normal around the given
    centres, and their labels."""
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.normal(normal_logit, 1, n[0]), rng.normal(pneumonia_logit, 1, n[1])])
    return 1 / (1 + np.exp(-z)), np.repeat([0, 1], n)


def decisions_wrong_on(labels: np.ndarray, share: float, seed: int) -> np.ndarray:
    """The labels with a random `share` of each class's images flipped: 0/1 decisions whose
    balanced accuracy is 1 - share."""
    rng = np.random.default_rng(seed)
    said = labels.copy()
    for cls in (0, 1):
        where = np.flatnonzero(labels == cls)
        said[rng.choice(where, int(share * len(where)), replace=False)] ^= 1
    return said
