"""What benchmarks/ratios.py measured, as benchmarks/ratios.json and docs/imbalance-ratios.md.

    python -m benchmarks.ratios analyse          # reads results/ratios/, writes both
    python -m benchmarks.ratios_analysis --check # the page against the JSON
    python -m benchmarks.ratios_analysis         # the page again from the JSON

Per carve and seed: the answer, each reference (one model, the search's start point) and each
reference's ensemble (as many new seeds as the answer has models), each at its own
validation-tuned cut, on the no-shift test and on the shipped test. Per carve: their means
over seeds and the answer's margin over each, with two 95% intervals, both paired over the
test images (every seed scores the same images): over the images alone, and over the images
and the seeds (a seed drawn again with them), which is the one to judge by. And each
technique family's best validation score and its test figures (search.answer.findings names the
families), per seed and on average.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks.pages import load_json
from benchmarks.ratios import ENSEMBLE_SEED0, OUT, RATIOS, REFERENCES
from search.answer.findings import augmentation, technique
from search.answer.rules import average
from search.experiment.layout import BOARD
from search.stats.calibration import fit_temperature, scale
from trainable.files import write_text
from trainable.metrics import evaluate

FIGURES = Path("benchmarks/ratios.json")
PAGE = Path("docs/imbalance-ratios.md")
TESTS = ("no_shift", "test")
RESAMPLES = 2000
COMPARED = ("baseline", "seed_recipe", "baseline_ensemble", "seed_recipe_ensemble")
AT_HALF = ("baseline_at_half", "seed_recipe_at_half")  # the references at the cut 0.5


def two_class(p: np.ndarray) -> np.ndarray:
    return np.stack([1 - p, p], axis=1).astype(np.float64)


def decide(val: np.ndarray, val_y: np.ndarray, tests: dict[str, np.ndarray], calibrate: bool):
    """Decisions (0/1) on each test at the cut that maximises validation balanced accuracy,
    the answer's way: the mean's temperature first (`calibrate`), then the cut."""
    val2 = two_class(val)
    temperature = fit_temperature(val2, val_y) if calibrate else 1.0
    cut = evaluate(scale(val2, temperature), val_y)["threshold"]
    return {k: (scale(two_class(p), temperature)[:, 1] >= cut).astype(np.int8) for k, p in
            tests.items()}  # fmt: skip


def at_cut(p: np.ndarray, cut: float) -> np.ndarray:
    return (p >= cut).astype(np.int8)


def balanced(y: np.ndarray, said: np.ndarray) -> np.ndarray:
    """Balanced accuracy along the last axis (resamples of images)."""
    pos, neg = y == 1, y == 0
    return ((said * pos).sum(-1) / pos.sum(-1) + ((1 - said) * neg).sum(-1) / neg.sum(-1)) / 2


def one_search(out: Path, ratio: str, seed: int) -> dict:
    """The decisions of every compared model and the families, for one search."""
    experiment = out / "searches" / f"r{ratio}-seed{seed}"
    scores = np.load(experiment / "scores.npz")
    models = json.loads((experiment / "models.json").read_text())
    ys = {"val": scores["val_y"], "no_shift": scores["no_shift_y"], "test": scores["test_y"]}
    said: dict[str, dict[str, np.ndarray]] = {}
    answer_cut = models["answer"]["threshold"]
    said["answer"] = {t: at_cut(scores[f"answer/{t}"], answer_cut) for t in TESTS}
    by_role = {m["role"]: m for m in models["models"]}
    for name in REFERENCES:
        m = by_role[name]
        said[name] = {t: at_cut(scores[f"{m['trial_id']}/{t}"], m["threshold"]) for t in TESTS}
        # the same model at 0.5: what moving the threshold for the prior is worth
        said[f"{name}_at_half"] = {t: at_cut(scores[f"{m['trial_id']}/{t}"], 0.5) for t in TESTS}
    size = len(models["answer"]["members"])
    singles: dict[str, dict[str, list[float]]] = {}  # each reference config's single models
    for name in REFERENCES:
        files = [
            out / "ensembles" / experiment.name / f"{name}-{ENSEMBLE_SEED0 + 10 * seed + k}.npz"
            for k in range(size)
        ]
        runs = [np.load(f) for f in files]
        singles[name] = {
            t: [float(balanced(ys[t], at_cut(r[t], float(r["threshold"])))) for r in runs]
            for t in TESTS
        }
        singles[name] = {  # the reference itself: the search's start point, seed = its seed
            t: [float(balanced(ys[t], said[name][t])), *v] for t, v in singles[name].items()
        }
        mean = {
            split: average([two_class(r[split]) for r in runs])[:, 1] for split in ("val", *TESTS)
        }
        said[f"{name}_ensemble"] = decide(
            mean["val"], ys["val"], {t: mean[t] for t in TESTS}, calibrate=True
        )
    families = []
    for m in models["models"]:
        if not m["optuna_trial"]:
            continue  # the members' runs: new seeds of a trial, not trials of the search
        key = m["trial_id"]
        families.append(
            {
                "trial": key,
                "role": m["role"],
                "status": m["status"],
                "technique": technique(m["config"]),
                "augmentation": augmentation(m["config"]),
                "val": m["val_score"],
                **{
                    t: float(balanced(ys[t], at_cut(scores[f"{key}/{t}"], m["threshold"])))
                    for t in TESTS
                },  # fmt: skip
            }
        )
    return {
        "said": said,
        "ys": ys,
        "answer_models": size,
        "answer_kinds": models["answer"]["member_kinds"],
        "single_models": singles,
        "trials": families,
    }


def pooled_margin(y: np.ndarray, a: list[np.ndarray], b: list[np.ndarray], seeds: bool) -> list:
    """95% interval of the mean over seeds of balanced accuracy of `a` minus `b`: a percentile
    bootstrap over the test images (the same images resampled for every seed and both models:
    they share the test images); with `seeds`, each half widened in quadrature by Student's t
    over the per-seed margins (S - 1 degrees of freedom), as the product's verdict counts its
    seed spread. Drawing 3 seeds again with the images instead barely reached past the worst
    seed (all three draws the worst one: 1 in 27) and understated the spread."""
    from scipy.stats import t

    rng = np.random.default_rng(0)
    n, s = len(y), len(a)
    images = rng.integers(0, n, size=(RESAMPLES, n))
    margins = np.stack([balanced(y[images], a[i][images]) - balanced(y[images], b[i][images])
                        for i in range(s)], axis=1)  # fmt: skip
    pooled = margins.mean(axis=1)
    low, high = float(np.percentile(pooled, 2.5)), float(np.percentile(pooled, 97.5))
    if not seeds or s < 2:
        return [low, high]
    per_seed = np.array([balanced(y, a[i]) - balanced(y, b[i]) for i in range(s)])
    mean = float(per_seed.mean())
    half = float(t.ppf(0.975, s - 1) * per_seed.std(ddof=1) / np.sqrt(s))
    return [mean - float(np.hypot(mean - low, half)), mean + float(np.hypot(high - mean, half))]


def carve_figures(out: Path, ratio: str, seeds: list[int]) -> dict:
    runs = {seed: one_search(out, ratio, seed) for seed in seeds}
    train = np.load(out / "data" / f"r{ratio}.npz")["train_labels"][:, 0]
    found: dict = {"train_counts": np.bincount(train).tolist(), "seeds": seeds}
    found["answer_models"] = [runs[s]["answer_models"] for s in seeds]
    found["answer_kinds"] = [runs[s]["answer_kinds"] for s in seeds]
    for t in TESTS:
        y = runs[seeds[0]]["ys"][t]
        scores = {
            name: [float(balanced(y, runs[s]["said"][name][t])) for s in seeds]
            for name in ("answer", *COMPARED, *AT_HALF)
        }
        margins = {}
        for name in COMPARED:
            a = [runs[s]["said"]["answer"][t] for s in seeds]
            b = [runs[s]["said"][name][t] for s in seeds]
            margins[name] = {
                "mean": float(np.mean(scores["answer"]) - np.mean(scores[name])),
                "interval_images": pooled_margin(y, a, b, seeds=False),
                "interval_images_and_seeds": pooled_margin(y, a, b, seeds=True),
            }
        found[t] = {
            "balanced_accuracy": scores,
            "mean": {k: float(np.mean(v)) for k, v in scores.items()},
            "answer_minus": margins,
        }
    found["identical_answers"] = identical_answers(out, ratio, seeds)
    found["answer_is_reference_config"] = reference_answers(out, ratio, seeds)
    found["wall_s"] = [wall_seconds(out, ratio, s) for s in seeds]
    found["reference_run_s"] = [reference_run_seconds(out, ratio, s) for s in seeds]
    found["seed_spread"] = {
        name: {t: seed_sd([runs[s]["single_models"][name][t] for s in seeds]) for t in TESTS}
        for name in REFERENCES
    }
    found["families"] = family_table([runs[s]["trials"] for s in seeds])
    rules = [answer_rules(out, ratio, s) for s in seeds]
    found["answer_rules"] = {
        name: {
            "models": [r[name]["models"] for r in rules],
            **{t: float(np.mean([r[name][t] for r in rules])) for t in TESTS},
        }
        for name in RULES
    }
    found["trials"] = {s: runs[s]["trials"] for s in seeds}
    return found


# Other answers from the models a search trained for the full budget (its complete trials,
# the members' runs, the references), rescored: which rule would have done better here.
RULES = {
    "the product's: within one validation image of the best, at most 5": None,
    "the best 3 by validation": 3,
    "the best 5 by validation": 5,
    "the seed recipe's start point alone": "seed_recipe",
    "both references' start points": "references",
}


def answer_rules(out: Path, ratio: str, seed: int) -> dict:
    """Each RULES answer's test figures (the mean of its models' log probabilities, a
    temperature and a cut fitted on validation, as the product's answer) for one search."""
    experiment = out / "searches" / f"r{ratio}-seed{seed}"
    scores = np.load(experiment / "scores.npz")
    models = json.loads((experiment / "models.json").read_text())["models"]
    ys = {"val": scores["val_y"], "no_shift": scores["no_shift_y"], "test": scores["test_y"]}
    full = sorted((m for m in models if m["status"] == "complete"), key=lambda m: -m["val_score"])
    image = 1 / (2 * np.bincount(ys["val"]).min())
    found = {}
    for name, rule in RULES.items():
        if rule is None:
            chosen = [m for m in full if m["val_score"] >= full[0]["val_score"] - image - 1e-9]
            chosen = chosen[:5]
        elif isinstance(rule, int):
            chosen = full[:rule]
        elif rule == "references":
            chosen = [m for m in full if m["role"] in REFERENCES]
        else:
            chosen = [m for m in full if m["role"] == rule]
        mean = {
            split: average([two_class(scores[f"{m['trial_id']}/{split}"]) for m in chosen])[:, 1]
            for split in ("val", *TESTS)
        }
        said = decide(mean["val"], ys["val"], {t: mean[t] for t in TESTS}, calibrate=True)
        found[name] = {"models": len(chosen)} | {t: float(balanced(ys[t], said[t])) for t in TESTS}
    return found


def answer_configs(out: Path, ratio: str, seed: int) -> list[str]:
    """The answer's members as their full configs (seed included), sorted: one model is one
    config and seed, however it was trained (a start point or a member's run)."""
    from trainable.config import TrainConfig

    listed = json.loads((out / "searches" / f"r{ratio}-seed{seed}" / "models.json").read_text())
    configs = {m["trial_id"]: m["config"] for m in listed["models"]}
    return sorted(
        json.dumps(TrainConfig.from_dict(configs[m]).to_dict(), sort_keys=True)
        for m in listed["answer"]["members"]
    )


def identical_answers(out: Path, ratio: str, seeds: list[int]) -> list[list[int]]:
    """Pairs of seeds whose answers were the same models (configs and training seeds): before
    new seeds were spaced apart (search.answer.rules.extra_seed), search seed s trained seeds s + 1
    and s + 2, so two searches could end in one model."""
    answers = {s: answer_configs(out, ratio, s) for s in seeds}
    return [[a, b] for a in seeds for b in seeds if a < b and answers[a] == answers[b]]


def reference_answers(out: Path, ratio: str, seeds: list[int]) -> list[str | None]:
    """Per seed, the reference whose config (any seed) every answer member has, else None:
    then the search contributed no config of its own."""
    found = []
    for seed in seeds:
        listed = json.loads((out / "searches" / f"r{ratio}-seed{seed}" / "models.json").read_text())
        unseeded = {
            m["role"]: without_seed(m["config"])
            for m in listed["models"]
            if m["role"] in REFERENCES
        }
        members = [without_seed(c) for c in map(json.loads, answer_configs(out, ratio, seed))]
        same = [name for name, config in unseeded.items() if all(m == config for m in members)]
        found.append(same[0] if same else None)
    return found


def without_seed(config: dict) -> dict:
    from trainable.config import TrainConfig

    return {k: v for k, v in TrainConfig.from_dict(config).to_dict().items() if k != "seed"}


def wall_seconds(out: Path, ratio: str, seed: int) -> float | None:
    """The whole job's wall time, as benchmarks.ratios timed its process."""
    path = out / "searches" / f"r{ratio}-seed{seed}" / "wall_s.txt"
    return float(path.read_text()) if path.exists() else None


def reference_run_seconds(out: Path, ratio: str, seed: int) -> float:
    """What one full-budget run cost in that job: the references' own running time (two
    trials at once on the machine), their mean."""
    with (out / "searches" / f"r{ratio}-seed{seed}" / BOARD).open() as f:
        rows = [r for r in csv.DictReader(f) if r["role"] in REFERENCES]
    return float(np.mean([float(r["run_time_s"]) for r in rows]))


def seed_sd(groups: list[list[float]]) -> dict:
    """The standard deviation of one model's figure between training seeds: all the
    reference config's single models of a carve (its start point and its ensemble's new
    seeds, every search seed) are one config trained with different seeds."""
    values = np.concatenate(groups)
    return {"sd": float(np.std(values, ddof=1)), "models": len(values)}


def family_table(per_seed: list[list[dict]]) -> dict:
    """Per axis and family: its trials over all seeds and how many ran the full budget; over
    the seeds where one did, the mean of its best full-budget trial's validation score and
    that trial's test figures (a trial ASHA stopped after 2 epochs says little of a family)."""
    table: dict = {}
    for axis in ("technique", "augmentation"):
        names = sorted({t[axis] for trials in per_seed for t in trials})
        rows = {}
        for name in names:
            mine = [[t for t in trials if t[axis] == name] for trials in per_seed]
            full = [[t for t in group if t["status"] == "complete"] for group in mine]
            bests = [max(group, key=lambda t: t["val"]) for group in full if group]
            rows[name] = {
                "trials": sum(len(group) for group in mine),
                "complete": sum(len(group) for group in full),
                "seeds_tried_in_full": len(bests),
                "best_val": float(np.mean([b["val"] for b in bests])) if bests else None,
                **{
                    f"best_{t}": float(np.mean([b[t] for b in bests])) if bests else None
                    for t in TESTS
                },
            }
        table[axis] = rows
    return table


def analyse(out: Path = OUT, figures: Path = FIGURES) -> dict:
    from benchmarks.provenance import provenance

    results = {"provenance": provenance(), "carves": {}}
    for ratio in RATIOS:
        seeds = sorted(
            int(p.name.split("seed")[1])
            for p in (out / "searches").glob(f"r{ratio}-seed*")
            if (p / "scores.npz").exists() and ensembles_done(out, p.name)
        )
        if seeds:
            results["carves"][ratio] = carve_figures(out, ratio, seeds)
    write_text(figures, json.dumps(results, indent=1) + "\n")
    write_page(results)
    return results


def ensembles_done(out: Path, name: str) -> bool:
    """Whether both references' ensembles of the search `name` are trained."""
    models = json.loads((out / "searches" / name / "models.json").read_text())
    wanted = len(REFERENCES) * len(models["answer"]["members"])
    return len(list((out / "ensembles" / name).glob("*.npz"))) == wanted


def write_page(results: dict) -> None:
    from benchmarks.ratios_page import render

    write_text(PAGE, render(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help=f"{PAGE} against {FIGURES}")
    args = parser.parse_args(argv)
    from benchmarks.ratios_page import render

    fresh = render(load_json(FIGURES))
    if args.check:
        if PAGE.read_text() != fresh:
            print(f"error: {PAGE} differs from {FIGURES}; run python -m benchmarks.ratios_analysis")
            return 1
        print(f"{PAGE} matches {FIGURES}")
        return 0
    write_text(PAGE, fresh)
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
