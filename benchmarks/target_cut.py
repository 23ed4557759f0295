"""The answer's cut chosen from the target's own unlabelled scores: a first measurement.

    python -m benchmarks.target_cut                       # every finished efficiency search
    python -m benchmarks.target_cut --searches results/efficiency/searches
    python -m benchmarks.target_cut --site-sizes 100 150 250 400   # how few images a site needs
    python -m benchmarks.target_cut --corrupt 3 5      # a site whose scanner differs (MedMNIST-C)
    python -m benchmarks.target_cut --fidelity results/fidelity/pneumoniamnist ...  # candidates

Under the Kermany test acquisition the models still rank images well but the cut tuned on
validation lands in the wrong place (docs/adapted-cut.md). A site has its own
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

`--site-sizes` asks how many unlabelled images a site needs: each search's test split is cut
to random subsets of each size (SITE_DRAWS per size, no label read in the drawing), and the
product's rule runs on each; per setting and size, how often it adapted and the mean balanced
accuracy on the subset at the validation cut, at the rule's cut, and at the oracle's.
Figures go to benchmarks/target_cut_sites.json.

`--corrupt SEVERITY...` makes the shift: every test image gets the same MedMNIST-C corruption
(trainable/robustness.py; one family at a time, as one scanner or protocol would), the
answer's members score them, and the rules run as above; per setting and severity, how many
(search, family) pairs the product adapted and the mean balanced accuracy at the validation
cut, the product's cut and the oracle's. Figures go to benchmarks/target_cut_corrupt.json.

`--fidelity SETTING_FOLDER...` measures candidate rules on many more models: the TOP_MODELS
best on validation of each setting-draw that benchmarks.fidelity recorded (last epoch), each
against three kinds of target: the setting's test split as shipped, that split with one
MedMNIST-C family on every image (six families, severities 3 and 5), and validation halves
(no shift). The candidates: the mixture cut always, or when the shift test rejects at 0.01
(the product), 0.05 or 0.1; `matched_cut` (validation's class-conditional score shapes moved
onto the target's) always or when detected; the cut at the target's estimated prevalence
(`quantile_cut`); the oracle. Figures go to benchmarks/target_cut_fidelity.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.efficiency import OUT, answer_checkpoints, member_probabilities
from search.stats.adapt import ALPHA, adapted_cut, label_shift_weights, logit, mixture_cut
from trainable.files import write_text
from trainable.robustness import SITE_CORRUPTIONS

FIGURES = Path("benchmarks/target_cut.json")
SITE_FIGURES = Path("benchmarks/target_cut_sites.json")
SITE_DRAWS = 20
CORRUPT_FIGURES = Path("benchmarks/target_cut_corrupt.json")
KS_ALPHA = 0.01
HALF_SPLITS = 5


def shift_p_value(source: np.ndarray, target: np.ndarray) -> float:
    """Kolmogorov-Smirnov two-sample p-value between two sets of scores' logits."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(logit(source), logit(target)).pvalue)


def matched_cut(val: np.ndarray, val_y: np.ndarray, cut: float, target: np.ndarray) -> float:
    """The validation cut carried to the target by the affine map of logits z -> a z + b
    under which validation's class-conditional logit densities (Gaussian KDEs, scipy), mixed
    in a proportion fitted too, best explain the target's logits (maximum likelihood, three
    parameters, Nelder-Mead from three starts). A within-class shift of the scores (a scanner
    that makes every image look a little sicker) is such a map; with no shift it is close to
    the identity, so the cut stays where validation put it. Written here: the mixture
    components are validation's own score shapes, which no library's mixture model takes."""
    from scipy.optimize import minimize
    from scipy.stats import gaussian_kde

    z_val, z = logit(val), logit(target)
    grid = np.linspace(z_val.min() - 10, z_val.max() + 10, 4096)
    density = [gaussian_kde(z_val[val_y == c])(grid) for c in (0, 1)]  # tabulated once

    def negative_log_likelihood(theta: np.ndarray) -> float:
        log_a, b, prior_logit = theta
        a, prior = np.exp(log_a), 1 / (1 + np.exp(-prior_logit))
        u = (z - b) / a
        mixed = (1 - prior) * np.interp(u, grid, density[0], 0, 0) + prior * np.interp(
            u, grid, density[1], 0, 0
        )
        return float(-np.sum(np.log(mixed / a + 1e-12)))

    fits = [
        minimize(negative_log_likelihood, [0.0, b0, 0.0], method="Nelder-Mead",
                 options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 4000})
        for b0 in (-2.0, 0.0, 2.0)
    ]  # fmt: skip
    log_a, b, _ = min(fits, key=lambda f: f.fun).x
    moved = np.exp(log_a) * logit(np.array([cut]))[0] + b
    return float(1 / (1 + np.exp(-moved)))


def quantile_cut(val: np.ndarray, val_y: np.ndarray, cut: float, target: np.ndarray) -> float:
    """The cut that calls as many target images positive as the target's estimated share of
    positives (black-box shift estimation, search.stats.adapt.label_shift_weights)."""
    prior = label_shift_weights(val, val_y, cut, target)[1] * np.mean(val_y == 1)
    return float(np.quantile(target, 1 - prior))


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
    corrected = adapted_cut(val, val_y, val_cut, target)  # the product's rule (search.stats.adapt)
    return {
        "val": score(val_cut),
        "mixture": score(mixture),
        "detected": score(mixture if p < KS_ALPHA else val_cut),
        "detected_corrected": score(corrected.cut),
        "oracle": score(tune_threshold(target, target_y)),
        "ks_p": p,
        "corrected_p": corrected.p_value,
        "adapted": float(corrected.shifted),
    }


def answer_scores(experiment: Path, cache: Path) -> dict[str, np.ndarray]:
    """The answer's positive-class probabilities and labels on validation and test."""
    path = cache / f"{experiment.name}.npz"
    if path.exists():
        return dict(np.load(path))
    from search.answer.rules import average

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


def site_sizes(scores: dict[str, np.ndarray], sizes: list[int]) -> dict[str, dict]:
    """Per site size: the share of random test subsets the product adapted, and the mean
    balanced accuracy at the validation cut, the product's cut and the oracle's."""
    rng = np.random.default_rng(0)
    out = {}
    for n in sizes:
        runs = []
        for _ in range(SITE_DRAWS):
            site = rng.choice(len(scores["test_y"]), size=n, replace=False)
            rules = cut_rules(scores["val"], scores["val_y"], scores["test"][site],
                              scores["test_y"][site])  # fmt: skip
            runs.append(rules)
        keys = ("adapted", "val", "detected_corrected", "oracle")
        out[str(n)] = {k: float(np.mean([r[k] for r in runs])) for k in keys}
    return out


def corrupted_scores(data, states: list[dict], severity: int) -> dict[str, np.ndarray]:
    """The answer's positive-class probabilities on the test images with one MedMNIST-C
    family applied to every image, per family (the members' mean, as answer_scores);
    `data` and `states` from benchmarks.efficiency.answer_checkpoints."""
    import dataclasses

    from trainable.inference import predict_checkpoint
    from trainable.robustness import corrupt_site

    out = {}
    for family in SITE_CORRUPTIONS:
        site = dataclasses.replace(data, test_x=corrupt_site(data.test_x, family, severity))
        out[family] = np.mean([predict_checkpoint(s, site, "test")[:, 1] for s in states], 0)
    return out


def corrupt_table(rows: dict[str, dict]) -> str:
    """Per setting (seeds and families pooled) and severity: how many pairs were adapted, and
    the mean balanced accuracy at the validation cut / the product's cut / the oracle's."""
    settings = dict.fromkeys(name.rsplit("-seed", 1)[0] for name in rows)
    severities = list(next(iter(rows.values())))
    lines = ["| setting | " + " | ".join(f"severity {v}" for v in severities) + " |"]
    lines.append("|---|" + "---|" * len(severities))
    for setting in settings:
        cells = []
        for severity in severities:
            pairs = [
                r
                for name, by_severity in rows.items()
                if name.rsplit("-seed", 1)[0] == setting
                for r in by_severity[severity].values()
            ]
            adapted = int(sum(r["adapted"] for r in pairs))
            mean = {k: np.mean([r[k] for r in pairs]) for k in RULES}
            cells.append(
                f"{adapted}/{len(pairs)} adapted: {mean['val']:.4f} / "
                f"{mean['detected_corrected']:.4f} / {mean['oracle']:.4f}"
            )
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def site_table(rows: dict[str, dict]) -> str:
    """Per setting (seeds pooled) and site size: adapted share, val cut / product / oracle."""
    settings = dict.fromkeys(name.rsplit("-seed", 1)[0] for name in rows)
    sizes = list(next(iter(rows.values())))
    lines = ["| setting | " + " | ".join(f"{n} images" for n in sizes) + " |"]
    lines.append("|---|" + "---|" * len(sizes))
    for setting in settings:
        group = [r for name, r in rows.items() if name.rsplit("-seed", 1)[0] == setting]
        cells = []
        for n in sizes:
            mean = {k: np.mean([g[n][k] for g in group]) for k in group[0][n]}
            cells.append(
                f"{mean['adapted']:.0%}: {mean['val']:.4f} / {mean['detected_corrected']:.4f}"
                f" / {mean['oracle']:.4f}"
            )
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


CANDIDATES = ("val", "mixture", "mixture_detected", "matched", "matched_detected", "quantile",
              "oracle")  # fmt: skip
ALPHAS = (0.01, 0.05, 0.1)  # the shift test's level; the product's is search.stats.adapt.ALPHA
TOP_MODELS = 12  # per setting-draw: the models a search would hand over, by validation
FIDELITY_FIGURES = Path("benchmarks/target_cut_fidelity.json")


def candidate_rules(
    val: np.ndarray, val_y: np.ndarray, target: np.ndarray, target_y: np.ndarray
) -> dict[str, float]:
    """Balanced accuracy on the target at each candidate rule's cut: each target-side cut
    always, and only when the product's shift test rejects (`_detected`; `mixture_detected`
    is the product's --adapt); the oracle alone reads the target's labels."""
    from sklearn.metrics import balanced_accuracy_score

    from search.stats.adapt import label_shift_corrected_p
    from trainable.metrics import tune_threshold

    val_cut = tune_threshold(val, val_y)
    p = label_shift_corrected_p(val, val_y, val_cut, target)
    mixture, matched = mixture_cut(target), matched_cut(val, val_y, val_cut, target)
    cuts = {
        "val": val_cut,
        "mixture": mixture,
        "mixture_detected": mixture if p < ALPHA else val_cut,
        "matched": matched,
        "matched_detected": matched if p < ALPHA else val_cut,
        "quantile": quantile_cut(val, val_y, val_cut, target),
        "oracle": tune_threshold(target, target_y),
    }
    scores = {
        rule: float(balanced_accuracy_score(target_y, (target >= cut).astype(np.int64)))
        for rule, cut in cuts.items()
    }
    smaller = int(np.bincount(target_y, minlength=2).min())
    return scores | {"p": p, "one_image": 0.5 / smaller}


def fidelity_targets(d: dict[str, np.ndarray]) -> dict[str, tuple]:
    """One fidelity model's targets: (source scores, labels, target scores, labels) for the
    shipped test split, each site corruption of it, and validation halves (no shift)."""
    from sklearn.model_selection import train_test_split

    val, val_y = d["val"][-1], d["val_y"].astype(np.int64)
    test, test_y = d["test"][-1], d["test_y"].astype(np.int64)
    targets = {"test": (val, val_y, test, test_y)}
    for key in sorted(k for k in d if k.startswith("test_") and k[-1].isdigit()):
        targets[key.removeprefix("test_")] = (val, val_y, d[key], test_y)
    for seed in range(HALF_SPLITS):
        a, b = train_test_split(np.arange(len(val_y)), test_size=0.5, stratify=val_y,
                                random_state=seed)  # fmt: skip
        targets[f"val_half{seed}"] = (val[a], val_y[a], val[b], val_y[b])
    return targets


def target_kind(target: str) -> str:
    """The table's row for a target: the shipped test, a site corruption's severity, or the
    validation halves."""
    if target.startswith("val_half"):
        return "validation halves (no shift)"
    if target == "test":
        return "test as shipped"
    return f"one corruption per site, severity {target[-1]}"


def fidelity_rows(folder: Path) -> dict[str, dict]:
    """Every candidate rule on every target of a setting-draw's TOP_MODELS models."""
    from sklearn.metrics import balanced_accuracy_score

    from trainable.metrics import tune_threshold

    models = {f.name.removesuffix("_f0.npz"): dict(np.load(f)) for f in folder.glob("*_f0.npz")}

    def val_score(d: dict) -> float:
        val, val_y = d["val"][-1], d["val_y"]
        return balanced_accuracy_score(val_y, val >= tune_threshold(val, val_y))

    top = sorted(models, key=lambda name: -val_score(models[name]))[:TOP_MODELS]
    return {
        name: {target: candidate_rules(*t) for target, t in fidelity_targets(models[name]).items()}
        for name in top
    }


def fidelity_table(draws: dict[str, dict]) -> str:
    """Per setting and kind of target (draws and models pooled): each rule's mean balanced
    accuracy minus the validation cut's, its worst, and how often it lost more than one image
    of the smaller class; the share the shift test adapted."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for draw, models in draws.items():
        setting = Path(draw).name
        for targets in models.values():
            for target, r in targets.items():
                groups.setdefault((setting, target_kind(target)), []).append(r)
    for key, rows in groups.items():  # the shift test at other levels, from its p-value;
        groups[key] = [  # copies: the rows given (and written to JSON) stay as measured
            r | {f"mixture p<{a}": r["mixture"] if r["p"] < a else r["val"] for a in ALPHAS}
            for r in rows
        ]
    rules = ["mixture", *(f"mixture p<{a}" for a in ALPHAS), "matched", "matched_detected",
             "quantile", "oracle"]  # fmt: skip
    lines = [
        "| setting | target | n | val cut | " + " | ".join(rules) + " | adapted |",
        "|---|---|---|---|" + "---|" * (len(rules) + 1),
    ]
    for (setting, kind), rows in sorted(groups.items()):
        cells = []
        for rule in rules:
            delta = np.array([r[rule] - r["val"] for r in rows])
            lost = np.mean([r[rule] - r["val"] < -r["one_image"] - 1e-9 for r in rows])
            cells.append(f"{delta.mean():+.4f} ({delta.min():+.3f}, {lost:.0%})")
        adapted = np.mean([r["p"] < ALPHA for r in rows])
        val = np.mean([r["val"] for r in rows])
        lines.append(
            f"| {setting} | {kind} | {len(rows)} | {val:.4f} | " + " | ".join(cells)
            + f" | {adapted:.0%} |"
        )  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.target_cut", description=__doc__)
    p.add_argument("--searches", type=Path, default=OUT / "searches")
    p.add_argument("--cache", type=Path, default=OUT / "answer_scores")
    p.add_argument("--site-sizes", type=int, nargs="+", help="the site-size study instead")
    p.add_argument(
        "--corrupt",
        type=int,
        nargs="+",
        choices=range(1, 6),
        metavar="SEVERITY",
        help="the corrupted-site study instead, at these MedMNIST-C severities",
    )
    p.add_argument(
        "--fidelity",
        type=Path,
        nargs="+",
        metavar="SETTING_FOLDER",
        help="the candidate rules on benchmarks.fidelity's recorded models instead "
        "(e.g. results/fidelity/pneumoniamnist)",
    )
    args = p.parse_args(argv)
    from benchmarks.provenance import provenance

    if args.fidelity:
        draws = {}
        for folder in args.fidelity:
            draws[str(folder)] = fidelity_rows(folder)
            print(f"{folder}: {len(draws[str(folder)])} models", flush=True)
        print(fidelity_table(draws))
        record = {"draws": draws, "top_models": TOP_MODELS, "provenance": provenance()}
        write_text(FIDELITY_FIGURES, json.dumps(record, indent=1) + "\n")
        return 0

    if args.corrupt:
        rows: dict[str, dict] = {}
        for report in sorted(args.searches.glob("*/test_metrics.json")):
            s = answer_scores(report.parent, args.cache)
            data, _, states = answer_checkpoints(report.parent)  # read once, every severity
            rows[report.parent.name] = {
                str(severity): {
                    family: cut_rules(s["val"], s["val_y"], test, s["test_y"])
                    for family, test in corrupted_scores(data, states, severity).items()
                }
                for severity in args.corrupt
            }
            print(f"{report.parent.name}: done", flush=True)
        print(corrupt_table(rows))
        record = {"searches": rows, "families": SITE_CORRUPTIONS, "provenance": provenance()}
        write_text(CORRUPT_FIGURES, json.dumps(record, indent=1) + "\n")
        return 0

    if args.site_sizes:
        found = sorted(args.searches.glob("*/test_metrics.json"))
        sites = {}
        for report in found:
            sites[report.parent.name] = site_sizes(
                answer_scores(report.parent, args.cache), args.site_sizes
            )
            print(f"{report.parent.name}: {sites[report.parent.name]}", flush=True)
        print(site_table(sites))
        record = {"searches": sites, "draws": SITE_DRAWS, "provenance": provenance()}
        write_text(SITE_FIGURES, json.dumps(record, indent=1) + "\n")
        return 0

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
    write_text(FIGURES, json.dumps({"searches": rows, "provenance": provenance()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
