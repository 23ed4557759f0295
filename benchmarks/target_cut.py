"""The answer's cut chosen from the target's own unlabelled scores: a first measurement.

    python -m benchmarks.target_cut                       # every finished efficiency search
    python -m benchmarks.target_cut --searches results/efficiency/searches

Under the Kermany test acquisition the models still rank images well but the cut tuned on
validation lands in the wrong place (BENCHMARKS.md, "Selection fidelity"). A site has its own
images before their labels, so the cut can be read off their scores. For each search that
`benchmarks.efficiency` finished, this scores the answer (the mean of its members'
probabilities, from their checkpoints) on validation and test, and compares cuts on the test
split, no test label read by any rule but the oracle:

- `val`: Youden's J on validation (what the product does);
- `mixture`: where a 2-component Gaussian mixture fitted to the test scores' logits
  (scikit-learn `GaussianMixture`) hands an image from one component to the other;
- `detected`: the mixture cut only when a two-sample Kolmogorov-Smirnov test between the
  validation and test logits (scipy `ks_2samp`) rejects at p < 0.01, else `val` ("Failing
  Loudly", Rabanser et al. 2019, detects shift from model outputs this way);
- `detected (corrected)`: the mixture cut only when a shift test that a new class mix alone
  does not trip rejects at p < 0.01: validation reweighted to the target's class mix,
  estimated without labels (black-box shift estimation, Lipton et al. 2018), against the
  target (label_shift_corrected_p). Balanced accuracy does not move with the class mix, so
  only a shift within the classes should move the cut;
- `oracle`: the best cut on the test labels (an upper bound, not a rule).

The no-shift control runs the same rules inside validation: one random half tunes `val`, the
other half is the target (5 splits, mean). Figures with provenance go to
benchmarks/target_cut.json; the answer's scores are cached under --cache.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.efficiency import OUT, member_probabilities

FIGURES = Path("benchmarks/target_cut.json")
KS_ALPHA = 0.01
DRAWS = 300  # bootstrap draws of the label-shift-corrected test's null distribution
HALF_SPLITS = 5


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


def shift_p_value(source: np.ndarray, target: np.ndarray) -> float:
    """Kolmogorov-Smirnov two-sample p-value between two sets of scores' logits."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(logit(source), logit(target)).pvalue)


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


def cut_rules(
    val: np.ndarray, val_y: np.ndarray, target: np.ndarray, target_y: np.ndarray
) -> dict[str, float]:
    """Balanced accuracy on the target at each rule's cut (labels used by `oracle` alone)."""
    from sklearn.metrics import balanced_accuracy_score

    from trainable.metrics import tune_threshold

    def score(cut: float) -> float:
        return float(balanced_accuracy_score(target_y, (target >= cut).astype(np.int64)))

    val_cut, mixture = tune_threshold(val, val_y), mixture_cut(target)
    p = shift_p_value(val, target)
    corrected = label_shift_corrected_p(val, val_y, val_cut, target)
    return {
        "val": score(val_cut),
        "mixture": score(mixture),
        "detected": score(mixture if p < KS_ALPHA else val_cut),
        "detected_corrected": score(mixture if corrected < KS_ALPHA else val_cut),
        "oracle": score(tune_threshold(target, target_y)),
        "ks_p": p,
        "corrected_p": corrected,
    }


def answer_scores(experiment: Path, cache: Path) -> dict[str, np.ndarray]:
    """The answer's positive-class probabilities and labels on validation and test."""
    path = cache / f"{experiment.name}.npz"
    if path.exists():
        return dict(np.load(path))
    from search.answer import average

    data, _, probs = member_probabilities(experiment)
    scores = {split: average([p[split] for p in probs])[:, 1] for split in ("val", "test")}
    scores |= {"val_y": data.val_y, "test_y": data.test_y}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **scores)
    return scores


def no_shift_control(val: np.ndarray, val_y: np.ndarray) -> dict[str, float]:
    """The rules with one half of validation as the source and the other as the target."""
    from sklearn.model_selection import train_test_split

    runs = []
    for seed in range(HALF_SPLITS):
        a, b = train_test_split(np.arange(len(val_y)), test_size=0.5, stratify=val_y,
                                random_state=seed)  # fmt: skip
        runs.append(cut_rules(val[a], val_y[a], val[b], val_y[b]))
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}


RULES = ("val", "mixture", "detected", "detected_corrected", "oracle")


def cells(rules: dict) -> str:
    """One table cell: each rule's balanced accuracy, then both tests' p-values."""
    figures = " / ".join(f"{rules[k]:.4f}" for k in RULES)
    return f"{figures} (KS {rules['ks_p']:.1e}, corrected {rules['corrected_p']:.3f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.target_cut", description=__doc__)
    p.add_argument("--searches", type=Path, default=OUT / "searches")
    p.add_argument("--cache", type=Path, default=OUT / "answer_scores")
    args = p.parse_args(argv)
    from benchmarks.provenance import provenance

    rows = {}
    head = (
        "| search | test: val / mixture / detected / detected (corrected) / oracle "
        "(p-values) | val halves: the same |"
    )
    print(head + "\n|---|---|---|")
    for report in sorted(args.searches.glob("*/test_metrics.json")):
        experiment = report.parent
        s = answer_scores(experiment, args.cache)
        test = cut_rules(s["val"], s["val_y"], s["test"], s["test_y"])
        halves = no_shift_control(s["val"], s["val_y"])
        rows[experiment.name] = {"test": test, "val_halves": halves}
        print(f"| {experiment.name} | {cells(test)} | {cells(halves)} |", flush=True)
    FIGURES.write_text(json.dumps({"searches": rows, "provenance": provenance()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
