"""The site-adapted cut on many answers: how the members are combined, where the target is cut.

    python -m benchmarks.answer_cut results/fidelity/pneumoniamnist results/fidelity/small500 ...
    python -m benchmarks.answer_cut FOLDER... --draws 60

benchmarks.target_cut measured the cut rules on single fidelity models; the product hands over
an answer, the mean of a search's best models, and one default search's answer (three seeds of
one config) was cut far off by the adapted rule. Here, for each setting folder that
`benchmarks.fidelity train` recorded, `--draws` random searches of SEARCH_SIZE configs; each
answer is the top ENSEMBLE_SIZE of its search by validation balanced accuracy (last epoch),
combined two ways: the mean of the members' probabilities, and the mean of their logits
(search.answer.rules.average). Each answer meets the targets of target_cut.fidelity_targets: the
test split as shipped, that split with one MedMNIST-C family on every image (six families,
severities 3 and 5), and validation halves (no shift). On each target, when the product's
shift test rejects (search.stats.adapt), each candidate cut replaces the validation cut:

- `logit mixture`: the product's (search.stats.adapt.mixture_cut), a 2-component Gaussian mixture of
  the target's logits;
- `probability mixture`: the same mixture fitted to the probabilities;
- `Otsu`: Otsu's threshold on the probabilities (the cut that maximises the between-group
  variance; skimage has it, and is not a dependency here, so it is six lines below);
- `anchored mixture`: the logit mixture started from validation's class means and variances.

Per setting, combination and kind of target: the rule's mean balanced accuracy minus the
validation cut's, its worst, and the share of answers losing more than one image of the
target's smaller class. Those figures per group, with provenance, go to
benchmarks/answer_cut.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.target_cut import fidelity_targets, target_kind
from search.answer.rules import ENSEMBLE_SIZE, average_positive
from search.stats.adapt import ALPHA, adapted_cut, logit, mixture_cut
from trainable.files import write_text

FIGURES = Path("benchmarks/answer_cut.json")
SEARCH_SIZE = 12  # configs per random search, as the default search's 12 trials
COMBINATIONS = ("mean of probabilities", "mean of logits")
RULES = ("logit mixture", "probability mixture", "Otsu", "anchored mixture")


def crossing(x: np.ndarray, **start) -> float:
    """Where a 2-component Gaussian mixture of `x` hands a point to the upper component."""
    from sklearn.mixture import GaussianMixture

    mixture = GaussianMixture(2, random_state=0, **start).fit(x[:, None])
    means = mixture.means_.ravel()
    grid = np.linspace(means.min(), means.max(), 2001)[:, None]
    return float(grid[np.argmax(mixture.predict_proba(grid)[:, np.argmax(means)] >= 0.5), 0])


def otsu_cut(scores: np.ndarray) -> float:
    """Otsu's threshold: the cut between sorted scores that maximises the between-group
    variance n_low * n_high * (mean_low - mean_high)^2."""
    s = np.sort(scores)
    k = np.arange(1, len(s))
    below = np.cumsum(s)[:-1]
    between = k * (len(s) - k) * (below / k - (s.sum() - below) / (len(s) - k)) ** 2
    i = int(np.argmax(between))
    return float((s[i] + s[i + 1]) / 2)


def anchored_cut(val: np.ndarray, val_y: np.ndarray, target: np.ndarray) -> float:
    """The logit mixture's crossing, EM started from validation's class means and variances."""
    z = logit(val)
    means = np.array([[z[val_y == c].mean()] for c in (0, 1)])
    precisions = np.array([[[1 / max(z[val_y == c].var(), 1e-6)]] for c in (0, 1)])
    crossed = crossing(logit(target), means_init=means, precisions_init=precisions)
    return float(1 / (1 + np.exp(-crossed)))


def rules_on(val: np.ndarray, val_y: np.ndarray, target: np.ndarray, target_y: np.ndarray):
    """Balanced accuracy on the target at the validation cut and at each rule's cut where
    the product's shift test rejects (its cut elsewhere); the oracle reads the labels."""
    from sklearn.metrics import balanced_accuracy_score

    from trainable.metrics import tune_threshold

    val_cut = tune_threshold(val, val_y)
    decision = adapted_cut(val, val_y, val_cut, target)
    cuts = {"val": val_cut, "oracle": tune_threshold(target, target_y)}
    if decision.shifted:
        cuts |= {
            "logit mixture": mixture_cut(target),
            "probability mixture": crossing(target),
            "Otsu": otsu_cut(target),
            "anchored mixture": anchored_cut(val, val_y, target),
        }
    else:
        cuts |= dict.fromkeys(RULES, val_cut)
    scores = {
        rule: float(balanced_accuracy_score(target_y, (target >= cut).astype(np.int64)))
        for rule, cut in cuts.items()
    }
    smaller = int(np.bincount(target_y, minlength=2).min())
    return scores | {"p": decision.p_value, "one_image": 0.5 / smaller}


def answers(folder: Path, draws: int, seed: int = 0):
    """`draws` answers: each the top ENSEMBLE_SIZE by validation of SEARCH_SIZE random
    configs, as lists of the members' recorded arrays."""
    from sklearn.metrics import balanced_accuracy_score

    from trainable.metrics import tune_threshold

    models = [dict(np.load(f)) for f in sorted(folder.glob("*_f0.npz"))]

    def val_score(d: dict) -> float:
        val, val_y = d["val"][-1], d["val_y"]
        return balanced_accuracy_score(val_y, val >= tune_threshold(val, val_y))

    scores = np.array([val_score(d) for d in models])
    rng = np.random.default_rng(seed)
    for _ in range(draws):
        search = rng.choice(len(models), SEARCH_SIZE, replace=False)
        top = search[np.argsort(-scores[search], kind="stable")[:ENSEMBLE_SIZE]]
        yield [models[i] for i in top]


def combined(members: list[dict], combination: str) -> dict[str, np.ndarray]:
    """The answer as one fidelity record: the members' last-epoch scores combined."""

    def mean(scores: list[np.ndarray]) -> np.ndarray:
        if combination == "mean of probabilities":
            return np.mean(scores, axis=0)
        return average_positive(scores)

    keys = ["val", "test", *(k for k in members[0] if k.startswith("test_") and k[-1].isdigit())]
    out = {k: mean([m[k][-1] if k in ("val", "test") else m[k] for m in members]) for k in keys}
    out["val"], out["test"] = out["val"][None], out["test"][None]  # one "epoch"
    return out | {"val_y": members[0]["val_y"], "test_y": members[0]["test_y"]}


def summary(rows: dict[str, dict[str, list[dict]]]) -> list[dict]:
    """Per setting, combination and kind of target: n, the share the shift test adapted, the
    validation cut's mean, and per rule the mean and worst gain over it and the share of
    answers losing more than one image of the smaller class; the oracle's mean gain."""
    out = []
    for setting, by_combination in rows.items():
        for combination, results in by_combination.items():
            groups: dict[str, list[dict]] = {}
            for r in results:
                groups.setdefault(target_kind(r["target"]), []).append(r)
            for kind, group in sorted(groups.items()):
                val = float(np.mean([r["val"] for r in group]))
                image = np.array([r["one_image"] for r in group])
                rules = {}
                for rule in RULES:
                    delta = np.array([r[rule] - r["val"] for r in group])
                    rules[rule] = {
                        "mean": float(delta.mean()),
                        "worst": float(delta.min()),
                        "lost": float(np.mean(delta < -image - 1e-9)),
                    }
                out.append({
                    "setting": setting, "answer": combination, "target": kind,
                    "n": len(group), "adapted": float(np.mean([r["p"] < ALPHA for r in group])),
                    "val": val, "rules": rules,
                    "oracle": float(np.mean([r["oracle"] for r in group])) - val,
                })  # fmt: skip
    return out


def table(groups: list[dict]) -> str:
    lines = [
        "| setting | answer | target | n | adapted | val cut | "
        + " | ".join(RULES)
        + " | oracle |",
        "|---|---|---|---|---|---|" + "---|" * (len(RULES) + 1),
    ]
    for g in groups:
        cells = [
            f"{r['mean']:+.4f} ({r['worst']:+.3f}, {r['lost']:.0%})" for r in g["rules"].values()
        ]
        lines.append(
            f"| {g['setting']} | {g['answer']} | {g['target']} | {g['n']} | {g['adapted']:.0%} | "
            f"{g['val']:.4f} | " + " | ".join(cells) + f" | {g['oracle']:+.4f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.answer_cut", description=__doc__)
    p.add_argument("folders", type=Path, nargs="+", metavar="SETTING_FOLDER")
    p.add_argument("--draws", type=int, default=60, help="random searches per setting")
    p.add_argument("--json", type=Path, default=FIGURES)
    args = p.parse_args(argv)
    from benchmarks.provenance import provenance

    rows: dict[str, dict[str, list[dict]]] = {}
    for folder in args.folders:
        rows[folder.name] = {c: [] for c in COMBINATIONS}
        for members in answers(folder, args.draws):
            for combination in COMBINATIONS:
                record = combined(members, combination)
                for target, t in fidelity_targets(record).items():
                    result = rules_on(*t) | {"target": target}
                    rows[folder.name][combination].append(result)
        print(f"{folder}: {args.draws} answers", flush=True)
    groups = summary(rows)  # what the table shows; every answer's rows are 2 MB
    print(table(groups))
    record = {"groups": groups, "draws": args.draws, "search_size": SEARCH_SIZE,
              "provenance": provenance()}  # fmt: skip
    write_text(args.json, json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
