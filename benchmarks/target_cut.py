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
from search.adapt import adapted_cut, logit, mixture_cut

FIGURES = Path("benchmarks/target_cut.json")
KS_ALPHA = 0.01
HALF_SPLITS = 5


def shift_p_value(source: np.ndarray, target: np.ndarray) -> float:
    """Kolmogorov-Smirnov two-sample p-value between two sets of scores' logits."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(logit(source), logit(target)).pvalue)


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
    corrected = adapted_cut(val, val_y, val_cut, target)  # the product's rule (search.adapt)
    return {
        "val": score(val_cut),
        "mixture": score(mixture),
        "detected": score(mixture if p < KS_ALPHA else val_cut),
        "detected_corrected": score(corrected.cut),
        "oracle": score(tune_threshold(target, target_y)),
        "ks_p": p,
        "corrected_p": corrected.p_value,
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
