"""Selection scores and answer procedures, computed from what `fidelity train` recorded.

    python -m benchmarks.fidelity analyse --out results/fidelity-gpu --out results/fidelity-gpu-s1

For each run folder (one config draw, trained in every setting) and setting:
- every config's truth: test balanced accuracy of its last-epoch model at the threshold tuned
  on its own validation probabilities (what the report prints for a trial);
- each candidate selection score: Spearman correlation with the truth over the drawn configs,
  and the regret of the config it picks among all of them;
- each answer procedure, over many random `trials`-config subsets (a search's worth of
  configs): the answer's mean test balanced accuracy, and the share of subsets in which it is
  at least as good as both references (plain baseline, seed recipe) on test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import log_loss, roc_auc_score

from search.answer.rules import ENSEMBLE_SIZE, Trial, average_positive, one_image, the_answer
from trainable import metrics
from trainable.files import write_text

REFERENCES = ("baseline", "seed_recipe")
ROUNDS = 25  # AutoGluon's default ensemble_size


@dataclass
class Run:
    """One config in one setting: pneumonia probabilities per epoch and at the last epoch."""

    val: np.ndarray  # (epochs, N_val), the setting's own split
    test: np.ndarray  # (epochs, N_test)
    val_loss: np.ndarray  # (epochs,)
    last: dict[str, np.ndarray]  # last epoch: val_shift3/5, val_robust, val_flip, test_flip
    folds: list[np.ndarray] = field(default_factory=list)  # last-epoch val of reshuffled carves


@dataclass
class Setting:
    name: str
    runs: dict[str, Run]
    val_y: np.ndarray
    test_y: np.ndarray
    fold_y: list[np.ndarray]


def load_setting(folder: Path) -> Setting:
    runs, fold_y = {}, []
    for f0 in sorted(folder.glob("*_f0.npz")):
        name = f0.name.removesuffix("_f0.npz")
        with np.load(f0) as z:
            a = dict(z)
        folds = []
        for k in range(1, 10):
            fk = folder / f"{name}_f{k}.npz"
            if not fk.exists():
                break
            with np.load(fk) as z:
                folds.append(z["val"][-1])
                if len(fold_y) < k:
                    fold_y.append(z["val_y"])
        last = {k: v for k, v in a.items() if k.startswith(("val_", "test_")) and v.ndim == 1}
        runs[name] = Run(a["val"], a["test"], a["val_loss"], last, folds)
        val_y, test_y = a["val_y"], a["test_y"]
    return Setting(folder.name, runs, val_y, test_y, fold_y)


# --- metrics on pneumonia probabilities -----------------------------------------------
# The procedures below tune thousands of thresholds and score thousands of candidate
# ensembles; sklearn's input checks dominate at 500 images, so these two are numpy, checked
# against sklearn (trainable.metrics.tune_threshold, roc_auc_score) once at import.


def tune_threshold(p: np.ndarray, y: np.ndarray) -> float:
    """As trainable.metrics.tune_threshold: the first cut, from the top, with the best TPR-FPR."""
    order = np.argsort(-p, kind="stable")
    sp, sy = p[order], y[order]
    last_of_value = np.r_[sp[1:] != sp[:-1], True]  # every distinct score once
    tp = np.cumsum(sy)[last_of_value]
    fp = np.cumsum(1 - sy)[last_of_value]
    j = np.r_[0.0, tp / sy.sum() - fp / (len(sy) - sy.sum())]
    best = int(np.argmax(j))
    return 1.0 if best == 0 else float(min(sp[last_of_value][best - 1], 1.0))


def fast_auc(p: np.ndarray, y: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic of the ranks (ties get mid-ranks)."""
    from scipy.stats import rankdata

    ranks = rankdata(p)
    pos = y == 1
    n_pos, n_neg = pos.sum(), len(y) - pos.sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _check_fast_metrics() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.7).astype(np.int64)
    p = np.round(np.clip(rng.normal(0.4 + 0.3 * y, 0.2), 0, 1), 2).astype(np.float32)
    assert tune_threshold(p, y) == metrics.tune_threshold(p, y)
    assert abs(fast_auc(p, y) - roc_auc_score(y, p)) < 1e-12


_check_fast_metrics()


def bacc(p: np.ndarray, y: np.ndarray, cut: float) -> float:
    pred = p >= cut
    return 0.5 * (pred[y == 1].mean() + (~pred[y == 0]).mean())


def tuned_bacc(p: np.ndarray, y: np.ndarray) -> float:
    return bacc(p, y, tune_threshold(p, y))


def two_class(p: np.ndarray) -> np.ndarray:
    p = p.astype(np.float64)
    return np.stack([1 - p, p], axis=1)


def equal_error_cut(p: np.ndarray, y: np.ndarray) -> float:
    """The cut where validation sensitivity equals specificity: the midpoint of the two
    classes' score quantiles that balance, a smoother point than Youden's argmax."""
    cuts = np.unique(p)
    sens = np.array([(p[y == 1] >= c).mean() for c in cuts])
    spec = np.array([(p[y == 0] < c).mean() for c in cuts])
    return float(cuts[int(np.argmin(np.abs(sens - spec)))])


def median_midpoint_cut(p: np.ndarray, y: np.ndarray) -> float:
    """The cut half way, in log-odds, between the two classes' median validation scores: the
    middle of the gap between the classes rather than the edge of one of them, which is
    where Youden's argmax lands when validation separates them almost perfectly."""
    z = np.log(np.clip(p, 1e-6, 1 - 1e-6) / np.clip(1 - p, 1e-6, 1))
    mid = (np.median(z[y == 0]) + np.median(z[y == 1])) / 2
    return float(1 / (1 + np.exp(-mid)))


CUTS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "val": tune_threshold,  # Youden's J on validation: the product's rule
    "eer": equal_error_cut,
    "mid": median_midpoint_cut,
    "0.5": lambda p, y: 0.5,
}


def test_at(s: Setting, val_p: np.ndarray, test_p: np.ndarray, cut: str = "val") -> float:
    """Test balanced accuracy with the threshold from validation by rule `cut` (CUTS)."""
    return bacc(test_p, s.test_y, CUTS[cut](val_p, s.val_y))


def truth(s: Setting, r: Run) -> float:
    return test_at(s, r.val[-1], r.test[-1])


# --- candidate selection scores (higher is better) --------------------------------------


def _cv(s: Setting, r: Run, score: Callable) -> float:
    if not r.folds:
        return np.nan
    return float(
        np.mean(
            [score(r.val[-1], s.val_y)]
            + [score(p, y) for p, y in zip(r.folds, s.fold_y, strict=True)]
        )
    )


def _shifted(s: Setting, r: Run, key: str) -> float:
    return bacc(r.last[key], s.val_y, tune_threshold(r.val[-1], s.val_y))


_auc = fast_auc


def _ensemble_score(metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    if metric == "roc_auc":
        return lambda probs, y: fast_auc(probs[:, 1], y)
    # sklearn's log_loss, less its input checks: the mean log probability of the true class
    return lambda probs, y: float(np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1)).mean())


SCORES: dict[str, Callable[[Setting, Run], float]] = {
    "val bal. acc (tuned thr)": lambda s, r: tuned_bacc(r.val[-1], s.val_y),
    "val bal. acc @0.5": lambda s, r: bacc(r.val[-1], s.val_y, 0.5),
    "val ROC-AUC": lambda s, r: _auc(r.val[-1], s.val_y),
    "-val loss": lambda s, r: -float(log_loss(s.val_y, np.clip(r.val[-1], 1e-7, 1 - 1e-7))),
    "robust (current battery)": lambda s, r: _shifted(s, r, "val_robust"),
    "MedMNIST-C sev. 3": lambda s, r: _shifted(s, r, "val_shift3"),
    "MedMNIST-C sev. 5": lambda s, r: _shifted(s, r, "val_shift5"),
    "MedMNIST-C sev. 3 ROC-AUC": lambda s, r: _auc(r.last["val_shift3"], s.val_y),
    "mean of last 3 epochs": lambda s, r: float(
        np.mean([tuned_bacc(p, s.val_y) for p in r.val[-3:]])
    ),
    "val bal. acc, flip TTA": lambda s, r: tuned_bacc(
        (r.val[-1] + r.last["val_flip"]) / 2, s.val_y
    ),
    "3-fold reshuffled CV bal. acc": lambda s, r: _cv(s, r, tuned_bacc),
    "3-fold reshuffled CV ROC-AUC": lambda s, r: _cv(s, r, _auc),
}


def reshuffled_holdout(s: Setting, names: list[str], runs: dict[str, Run]) -> dict[str, float]:
    """Nagler et al.: each config scored on its own reshuffled carve (config i on fold i % 3)."""
    out = {}
    for i, name in enumerate(names):
        r = runs[name]
        if not r.folds:
            return {}
        k = i % (len(r.folds) + 1)
        p, y = (r.val[-1], s.val_y) if k == 0 else (r.folds[k - 1], s.fold_y[k - 1])
        out[name] = tuned_bacc(p, y)
    return out


# --- ensembles -------------------------------------------------------------------------


def greedy_ensemble(
    val_probs: dict[str, np.ndarray],
    val_y: np.ndarray,
    score: Callable[[np.ndarray, np.ndarray], float],
    rounds: int = ROUNDS,
) -> dict[str, int]:
    """Caruana et al. 2004's ensemble selection, with replacement (auto-sklearn's and
    AutoGluon's default): each round adds the model whose addition scores best; the best
    round is kept, repeats act as weights. Returns {model name: times chosen}."""
    names = sorted(val_probs)
    total = np.zeros_like(val_probs[names[0]], dtype=np.float64)
    chosen: list[str] = []
    best_score, best_size = -np.inf, 0
    for _ in range(rounds):
        scores = {n: score((total + val_probs[n]) / (len(chosen) + 1), val_y) for n in names}
        pick = max(names, key=scores.__getitem__)  # ties: the first name, deterministic
        chosen.append(pick)
        total += val_probs[pick]
        if scores[pick] > best_score + 1e-12:  # a longer ensemble must improve, not tie
            best_score, best_size = scores[pick], len(chosen)
    weights: dict[str, int] = {}
    for name in chosen[:best_size]:
        weights[name] = weights.get(name, 0) + 1
    return weights


def blend(probs: dict[str, np.ndarray], weights: dict[str, int]) -> np.ndarray:
    total = sum(weights.values())
    return sum(probs[name] * (w / total) for name, w in weights.items())


# --- answer procedures: (setting, candidate names, per-config scores) -> test bal. acc -----


def best_epoch(s: Setting, r: Run) -> tuple[float, float, int]:
    """A trial's best epoch by val bal. acc (first of ties): its val score, test score, index."""
    per_epoch = [tuned_bacc(p, s.val_y) for p in r.val]
    e = int(np.argmax(per_epoch))
    return per_epoch[e], test_at(s, r.val[e], r.test[e]), e


def best_epoch_argmax(s: Setting, names: list[str], scores: dict) -> float:
    """The product before the fidelity work: the trial and epoch with the best val bal. acc."""
    best = max(names, key=lambda n: scores["best epoch"][n][0])
    return scores["best epoch"][best][1]


def mean_at_best_epochs(
    s: Setting, members: list[str], scores: dict, logits: bool = False
) -> tuple[np.ndarray, ...]:
    """The members' mean validation and test probabilities, each member at its best epoch;
    `logits`: the probability of their mean logit instead."""
    epochs = {n: scores["best epoch"][n][2] for n in members}

    def mean(split: str) -> np.ndarray:
        p = [getattr(s.runs[n], split)[e] for n, e in epochs.items()]
        return average_positive(p) if logits else np.mean(p, axis=0)

    return mean("val"), mean("test")


def top_by_best_epoch(names: list[str], scores: dict) -> list[str]:
    return sorted(names, key=lambda n: -scores["best epoch"][n][0])[:ENSEMBLE_SIZE]


def best_epoch_top_k(
    cut: str = "val", also: tuple[str, ...] = (), logits: bool = False
) -> Callable:
    """The answer of search/answer/rules.py as it was chosen: the mean of the top trials by
    best-epoch val bal. acc, each at its best epoch, thresholded on the mean's validation
    probabilities; `also` adds fixed members (the references) to every mean; `logits`: the
    mean of their logits (search.answer.rules.average, the product's), else of probabilities."""

    def pick(s: Setting, names: list[str], scores: dict) -> float:
        members = top_by_best_epoch(names, scores) + [n for n in also if n in s.runs]
        return test_at(s, *mean_at_best_epochs(s, members, scores, logits), cut)

    return pick


def product_answer(s: Setting, names: list[str], scores: dict) -> float:
    """The product's own answer, chosen by search.answer.rules.the_answer (not a copy of it): the
    models (here every one ran the full budget, the references among them) within one
    validation image of the best, at most five, their logits averaged at their best epochs,
    thresholded on the mean's validation scores."""
    trials = [Trial(n, scores["best epoch"][n][0], {}, complete=True) for n in names]
    chosen = the_answer(trials, trials, one_image(s.val_y, 2))
    members = [t.trial for t in chosen]
    return test_at(s, *mean_at_best_epochs(s, members, scores, logits=True))


def reference_when_clearly_better(images: int) -> Callable:
    """The product's answer, unless the better reference beats it on validation balanced
    accuracy by more than `images` minority-class images (the report's noise unit): then
    that reference, at its best epoch. A guard against an answer that loses to doing nothing."""

    def pick(s: Setting, names: list[str], scores: dict) -> float:
        val_p, test_p = mean_at_best_epochs(s, top_by_best_epoch(names, scores), scores)
        one_image = 0.5 / np.bincount(s.val_y).min()
        refs = [n for n in REFERENCES if n in s.runs]
        ref = max(refs, key=lambda n: scores["best epoch"][n][0])
        if scores["best epoch"][ref][0] > tuned_bacc(val_p, s.val_y) + images * one_image:
            return scores["best epoch"][ref][1]
        return test_at(s, val_p, test_p)

    return pick


def argmax_by(score: str) -> Callable:
    def pick(s: Setting, names: list[str], scores: dict) -> float:
        best = max(names, key=lambda n: scores[score][n])
        return truth(s, s.runs[best])

    return pick


def ensemble(
    metric: str = "roc_auc",
    cut: str = "val",
    tta: bool = False,
    top: int | None = None,
    rank_by: str = "val ROC-AUC",
):
    def pick(s: Setting, names: list[str], scores: dict) -> float:
        pool = names
        if top:  # plain average of the top k by a score
            pool = sorted(names, key=lambda n: -scores[rank_by][n])[:top]
            weights = dict.fromkeys(pool, 1)
        val = {n: _last(s.runs[n], "val", tta) for n in pool}
        if not top:
            weights = greedy_ensemble(
                {n: two_class(v) for n, v in val.items()}, s.val_y, score=_ensemble_score(metric)
            )
        val_p = blend(val, weights)
        test_p = blend({n: _last(s.runs[n], "test", tta) for n in weights}, weights)
        if cut == "shift3":
            shifted = blend({n: s.runs[n].last["val_shift3"] for n in weights}, weights)
            return bacc(test_p, s.test_y, tune_threshold(shifted, s.val_y))
        return test_at(s, val_p, test_p, cut)

    return pick


def _last(r: Run, split: str, tta: bool) -> np.ndarray:
    p = r.val[-1] if split == "val" else r.test[-1]
    return (p + r.last[f"{split}_flip"]) / 2 if tta else p


PROCEDURES: dict[str, tuple[Callable, bool]] = {  # name: (procedure, references as candidates)
    "best trial, best epoch (before)": (best_epoch_argmax, False),
    "top-5 mean, best epochs (of probabilities)": (best_epoch_top_k(), False),
    "top-5 mean, best epochs, thr 0.5": (best_epoch_top_k("0.5"), False),
    "top-5 mean of logits, best epochs": (best_epoch_top_k(logits=True), False),
    "the product's answer: within one image, references in, logits": (product_answer, True),
    "top-5 mean, best epochs, thr at val sens = spec": (best_epoch_top_k("eer"), False),
    "top-5 mean, best epochs, thr at class-median midpoint": (best_epoch_top_k("mid"), False),
    "top-5 mean + seed recipe as a member": (best_epoch_top_k(also=("seed_recipe",)), False),
    "top-5 mean + both references as members": (best_epoch_top_k(also=REFERENCES), False),
    "top-5 mean, a reference if 1 image better on val": (reference_when_clearly_better(1), False),
    "top-5 mean, a reference if 2 images better on val": (reference_when_clearly_better(2), False),
    "top-5 mean, a reference if 4 images better on val": (reference_when_clearly_better(4), False),
    "best trial by val bal. acc": (argmax_by("val bal. acc (tuned thr)"), False),
    "best trial by val ROC-AUC": (argmax_by("val ROC-AUC"), False),
    "best trial by -val loss": (argmax_by("-val loss"), False),
    "best trial by MedMNIST-C sev. 3": (argmax_by("MedMNIST-C sev. 3"), False),
    "best trial by CV bal. acc": (argmax_by("3-fold reshuffled CV bal. acc"), False),
    "best trial by CV ROC-AUC": (argmax_by("3-fold reshuffled CV ROC-AUC"), False),
    "best trial by reshuffled holdout": (argmax_by("reshuffled holdout"), False),
    "best of trials + references, val bal. acc": (argmax_by("val bal. acc (tuned thr)"), True),
    "best of trials + references, val ROC-AUC": (argmax_by("val ROC-AUC"), True),
    "top-3 mean by val ROC-AUC": (ensemble(top=3), False),
    "top-5 mean by val ROC-AUC": (ensemble(top=5), False),
    "top-8 mean by val ROC-AUC": (ensemble(top=8), False),
    "mean of all 12 trials": (ensemble(top=12), False),
    "top-5 mean by val bal. acc": (ensemble(top=5, rank_by="val bal. acc (tuned thr)"), False),
    "top-5 mean by -val loss": (ensemble(top=5, rank_by="-val loss"), False),
    "top-5 mean by MedMNIST-C sev. 3": (ensemble(top=5, rank_by="MedMNIST-C sev. 3"), False),
    "top-5 mean by val ROC-AUC, trials + references": (ensemble(top=5), True),
    "top-5 mean by val ROC-AUC, thr 0.5": (ensemble(top=5, cut="0.5"), False),
    "top-5 mean by val ROC-AUC, flip TTA": (ensemble(top=5, tta=True), False),
    "top-5 mean by val ROC-AUC, thr at val sens = spec": (ensemble(top=5, cut="eer"), False),
    "mean of all 12 trials, thr 0.5": (ensemble(top=12, cut="0.5"), False),
    "mean of all 12 trials, thr at val sens = spec": (ensemble(top=12, cut="eer"), False),
    "greedy ensemble, ROC-AUC": (ensemble("roc_auc"), False),
    "greedy ensemble, log loss": (ensemble("neg_log_loss"), False),
    "greedy ensemble + references, ROC-AUC": (ensemble("roc_auc"), True),
    "greedy ensemble + references, log loss": (ensemble("neg_log_loss"), True),
    "greedy ensemble + refs, ROC-AUC, thr 0.5": (ensemble("roc_auc", "0.5"), True),
    "greedy ensemble + refs, ROC-AUC, thr on MedMNIST-C": (ensemble("roc_auc", "shift3"), True),
    "greedy ensemble + refs, ROC-AUC, flip TTA": (ensemble("roc_auc", tta=True), True),
}


def cuts_under_corruption(s: Setting, subsets: int, trials: int, seed: int = 0) -> dict:
    """A second shift, independent of the test acquisition: each threshold rule's cut, taken
    from the clean validation scores of a top-5 mean (last epochs), applied to the same
    models' scores on MedMNIST-C-corrupted validation (severities 3 and 5)."""
    searched = sorted(n for n in s.runs if n.startswith("c"))
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, list[float]]] = {cut: {"sev3": [], "sev5": []} for cut in CUTS}
    for _ in range(subsets):
        names = rng.choice(searched, size=trials, replace=False).tolist()
        top = sorted(names, key=lambda n: (-tuned_bacc(s.runs[n].val[-1], s.val_y), n))
        top = top[:ENSEMBLE_SIZE]
        val = np.mean([s.runs[n].val[-1] for n in top], axis=0)
        for cut, rule in CUTS.items():
            threshold = rule(val, s.val_y)
            for sev in (3, 5):
                shifted = np.mean([s.runs[n].last[f"val_shift{sev}"] for n in top], axis=0)
                out[cut][f"sev{sev}"].append(bacc(shifted, s.val_y, threshold))
    return {cut: {k: float(np.mean(v)) for k, v in by_sev.items()} for cut, by_sev in out.items()}


def analyse_setting(s: Setting, subsets: int, trials: int, seed: int = 0) -> dict:
    searched = sorted(n for n in s.runs if n.startswith("c"))
    refs = [n for n in REFERENCES if n in s.runs]
    every = searched + refs
    scores = {name: {n: fn(s, s.runs[n]) for n in every} for name, fn in SCORES.items()}
    truths = {n: truth(s, s.runs[n]) for n in every}
    epoch_scores = {n: best_epoch(s, s.runs[n]) for n in every}
    fidelity = {}
    for name, by_config in scores.items():
        x = np.array([by_config[n] for n in searched])
        if np.isnan(x).any():
            continue
        y = np.array([truths[n] for n in searched])
        rho = spearmanr(x, y).statistic
        fidelity[name] = {"spearman": float(rho), "regret": float(y.max() - y[np.argmax(x)])}
    ref_test = {n: truths[n] for n in refs}
    ref_other_cuts = {  # the references under the other threshold rules, for comparison
        f"{n} @{cut}": test_at(s, s.runs[n].val[-1], s.runs[n].test[-1], cut)
        for n in refs
        for cut in ("0.5", "eer", "mid")
    }
    rng = np.random.default_rng(seed)
    results: dict[str, list[float]] = {name: [] for name in PROCEDURES}
    best_in_subset = []
    for _ in range(subsets):
        names = sorted(rng.choice(searched, size=trials, replace=False).tolist())
        holdout = reshuffled_holdout(s, names, s.runs)
        scores["reshuffled holdout"] = holdout | dict.fromkeys(refs, -np.inf)
        scores["best epoch"] = epoch_scores
        best_in_subset.append(max(truths[n] for n in names))
        for name, (procedure, with_refs) in PROCEDURES.items():
            if "holdout" in name and not holdout or ("CV" in name and not s.fold_y):
                continue
            results[name].append(procedure(s, names + refs if with_refs else names, scores))
    bar = max(ref_test.values())
    procedures = {
        name: {
            "mean": float(np.mean(v)),
            "at_least_both_refs": float(np.mean(np.array(v) >= bar - 1e-12)),
            "regret": float(np.mean(np.array(best_in_subset) - np.array(v))),
        }
        for name, v in results.items()
        if v
    }
    return {
        "configs": len(searched),
        "references_test": ref_test,
        "references_test_other_thresholds": ref_other_cuts,
        "default_test": truths.get("default"),
        "best_config_test": max(truths[n] for n in searched),
        "fidelity": fidelity,
        "procedures": procedures,
        "cuts_under_corruption": cuts_under_corruption(s, subsets, trials, seed),
    }


def analyse(outs: list[Path], subsets: int, trials: int, json_path: Path | None) -> dict:
    started = time.perf_counter()
    report = {}
    for out in outs:
        for folder in sorted(p for p in out.iterdir() if p.is_dir()):
            s = load_setting(folder)
            key = f"{out.name}/{folder.name}"
            report[key] = analyse_setting(s, subsets, trials)
            print(f"analysed {key} ({time.perf_counter() - started:.0f}s)", flush=True)
    print(format_tables(report))
    if json_path:
        write_text(json_path, json.dumps(report, indent=1) + "\n")
        print(f"wrote {json_path}")
    return report


def format_tables(report: dict) -> str:
    keys = list(report)
    short = [k.split("/")[0].removeprefix("fidelity-") + "/" + k.split("/")[1] for k in keys]
    lines = ["Spearman with test bal. acc (regret of its pick among all configs)", ""]
    lines.append("| score | " + " | ".join(short) + " | mean rho |")
    lines.append("|---|" + "---:|" * (len(keys) + 1))
    for score in SCORES:
        cells, rhos = [], []
        for k in keys:
            f = report[k]["fidelity"].get(score)
            cells.append(f"{f['spearman']:+.2f} ({f['regret']:.3f})" if f else "-")
            if f:
                rhos.append(f["spearman"])
        if rhos:
            lines.append(f"| {score} | " + " | ".join(cells) + f" | {np.mean(rhos):+.2f} |")
    lines += [
        "",
        "Answer's test bal. acc, mean over random searches "
        "(share at least as good as both references)",
        "",
    ]
    lines.append("| procedure | " + " | ".join(short) + " | mean | worst share |")
    lines.append("|---|" + "---:|" * (len(keys) + 2))
    for name in PROCEDURES:
        cells, means, shares = [], [], []
        for k in keys:
            p = report[k]["procedures"].get(name)
            cells.append(f"{p['mean']:.3f} ({p['at_least_both_refs']:.0%})" if p else "-")
            if p:
                means.append(p["mean"])
                shares.append(p["at_least_both_refs"])
        if means:
            summary = f" | {np.mean(means):.3f} | {min(shares):.0%} |"
            lines.append(f"| {name} | " + " | ".join(cells) + summary)
    for ref in (*REFERENCES, "best config"):
        cells = []
        for k in keys:
            r = report[k]
            v = r["best_config_test"] if ref == "best config" else r["references_test"].get(ref)
            cells.append(f"{v:.3f}" if v is not None else "-")
        lines.append(f"| {ref} (fixed) | " + " | ".join(cells) + " | | |")
    lines += [
        "",
        "Threshold rules under a second shift: top-5 mean's balanced accuracy on MedMNIST-C "
        "corrupted validation (severity 3 / 5), cut from clean validation",
        "",
        "| rule | " + " | ".join(short) + " | mean |",
        "|---|" + "---:|" * (len(keys) + 1),
    ]
    for cut in CUTS:
        cells, means = [], []
        for k in keys:
            c = report[k]["cuts_under_corruption"][cut]
            cells.append(f"{c['sev3']:.3f} / {c['sev5']:.3f}")
            means.append((c["sev3"] + c["sev5"]) / 2)
        lines.append(f"| {cut} | " + " | ".join(cells) + f" | {np.mean(means):.3f} |")
    return "\n".join(lines)
