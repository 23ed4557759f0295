"""95% intervals over the test images: how sure a test figure or a margin is.

    low, high = interval(balanced_accuracy, labels, said)                 # one model
    low, high = margin_interval(labels, answer_said, reference_said)     # two, paired
    judge(low, high)                                 # "better", "worse", "no clear difference"
    spread = seed_spread([(config, test_score), ...])      # between training seeds
    low, high = with_seed_spread(margin, low, high, spread, answer_models)

A percentile bootstrap (scipy.stats.bootstrap, 1000 resamples of the test images, fixed seed),
paired where two models are compared on the same images, so what the images share cancels.
The metrics are numpy forms of scikit-learn's that score all resamples at once along the last
axis: scikit-learn one resample at a time took 15 s per search for four metrics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap, rankdata

RESAMPLES = 1000


def interval(statistic: Callable, *samples: np.ndarray) -> tuple[float, float]:
    """The 95% percentile bootstrap interval of `statistic` over paired samples (images);
    `statistic` takes arrays with the images on the last axis (scipy's vectorized form)."""
    result = bootstrap(
        samples,
        statistic,
        paired=True,
        vectorized=True,
        n_resamples=RESAMPLES,
        method="percentile",
        random_state=0,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def sensitivity(y: np.ndarray, said: np.ndarray, axis: int = -1) -> np.ndarray:
    return (said * (y == 1)).sum(axis) / (y == 1).sum(axis)


def specificity(y: np.ndarray, said: np.ndarray, axis: int = -1) -> np.ndarray:
    return ((1 - said) * (y == 0)).sum(axis) / (y == 0).sum(axis)


def balanced_accuracy(y: np.ndarray, said: np.ndarray, axis: int = -1) -> np.ndarray:
    return (sensitivity(y, said, axis) + specificity(y, said, axis)) / 2


def roc_auc(y: np.ndarray, scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """The Mann-Whitney form: the chance a positive image outscores a negative one."""
    ranks = rankdata(scores, axis=axis)
    positives = (y == 1).sum(axis)
    negatives = (y == 0).sum(axis)
    above = (ranks * (y == 1)).sum(axis) - positives * (positives + 1) / 2
    return above / (positives * negatives)


def margin_interval(y: np.ndarray, said_a: np.ndarray, said_b: np.ndarray) -> tuple[float, float]:
    """The interval of balanced accuracy of decisions `said_a` minus that of `said_b` (0/1
    per image), both resampled with the same images."""

    def margin(y, a, b, axis=-1):
        return balanced_accuracy(y, a, axis) - balanced_accuracy(y, b, axis)

    return interval(margin, y, said_a, said_b)


def judge(low: float, high: float) -> str:
    """A margin's interval in words: which side of zero it lies, if either."""
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    return "no clear difference"


@dataclass(frozen=True)
class SeedSpread:
    """The standard deviation of one model's test figure between training seeds, pooled over
    the configs trained with more than one seed, and its degrees of freedom."""

    sd: float
    df: int
    configs: int


def seed_spread(runs: Sequence[tuple[dict, float]]) -> SeedSpread | None:
    """Pooled within-config spread of a test figure over (config, figure) pairs: runs whose
    configs differ only in the seed form a group; None when no group has two runs."""
    groups: dict[str, list[float]] = {}
    for config, figure in runs:
        key = json.dumps({k: v for k, v in config.items() if k != "seed"}, sort_keys=True)
        groups.setdefault(key, []).append(figure)
    repeated = [np.asarray(g) for g in groups.values() if len(g) > 1]
    if not repeated:
        return None
    squares = sum(float(((g - g.mean()) ** 2).sum()) for g in repeated)
    df = sum(len(g) - 1 for g in repeated)
    return SeedSpread(sd=float(np.sqrt(squares / df)), df=df, configs=len(repeated))


def with_seed_spread(
    margin: float, low: float, high: float, spread: SeedSpread, answer_models: int
) -> tuple[float, float]:
    """A paired margin's image interval widened by the seed spread. The reference is one
    model, whose seed moves it by `spread.sd`; the answer a mean of `answer_models`, taken
    as independent draws (sd / sqrt(models)). Each half of the image interval is combined
    in quadrature with the seeds' half-width, Student's t at the spread's degrees of
    freedom, since an sd from a pair or two of runs is itself unsure."""
    half = t_quantile(spread.df) * spread.sd * np.sqrt(1 + 1 / answer_models)
    return (
        margin - float(np.hypot(margin - low, half)),
        margin + float(np.hypot(high - margin, half)),
    )


def t_quantile(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def decisions(probs: np.ndarray, threshold: float) -> np.ndarray:
    """A two-class model's decisions at `threshold`, 0/1 per image (as trainable.metrics)."""
    return (probs[:, 1] >= threshold).astype(np.int64)


def figure_intervals(probs: np.ndarray, y: np.ndarray, threshold: float | None) -> dict | None:
    """Intervals of a two-class model's test balanced accuracy (at `threshold`) and ROC-AUC;
    None for more classes (few images per class) or without a threshold."""
    if probs.shape[1] != 2 or threshold is None:
        return None
    said = decisions(probs, threshold)
    return {
        "balanced_accuracy": list(interval(balanced_accuracy, y, said)),
        "roc_auc": list(interval(roc_auc, y, probs[:, 1])),
    }
