"""Noise images with a faint bright square on the minority class: smoke tests only, never a
result.

    data = make_synthetic(n_train=160, n_eval=64)
"""

from __future__ import annotations

import numpy as np

from trainable.data.arrays import Data


def make_synthetic(
    n_train: int = 480,
    n_eval: int = 160,
    size: int = 28,
    minority_share: float = 0.25,
    seed: int = 0,
) -> Data:
    """Noise images; the minority class carries a faint bright square. Never a result."""
    rng = np.random.default_rng(seed)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) >= minority_share).astype(np.int64)  # class 0 is the minority
        x = rng.normal(100, 30, size=(n, 1, size, size))
        for i in np.flatnonzero(y == 0):
            r, c = rng.integers(2, size - 10, size=2)
            x[i, 0, r : r + 8, c : c + 8] += 60
        return np.clip(x, 0, 255).astype(np.uint8), y

    return Data(*make(n_train), *make(n_eval), *make(n_eval), classes=["minority", "majority"])
