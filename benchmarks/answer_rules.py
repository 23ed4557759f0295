"""Which models should the answer average? Rules compared on finished searches' own models.

    python -m benchmarks.answer_rules                      # every finished efficiency search
    python -m benchmarks.answer_rules --searches results/efficiency/searches

A search ends with more trained models than its answer uses: every search trial at its best
epoch, the members the answer asked for (good trials ASHA stopped, trained in full, and new
seeds of them) and the two references (plain baseline, seed recipe), all at the full budget
but the stopped trials. This scores each of them once on validation and test (cached as
<search>/models.npz) and rebuilds the answer under each rule below, every rule choosing on
validation alone; test balanced accuracy is at each answer's own validation-tuned cut.

- `product`: the answer as the search built it (best.json); a check that the rescoring agrees
  (searches made after the product adopted `good full-budget` repeat that rule's row);
- `product + references`: its members and each reference within one minority validation image
  of the best full-budget model (the references are trained anyway, before the members);
- `good full-budget`: the mean of every full-budget model (trials run to the end, members,
  references) within one image of the best of them, at most five, best first;
- `greedy`: Caruana et al.'s ensemble selection (ICML 2004; the ensemble builder of
  auto-sklearn and AutoGluon): from the empty set, add with replacement the full-budget model
  that most raises the mean's validation balanced accuracy, ten rounds, keep the best round
  (ties: the earlier, smaller one);
- `greedy from product`: the same, started from the product's members;
- `best full-budget`: the single best full-budget model on validation;
- `product, else good full-budget`: the product's answer unless its validation score is below
  the better reference's, then `good full-budget`;
- `good full-budget, at most 2 new seeds`: as good full-budget, the plan's new seeds after
  the second left out (what a plan of fewer new seeds would have trained);
- `good full-budget, references counted toward five`: the new seeds a plan would train if
  the references within one image of the best counted among the five;
- `good full-budget, twins left out`: a model whose validation probabilities correlate above
  0.99 with a member already chosen is passed over (a reference and its start-point twin).

Figures with provenance go to benchmarks/answer_rules.json.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.efficiency import OUT, finished_searches, write_figures
from search.answer.rules import average_positive
from search.experiment.formats import read_best, read_manifest
from search.experiment.layout import BOARD, REFERENCE_RUNS, TUNER
from trainable.files import replacing

FIGURES = Path("benchmarks/answer_rules.json")
GREEDY_ROUNDS = 10


@dataclass(frozen=True)
class Model:
    """One trained model of a finished search, scored once."""

    name: str  # its trial folder
    role: str  # search, member_full_run, member_seed, baseline or seed_recipe
    full: bool  # trained for the whole budget
    score: float  # validation objective at its best epoch, as the search saw it
    val: np.ndarray  # (N,) positive-class probability on validation
    test: np.ndarray


def load_models(experiment: Path) -> tuple[list[Model], np.ndarray, np.ndarray, list[str]]:
    """Every model of a finished search, the validation and test labels, and the answer's
    member folders (best.json); scores cached in <experiment>/models.npz."""
    import pandas as pd

    board = pd.read_csv(experiment / BOARD).set_index("trial_id")
    members = read_best(experiment).members
    member_ids = [m["trial_id"] for m in members]
    cache = experiment / "models.npz"
    if not cache.exists():
        score_models(experiment, cache)
    arrays = np.load(cache)
    models = []
    for trial_id, row in board.iterrows():
        if f"val/{trial_id}" not in arrays:
            continue
        models.append(
            Model(
                name=str(trial_id),
                role=row["role"],
                full=row["status"] == "complete",
                score=float(row["val_balanced_accuracy"]),
                val=arrays[f"val/{trial_id}"],
                test=arrays[f"test/{trial_id}"],
            )
        )
    return models, arrays["val_y"], arrays["test_y"], member_ids


def score_models(experiment: Path, cache: Path) -> None:
    """Each model's best-epoch checkpoint scored on validation and test, as the report does."""
    from ray.tune import ExperimentAnalysis, ResultGrid

    from search.settings import SearchSettings
    from search.tune.records import best_epoch
    from trainable.checkpoint import CHECKPOINT_FILE, load_checkpoint
    from trainable.cli import data_options
    from trainable.data import load_data
    from trainable.inference import predict_checkpoint

    record = read_manifest(experiment).settings
    settings = SearchSettings(**{**record, "resume": True})
    data = load_data(settings.data, **data_options(settings))
    objective = settings.metric
    arrays = {"val_y": data.val_y, "test_y": data.test_y}
    waves = sorted(experiment.glob("members*"))  # members/, members_2/, ...
    for grid_path in (experiment, experiment / REFERENCE_RUNS, *waves):
        if not (grid_path / TUNER).exists():
            continue
        analysis = ExperimentAnalysis(grid_path, default_metric=objective, default_mode="max")
        for result in ResultGrid(analysis):
            checkpoint, _ = best_epoch(result, objective)
            if checkpoint is None:
                continue
            with checkpoint.as_directory() as folder:
                state = load_checkpoint(Path(folder) / CHECKPOINT_FILE)
            name = Path(result.path).name
            for split in ("val", "test"):
                arrays[f"{split}/{name}"] = predict_checkpoint(state, data, split)[:, 1]
    with replacing(cache) as tmp, tmp.open("wb") as f:
        np.savez(f, **arrays)


def balanced_accuracy_at_cut(val: np.ndarray, val_y: np.ndarray, test: np.ndarray, test_y):
    """Validation balanced accuracy at its own tuned cut, and test's at that cut."""
    from trainable.metrics import evaluate

    v = evaluate(np.stack([1 - val, val], 1), val_y)
    t = evaluate(np.stack([1 - test, test], 1), test_y, v["threshold"])
    return v["balanced_accuracy"], t["balanced_accuracy"]


def greedy(pool: list[Model], val_y: np.ndarray, start: list[Model]) -> list[Model]:
    """Ensemble selection with replacement (Caruana et al. 2004) on validation balanced
    accuracy at the mean's own tuned cut; the best round is kept, ties to the earlier."""
    from sklearn.metrics import roc_curve

    def val_score(chosen: list[Model]) -> float:  # at the best cut: (1 + Youden's J) / 2
        fpr, tpr, _ = roc_curve(val_y, np.mean([m.val for m in chosen], axis=0))
        return float((1 + np.max(tpr - fpr)) / 2)

    chosen = list(start)
    best, best_score = list(chosen), val_score(chosen) if chosen else -1.0
    for _ in range(GREEDY_ROUNDS):
        ranked = sorted(pool, key=lambda m: (-val_score([*chosen, m]), m.name))
        chosen.append(ranked[0])
        score = val_score(chosen)
        if score > best_score + 1e-9:
            best, best_score = list(chosen), score
    return best


def near_best(pool: list[Model], image: float, twins_above: float | None = None) -> list[Model]:
    """The full-budget models of `pool` within one image of its best, at most five, best
    first; with `twins_above`, passing over one that correlates above it with a chosen one."""
    full = sorted((m for m in pool if m.full), key=lambda m: (-m.score, m.name))
    chosen: list[Model] = []
    for m in full:
        if m.score < full[0].score - image - 1e-9 or len(chosen) == 5:
            break
        if twins_above and any(np.corrcoef(m.val, c.val)[0, 1] > twins_above for c in chosen):
            continue
        chosen.append(m)
    return chosen


def with_new_seeds(models: list[Model], keep: int) -> list[Model]:
    """The models with the plan's first `keep` new seeds only (the members grid numbers them
    in the plan's order)."""
    seeds = sorted((m for m in models if m.role == "member_seed"), key=lambda m: m.name)
    dropped = {m.name for m in seeds[keep:]}
    return [m for m in models if m.name not in dropped]


def seeded_while_useful(models: list[Model], image: float, wave: int = 2) -> list[Model]:
    """The models with the plan's runs trained in waves of `wave` (the members grid numbers
    them in the plan's order) and no wave after one that added no model to the answer."""
    runs = sorted((m for m in models if m.role.startswith("member_")), key=lambda m: m.name)
    pool = [m for m in models if not m.role.startswith("member_")]
    for start in range(0, len(runs), wave):
        batch = runs[start : start + wave]
        pool += batch
        if not {m.name for m in batch} & {m.name for m in near_best(pool, image)}:
            break
    return pool


def seeds_with_references_counted(models: list[Model], image: float) -> int:
    """How many new seeds the plan would train if the references within one image of the
    best (trials and references) counted among the five."""
    search = sorted((m for m in models if m.role == "search"), key=lambda m: -m.score)
    refs = [m for m in models if m.role in ("baseline", "seed_recipe")]
    top = max(m.score for m in search + refs)
    good = [m for m in search if m.score >= top - image - 1e-9][:5] or search[:1]
    refs_in = [m for m in refs if m.score >= top - image - 1e-9]
    return max(0, 5 - len(good) - len(refs_in))


def rules(models: list[Model], val_y: np.ndarray, member_ids: list[str], image: float) -> dict:
    """Each rule's members (model folders, repeats allowed)."""
    by_name = {m.name: m for m in models}
    product = [by_name[i] for i in member_ids]
    full = sorted((m for m in models if m.full), key=lambda m: (-m.score, m.name))
    floor = full[0].score - image - 1e-9
    references = [m for m in full if m.role in ("baseline", "seed_recipe") and m.score >= floor]
    counted = seeds_with_references_counted(models, image)
    return {
        "product": product,
        "product + references": product + references,
        "good full-budget": near_best(models, image),
        "good full-budget, at most 2 new seeds": near_best(with_new_seeds(models, 2), image),
        "good full-budget, references counted toward five": near_best(
            with_new_seeds(models, counted), image
        ),
        "good full-budget, twins left out": near_best(models, image, twins_above=0.99),
        "good full-budget, members while a wave joins": near_best(
            seeded_while_useful(models, image), image
        ),
        "greedy": greedy(full, val_y, []),
        "greedy from product": greedy(full, val_y, product),
        "best full-budget": full[:1],
    }


def measure(experiment: Path) -> dict:
    models, val_y, test_y, member_ids = load_models(experiment)
    image = 1 / (2 * np.bincount(val_y).min())
    out = {}
    for name, chosen in rules(models, val_y, member_ids, image).items():
        val, test = balanced_accuracy_at_cut(
            average_positive([m.val for m in chosen]),
            val_y,
            average_positive([m.test for m in chosen]),
            test_y,
        )
        out[name] = {"members": [m.name for m in chosen], "val": val, "test": test}
    for role in ("baseline", "seed_recipe"):
        ref = next(m for m in models if m.role == role)
        val, test = balanced_accuracy_at_cut(ref.val, val_y, ref.test, test_y)
        out[role] = {"members": [ref.name], "val": val, "test": test}
    better = max(out["baseline"]["val"], out["seed_recipe"]["val"])
    fallback = "product" if out["product"]["val"] >= better - 1e-9 else "good full-budget"
    out["product, else good full-budget"] = out[fallback] | {"chose": fallback}
    return out


def table(rows: dict[str, dict]) -> str:
    """Per setting and rule: mean validation / test, and on how many searches the rule's
    validation score reached both references'."""
    settings = dict.fromkeys(name.rsplit("-seed", 1)[0] for name in rows)
    names = list(next(iter(rows.values())))
    lines = ["| rule | " + " | ".join(settings) + " |", "|---|" + "---|" * len(settings)]
    for rule in names:
        cells = []
        for setting in settings:
            group = [r for n, r in rows.items() if n.rsplit("-seed", 1)[0] == setting]
            val = np.mean([g[rule]["val"] for g in group])
            test = np.mean([g[rule]["test"] for g in group])
            level = 1e-9
            reached = sum(
                g[rule]["val"] >= max(g["baseline"]["val"], g["seed_recipe"]["val"]) - level
                for g in group
            )
            cells.append(f"{val:.4f} / {test:.4f} ({reached}/{len(group)})")
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.answer_rules", description=__doc__)
    p.add_argument("--searches", type=Path, default=OUT / "searches")
    args = p.parse_args(argv)
    rows = {}
    for experiment in finished_searches(args.searches):
        rows[experiment.name] = measure(experiment)
        cells = "  ".join(
            f"{k} {v['val']:.4f}/{v['test']:.4f}" for k, v in rows[experiment.name].items()
        )
        print(f"{experiment.name}: {cells}", flush=True)
    print(table(rows))
    write_figures(FIGURES, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
