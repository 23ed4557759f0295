"""What a finished search leaves behind, in <storage>/<name>/:

- leaderboard.csv: one row per trial (search trials, the answer's member runs: good trials
  ASHA stopped trained in full and new seeds, the references): role, status, in_answer (and
  why_not_in_answer, in the answer rule's words), every knob, its best-epoch validation
  metrics (both objectives), epochs run;
- best.json: the answer (the mean of up to five models trained for the full budget, within
  one validation image of the best of them, search/answer/rules.py): its members' trial ids, kinds
  (search, full_run, new_seed, baseline, seed_recipe), configs and checkpoints, its tuned
  threshold, temperature and validation metrics; and the single best trial the same way;
- test_metrics.json: the test split scored once, after the search, for the answer, the best
  trial's best checkpoint and the two reference configs (plain baseline, seed recipe), each at
  its validation-tuned threshold and at 0.5, with the validation-to-test gap; and the verdict:
  whether the answer beat each reference on validation by more than one minority image, and
  on test, and how many trials reached each reference on validation;
- roc_pr.png, knobs.png, importances.png and an answer/ TensorBoard run of the answer
  (search.outputs.plots).

    report = write_report(experiment, search, members, references, data, objective)

Only the files: which models make the answer and the verdict are search.answer.rules's decisions,
the scores search.answer.scoring's, the console's summary search.outputs.summary's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd

from search.answer.findings import Family, answer_words, family_bests, technique, technique_finding
from search.answer.references import REFERENCES, rank_of
from search.answer.rules import (
    Scored,
    Trial,
    one_image,
    ranked,
    the_answer,
    verdict,
    why_not_in_answer,
)
from search.answer.scoring import score_answer, score_trial
from search.experiment.formats import write_record
from search.experiment.layout import (
    ANSWER_RUN,
    BEST,
    BOARD,
    CONFIRM,
    CONFIRM_BOARD,
    STUDY,
    TEST_METRICS,
    VAL_SCORES,
)
from search.outputs.board import write_hparams
from search.outputs.plots import roc_pr_figure, write_plots, write_tensorboard
from search.stats.intervals import balanced_accuracy, decisions, margin_interval, seed_spread
from trainable.config import TrainConfig
from trainable.data import Data
from trainable.files import replacing, write_text


@dataclass(frozen=True)
class Report:
    """What write_report found: the leaderboard, the scored models (answer, best_trial and the
    references present; empty when no trial scored) and the verdict (None then)."""

    objective: str
    table: pd.DataFrame
    scored: dict[str, Scored]
    verdict: dict | None
    finding: dict | None = None  # search.answer.findings.technique_finding's


def leaderboard_rows(trials: Sequence[Trial]) -> pd.DataFrame:
    """One row per trial, at the epoch with the best objective, in the order given."""
    rows = []
    for trial in trials:
        row: dict[str, Any] = {"trial_id": trial.trial, "role": trial.role, "status": trial.status}
        # the technique in the finding's words: focal loss at gamma 0 and alpha 0.5 is
        # cross-entropy, which the loss knob alone (focal) did not say
        row["technique"] = technique(full_config(trial))
        row["epochs_run"] = trial.epochs_run
        if trial.score is not None:
            row["best_epoch"] = int(trial.best["epoch"])
            row |= {
                k: float(v) for k, v in trial.best.items() if k.startswith("val_") and v is not None
            }
            history = trial.history
            row["run_time_s"] = float(history["time_total_s"].max())
            row |= {k: float(history[k].max()) for k in history.columns if k.startswith("peak_")}
        row |= {f"config/{k}": v for k, v in sorted(full_config(trial).items())}  # every knob
        rows.append(row)
    return pd.DataFrame(rows)


def leaderboard(groups: Sequence[Sequence[Trial]]) -> pd.DataFrame:
    """The groups' rows one after the other (search, the answer's member runs, references),
    each best first as search.answer.rules.ranked orders them, then those without a score."""
    tables = []
    for trials in (group for group in groups if group):
        position = {id(t): i for i, t in enumerate(trials)}
        order = [*ranked(trials), *(t for t in trials if t.score is None)]
        # rows built in the given order and then reordered: the columns keep the order in
        # which the trials' knobs first appear, whichever trial ranks first
        tables.append(leaderboard_rows(trials).iloc[[position[id(t)] for t in order]])
    return pd.concat(tables).reset_index(drop=True)


def write_report(
    experiment: Path,
    search: Sequence[Trial],
    members: Sequence[Trial],
    references: Sequence[Trial],
    data: Data,
    objective: str,
    start_points: dict[str, dict] | None = None,
) -> Report:
    """Everything the module docstring lists, from the search's trials, the plan's runs
    (search.tune.records.member_records) and the references'; `start_points`: the references as the
    search's start points wrote them (spaces.catalog.named_start_points), so the answer is
    named for what it is."""
    searched = {t.trial for t in search}  # a reference may be a search trial: one row
    table = leaderboard([search, members, [r for r in references if r.trial not in searched]])
    image = one_image(data.val_y, data.num_classes)
    chosen = the_answer([*search, *members, *references], search, image) if ranked(search) else []
    why_not = why_not_in_answer([*search, *members, *references], chosen, image)
    at = list(table.columns).index("status") + 1
    table.insert(at, "in_answer", table["trial_id"].map(lambda t: why_not.get(t) == ""))
    table.insert(at + 1, "why_not_in_answer", table["trial_id"].map(why_not).fillna(""))
    study = load_study(experiment)
    if study is not None:  # optuna-dashboard's trial numbers, matched by folder
        numbers = {t.user_attrs.get("folder"): t.number for t in study.trials}
        table.insert(1, "optuna_trial", table["trial_id"].map(numbers).astype("Int64"))
    write_text(experiment / BOARD, table.to_csv(index=False))
    write_hparams(experiment, table, {t.trial: t for t in (*search, *members, *references)})
    if not ranked(search):
        return Report(objective, table, {}, None)

    tested: dict[str, Scored] = {}

    def scored_once(trial: Trial) -> Scored:  # a reference may also be a member: test it once
        if trial.trial not in tested:
            tested[trial.trial] = score_trial(trial, data, objective)
        return tested[trial.trial]

    answer = score_answer([scored_once(m) for m in chosen], chosen, data, objective)
    scored = {"answer": answer, "best_trial": scored_once(ranked(search)[0])}
    for trial in ranked(references):
        scored[trial.kind] = scored_once(trial)
    scored = {k: scored[k] for k in ("answer", "best_trial", *REFERENCES) if k in scored}
    everyone = unique([*search, *members, *references])
    repeated = [t for t in everyone if t.status == "complete" and repeats(t, everyone)]
    spread = seed_spread(
        [(full_config(t), scored_once(t).figures["test"]["balanced_accuracy"]) for t in repeated]
    )
    found = verdict(
        answer,
        {name: scored[name] for name in REFERENCES if name in scored},
        data.test_y,
        image,
        search,
        len(chosen),
        objective.removeprefix("val_"),
        spread,
    )
    finding = technique_finding(
        families_scored(unique([*search, *references]), scored_once, scored, data.val_y),
        scored["baseline"].figures["test"]["balanced_accuracy"] if "baseline" in scored else None,
        answer_words([(m.kind, m.config) for m in chosen], start_points or {}),
    )
    public = {name: portable_figures(s.figures, experiment) for name, s in scored.items()}
    single = ("trial_id", "config", "val", "threshold", "epoch", "checkpoint")
    best = {k: public["answer"][k] for k in ("members", "threshold", "temperature", "val")}
    operating = public["answer"].get("operating_points")
    best["sensitivity_cuts"] = (
        {k: p["cut"] for k, p in operating["val"].items()} if operating else {}
    )
    best_trial = {k: public["best_trial"][k] for k in single}
    write_record(
        experiment / BEST,
        {"objective": objective, "answer": best, "best_trial": best_trial},
    )
    if data.num_classes == 2:  # what `search.predict --adapt` compares a site's images with
        with replacing(experiment / VAL_SCORES) as tmp, tmp.open("wb") as f:
            np.savez(f, scores=answer.val_probs[:, 1], labels=data.val_y)
    write_record(
        experiment / TEST_METRICS,
        {"objective": objective, "technique_finding": finding, "verdict": found, **public},
    )
    write_pictures(experiment, table, objective, scored, data, study)
    write_finding(experiment / ANSWER_RUN, finding)
    return Report(objective, table, scored, found, finding)


def unique(trials: Sequence[Trial]) -> list[Trial]:
    """Each model once (a reference may be a search trial and a member too)."""
    return list({t.trial: t for t in trials}.values())


def full_config(trial: Trial) -> dict:
    """A trial's config with every knob (a search trial records only the knobs its space
    set; a member's run all of them), so that two runs of one config compare equal."""
    return TrainConfig.from_dict(trial.config).to_dict()


def repeats(trial: Trial, trials: Sequence[Trial]) -> bool:
    """Whether another complete run trained `trial`'s config with another seed."""
    unseeded = {k: v for k, v in full_config(trial).items() if k != "seed"}
    return any(
        t is not trial
        and t.status == "complete"
        and {k: v for k, v in full_config(t).items() if k != "seed"} == unseeded
        for t in trials
    )


def families_scored(
    models: Sequence[Trial],
    score: Callable[[Trial], Scored],
    scored: dict[str, Scored],
    val_labels: np.ndarray,
) -> list[Family]:
    """Each technique family's best model scored, against plain training (the baseline) and
    the seed recipe on validation, paired over its images (two classes)."""
    families = []
    for axis, bests in family_bests(models).items():
        for name, (best, count) in bests.items():
            s = score(best)
            margins = {  # a reference is not compared with itself
                ref: validation_margin(s, scored[ref], val_labels)
                if ref in scored and scored[ref].figures["trial_id"] != best.trial
                else None
                for ref in REFERENCES
            }
            families.append(
                Family(
                    axis=axis,
                    name=name,
                    trials=count,
                    best=best.trial,
                    complete=best.complete,
                    val=s.figures["val"]["balanced_accuracy"],
                    test=s.figures["test"].get("balanced_accuracy"),
                    vs_plain=margins["baseline"],
                    vs_recipe=margins["seed_recipe"],
                )
            )
    return families


def validation_margin(a: Scored, b: Scored, labels: np.ndarray) -> list[float] | None:
    """[margin, low, high]: `a`'s validation balanced accuracy minus `b`'s, each at its own
    cut, with the 95% interval paired over the validation images; None for > 2 classes."""
    if a.figures.get("threshold") is None or b.figures.get("threshold") is None:
        return None
    said_a = decisions(a.val_probs, a.figures["threshold"])
    said_b = decisions(b.val_probs, b.figures["threshold"])
    margin = float(balanced_accuracy(labels, said_a) - balanced_accuracy(labels, said_b))
    return [margin, *margin_interval(labels, said_a, said_b)]


def write_finding(folder: Path, finding: dict) -> None:
    """The finding as text in the answer's TensorBoard run (its Text tab)."""
    from torch.utils.tensorboard import SummaryWriter

    rows = [
        f"| {f['axis']} | {f['name']} | {f['trials']} | {f['val']:.4f} | "
        f"{margin_cell(f['vs_plain'])} | {f['test']:.4f} |"
        for f in finding["families"]
    ]
    table = [
        "| axis | family | trials | best val | vs plain training (val, 95%) | its test |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    with SummaryWriter(str(folder)) as writer:
        text = "\n\n".join([finding["sentence"], finding["answer_is"], "\n".join(table)])
        writer.add_text("technique_finding", text, global_step=0)


def margin_cell(margin: list[float] | None) -> str:
    if margin is None:
        return "-"
    return f"{margin[0]:+.4f} ({margin[1]:+.4f} to {margin[2]:+.4f})"


def portable_figures(figures: dict, experiment: Path) -> dict:
    """A model's figures with its checkpoints (its own, or its members') `portable`."""
    figures = dict(figures)
    if "checkpoint" in figures:
        figures["checkpoint"] = portable(figures["checkpoint"], experiment)
    if "members" in figures:
        figures["members"] = [
            m | {"checkpoint": portable(m["checkpoint"], experiment)} for m in figures["members"]
        ]
    return figures


def portable(checkpoint: str, experiment: Path) -> str:
    """A checkpoint's path relative to the experiment when it lies inside it, so a copied or
    moved experiment still finds its models; readers join it to the experiment's folder,
    which leaves an absolute path (cloud storage's checkpoints) as it is."""
    path = Path(checkpoint)
    try:
        return str(path.resolve().relative_to(experiment.resolve()))
    except ValueError:
        return checkpoint


def write_pictures(
    experiment: Path,
    table: pd.DataFrame,
    objective: str,
    scored: dict[str, Scored],
    data: Data,
    study: optuna.Study | None,
) -> None:
    answer, probs = scored["answer"].figures, scored["answer"]
    score = objective.removeprefix("val_")
    references = {
        name.replace("_", " "): scored[name].figures["val"][score]
        for name in REFERENCES
        if name in scored and score in scored[name].figures["val"]
    }
    curves, cuts = None, None
    test_pred = probs.test_probs.argmax(1)  # more classes: the most probable one
    if data.num_classes == 2:
        curves = {
            "answer val": (data.val_y, probs.val_probs[:, 1]),
            "answer test": (data.test_y, probs.test_probs[:, 1]),
        }
        test_pred = decisions(probs.test_probs, answer["threshold"])
        runs = {
            name: (
                Path(scored[name].figures["checkpoint"]).parent,
                (data.test_y, scored[name].test_probs[:, 1]),
            )
            for name in REFERENCES
            if name in scored and "://" not in scored[name].figures["checkpoint"]
        }
        cuts = {
            "answer test": {f"tuned {answer['threshold']:.3f}": answer["threshold"], "0.5": 0.5}
        }
        answer_curves = dict(curves)  # the answer run's own PR curves
        for name in (n for n in REFERENCES if n in scored):
            label = f"{name.replace('_', ' ')} test"
            curves[label] = (data.test_y, scored[name].test_probs[:, 1])
            cut = scored[name].figures["threshold"]
            cuts[label] = {f"tuned {cut:.3f}": cut}
        write_tensorboard(
            experiment / ANSWER_RUN, answer_curves, test_pred, data.classes, answer["threshold"],
            runs, roc_pr=roc_pr_figure(curves, data.classes, cuts),
        )  # fmt: skip
    c = answer["calibration"]
    title = (
        f"answer calibrated on validation (temperature {c['temperature']:.2f}): top-label "
        f"ECE val {c['val']['ece']:.3f}, test {c['test']['ece']:.3f}"
    )
    if "ece_positive" in c["val"]:  # what the diagram draws: the positive class's own
        title += (
            f"; {data.classes[1]}'s own ECE val {c['val']['ece_positive']:.3f}, test "
            f"{c['test']['ece_positive']:.3f}"
        )
    in_answer = frozenset(m["search_trial"] for m in answer["members"])
    write_plots(
        experiment,
        table[table["role"] == "search"],
        objective,
        curves,
        study,
        data.classes,
        cuts,
        references,
        calibration_title=title,
        in_answer=in_answer,
        confusion=(data.test_y, test_pred, answer.get("threshold")),
        roles=dict(zip(table["trial_id"], table["role"], strict=True)),
    )


def load_study(experiment: Path) -> optuna.Study | None:
    db = experiment / STUDY
    if not db.exists():
        return None
    storage = f"sqlite:///{db}"
    names = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=names[0], storage=storage) if names else None


def write_confirm(
    experiment: Path,
    runs: Sequence[Trial],
    ranks: dict[int, list[dict]],
    data: Data,
    objective: str,
) -> str:
    """confirm.csv (one row per retrained model) and confirm.json (mean and spread per
    config); each run is matched to its rank by its config, never by position."""
    rows = []
    for run in ranked(runs):
        scored = score_trial(run, data, objective).figures
        rows.append(
            {
                "rank": rank_of(run.config, ranks),
                "seed": scored["config"]["seed"],
                **{f"val_{k}": v for k, v in scored["val"].items()},
                **{f"test_{k}": v for k, v in scored["test"].items()},
            }
        )
    table = pd.DataFrame(rows).sort_values(["rank", "seed"])
    write_text(experiment / CONFIRM_BOARD, table.to_csv(index=False))
    shown = [
        "val_balanced_accuracy",
        "val_robust_balanced_accuracy",  # scored by searches that optimise it
        "test_balanced_accuracy",
        "test_balanced_accuracy_05",
        "test_roc_auc",
    ]
    shown = [m for m in shown if m in table.columns]
    stats = table.groupby("rank")[shown].agg(["mean", "std", "count"])
    summary = {
        int(rank): {
            m: {s: float(stats.loc[rank, (m, s)]) for s in ("mean", "std", "count")} for m in shown
        }
        for rank in stats.index
    }
    for rank, entry in summary.items():
        config = ranks[rank][0]
        entry["config"] = {k: v for k, v in config.items() if k not in ("seed", "device")}
    write_record(experiment / CONFIRM, {"ranks": summary})
    lines = ["confirm: top configs retrained with new seeds (mean +- std over seeds)"]
    for rank, entry in summary.items():
        cells = "  ".join(
            f"{m.replace('balanced_accuracy', 'bal_acc')} "
            f"{entry[m]['mean']:.4f}+-{entry[m]['std']:.4f}"
            for m in shown
        )
        lines.append(f"  #{rank} ({entry[shown[0]]['count']:.0f} runs)  {cells}")
    return "\n".join(lines)
