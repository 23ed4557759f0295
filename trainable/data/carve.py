"""A validation split carved out of training images, stratified by class and grouped by
patient (ids parsed from file names), so no patient sits on both sides.

    groups = patient_ids(names, DEFAULT_PATIENT_PATTERN)
    train_idx, val_idx = carve_validation(labels, groups, val_fraction=0.1, seed=0)
"""

from __future__ import annotations

import itertools
import re

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from trainable.config import UserError


def patient_ids(names: list[str], pattern: str) -> np.ndarray:
    """Patient id of each file name: the pattern's first group, else the whole name."""
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise UserError(f"--patient-pattern is not a valid regular expression ({e})") from None
    return np.array([_patient_id(regex.match(name), name) for name in names])


def _patient_id(match: re.Match | None, name: str) -> str:
    """The first group that matched something, else the whole match, else the name: an
    optional group or one side of an alternation may match nothing, and an empty id would
    make every such file one patient."""
    if match is None:
        return name
    found = [g for g in match.groups() if g] or [match.group(0)]
    return found[0] or name


def carve_validation(
    labels: np.ndarray, groups: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, val), stratified by class, no group on both sides.

    sklearn's StratifiedGroupKFold does both at once; validation is `m` of its `k` folds,
    m / k the fraction nearest `val_fraction` with k at most 50 (0.1: 1 of 10, 0.4: 2 of 5;
    one fold of round(1 / fraction) carved 0.5 for 0.4).
    """
    if len(np.unique(labels)) < 2:
        raise UserError("training data has one class only; an imbalance search needs at least two")
    n_splits, n_val = fold_counts(val_fraction)
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    try:
        splits = folds.split(np.zeros(len(labels)), labels, groups)
        held = [val for _, val in itertools.islice(splits, n_val)]
        val_idx = np.concatenate(held)
        train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    except ValueError as e:  # fewer patients than folds
        raise UserError(
            f"too few images to carve a validation split ({e}); add images, "
            "raise --val-fraction or provide a val/ folder"
        ) from None
    return np.sort(train_idx), np.sort(val_idx)


def fold_counts(val_fraction: float, most: int = 50) -> tuple[int, int]:
    """(k, m): m of k folds nearest `val_fraction`, the smallest k among equals."""
    options = [(abs(round(val_fraction * k) / k - val_fraction), k) for k in range(2, most + 1)]
    _, k = min(o for o in options if round(val_fraction * o[1]) >= 1)
    return k, round(val_fraction * k)
