"""The answer's cut moved to a new site's images when they show a shift, read off their scores
alone: no label of theirs is used.

    decision = adapted_cut(val_scores, val_labels, tuned_cut, site_scores)
    decision.cut, decision.p_value, decision.shifted

Under a new acquisition the models may still rank images well while the cut tuned on
validation lands in the wrong place (docs/adapted-cut.md). Two steps:

1. Is there a shift that matters? Balanced accuracy does not move with the class mix, so a
   site that merely has more normal images should keep its cut. The test reweights validation
   to the site's class mix, estimated without labels by black-box shift estimation (Lipton,
   Wang & Smola, ICML 2018), and compares it with the site's scores by the Kolmogorov-Smirnov
   gap of their logits, with a bootstrap p-value ("Failing Loudly", Rabanser et al. 2019,
   tests model outputs this way; plain KS called a new class mix a shift).
2. If so, the cut is where a 2-component Gaussian mixture of the site's logits hands an image
   from one component to the other (scikit-learn's GaussianMixture).

Opt-in (`search.predict --adapt`); what it gains and costs, its false alarms, and how adapted
references compare: docs/adapted-cut.md (the mixture of logits was kept over a mixture of
probabilities, Otsu's cut and a mixture started at validation's classes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHA = 0.01  # the shift test's level
DRAWS = 300  # bootstrap draws of its null distribution
# What it flagged on targets without shift (benchmarks/shift_level.json): one half of
# validation against the other, for every full-budget model and answer of the ratio
# benchmark's searches; and images held out of the training split, which may share patients
# with training (a real difference or false alarms: nobody knows). Wherever the test is
# reported both are said beside it (tests/benchmarks/test_shift_level.py holds them to the
# JSON): at p < 0.01 it cannot promise 1 in 100 on a new site's images.
FALSE_ALARMS = {
    "validation_halves": {"flagged": 2, "targets": 324},
    "held_out_training_images": {"flagged": 32, "targets": 405},
}


def p_words(p: float, draws: int = DRAWS) -> str:
    """The shift test's p-value as it can be stated: 'p 0.0415', or, where no draw of the null
    came as far, 'p <= 0.0033 (none of 300 draws as large)': 1 / (draws + 1) is the smallest
    p that `draws` bootstrap draws can give, a bound, not a measurement."""
    if p <= 1 / (draws + 1) + 1e-12:
        return f"p <= {1 / (draws + 1):.2g} (none of {draws} draws as large)"
    return f"p {p:.3g}"


def false_alarm_words() -> str:
    halves, held = FALSE_ALARMS["validation_halves"], FALSE_ALARMS["held_out_training_images"]
    return (
        f"without shift it flagged {halves['flagged']} of {halves['targets']} validation "
        f"halves, and {held['flagged']} of {held['targets']} sets of held-out training images "
        "(which may share patients with training; benchmarks/shift_level.json)"
    )


@dataclass(frozen=True)
class Decision:
    cut: float  # the cut to apply to the site's positive-class probabilities
    p_value: float  # the shift test's
    shifted: bool  # p_value < ALPHA: the cut was moved


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def mixture_cut(scores: np.ndarray, seed: int = 0) -> float:
    """The positive-class probability where a 2-component Gaussian mixture of the scores'
    logits puts an image in the upper component rather than the lower one."""
    from sklearn.mixture import GaussianMixture

    z = logit(scores)[:, None]
    mixture = GaussianMixture(2, random_state=seed).fit(z)
    means = mixture.means_.ravel()
    upper = int(np.argmax(means))
    grid = np.linspace(means.min(), means.max(), 2001)[:, None]
    crossing = grid[np.argmax(mixture.predict_proba(grid)[:, upper] >= 0.5), 0]
    return float(1 / (1 + np.exp(-crossing)))


def label_shift_weights(val: np.ndarray, val_y: np.ndarray, cut: float, target: np.ndarray):
    """Per-class weights w_y = q_y / p_y that turn validation's class mix p into the
    target's q, estimated without target labels by black-box shift estimation (Lipton et al.,
    ICML 2018): the target's share of images said positive at `cut` is the validation
    confusion matrix times q; solved for q, clipped into [0, 1]."""
    said = val >= cut
    confusion = np.array(
        [[np.mean(~said[val_y == y]) for y in (0, 1)], [np.mean(said[val_y == y]) for y in (0, 1)]]
    )  # rows: said 0 / 1; columns: true class
    mu = np.array([np.mean(target < cut), np.mean(target >= cut)])
    try:
        q = np.linalg.solve(confusion, mu)
    except np.linalg.LinAlgError:
        q = np.bincount(val_y, minlength=2) / len(val_y)
    q = np.clip(q, 1e-3, 1)
    q /= q.sum()
    return q / (np.bincount(val_y, minlength=2) / len(val_y))


def weighted_ks(source: np.ndarray, weights: np.ndarray, target: np.ndarray) -> float:
    """The largest gap between the target's distribution function and the weighted source's."""
    order = np.argsort(source)
    xs, cw = source[order], np.cumsum(weights[order]) / weights.sum()
    grid = np.concatenate([xs, np.sort(target)])
    f_source = np.concatenate([[0.0], cw])[np.searchsorted(xs, grid, side="right")]
    f_target = np.searchsorted(np.sort(target), grid, side="right") / len(target)
    return float(np.abs(f_source - f_target).max())


def label_shift_corrected_p(
    val: np.ndarray, val_y: np.ndarray, cut: float, target: np.ndarray, draws: int = DRAWS
) -> float:
    """A shift test that a change of class mix alone does not trip: validation reweighted to
    the target's estimated class mix (label_shift_weights) against the target, by the
    Kolmogorov-Smirnov gap of their logits; its null distribution by the parametric
    bootstrap (each draw a resample of validation as the source and a target-sized sample of
    reweighted validation as the target, weights estimated again, as on the real target).
    Written here: scipy's ks_2samp takes no weights."""
    z_val, z_target = logit(val), logit(target)
    w = label_shift_weights(val, val_y, cut, target)[val_y]
    observed = weighted_ks(z_val, w, z_target)
    rng = np.random.default_rng(0)
    null = []
    for _ in range(draws):  # a new source sample and a target drawn from it reweighted
        source = rng.choice(len(val), size=len(val))
        drawn = rng.choice(len(val), size=len(target), p=w / w.sum())
        s, s_y = val[source], val_y[source]
        w_drawn = label_shift_weights(s, s_y, cut, val[drawn])[s_y]
        null.append(weighted_ks(z_val[source], w_drawn, z_val[drawn]))
    return float((1 + np.sum(np.array(null) >= observed)) / (1 + draws))


def adapted_cut(
    val: np.ndarray, val_y: np.ndarray, cut: float, target: np.ndarray, draws: int = DRAWS
) -> Decision:
    """The mixture cut of the target's scores when the shift test rejects, else `cut`."""
    p = label_shift_corrected_p(val, val_y, cut, target, draws)
    shifted = p < ALPHA
    return Decision(mixture_cut(target) if shifted else cut, p, shifted)
