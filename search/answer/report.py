"""The report, computed: the leaderboard with which models are the answer and why the others
are not, every model scored once, the verdict and the technique finding. search.outputs.report
writes it; nothing here writes a file.

    report = compute_report(search, members, references, data, objective, start_points, numbers)
    write_report(experiment, report, data, study)       # search.outputs.report
    confirm = compute_confirm(runs, ranks, data, objective)   # --confirm's retrained configs

Which models make the answer and the verdict are search.answer.rules's decisions, the scores
search.answer.scoring's, the finding search.answer.findings's; this module puts them together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
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
from search.stats.intervals import balanced_accuracy, decisions, margin_interval, seed_spread
from trainable.config import TrainConfig
from trainable.data import Data


@dataclass(frozen=True)
class Report:
    """The leaderboard, the scored models (answer, best_trial and the references present;
    empty when no trial scored), the verdict (None then), the finding, and the trials behind
    the leaderboard's rows by id (TensorBoard's HParams are written into their folders)."""

    objective: str
    table: pd.DataFrame
    scored: dict[str, Scored]
    verdict: dict | None
    finding: dict | None = None  # search.answer.findings.technique_finding's
    trials: dict[str, Trial] = field(default_factory=dict)


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


def compute_report(
    search: Sequence[Trial],
    members: Sequence[Trial],
    references: Sequence[Trial],
    data: Data,
    objective: str,
    start_points: dict[str, dict] | None = None,
    optuna_numbers: dict[str, int] | None = None,
) -> Report:
    """The report of the search's trials, the plan's runs (search.tune.records.member_records)
    and the references'. `start_points`: the references as the search's start points wrote them
    (spaces.catalog.named_start_points), so the answer is named for what it is;
    `optuna_numbers`: each search trial's folder -> its Optuna trial number (the dashboard's)."""
    searched = {t.trial for t in search}  # a reference may be a search trial: one row
    table = leaderboard([search, members, [r for r in references if r.trial not in searched]])
    image = one_image(data.val_y, data.num_classes)
    chosen = the_answer([*search, *members, *references], search, image) if ranked(search) else []
    why_not = why_not_in_answer([*search, *members, *references], chosen, image)
    at = list(table.columns).index("status") + 1
    table.insert(at, "in_answer", table["trial_id"].map(lambda t: why_not.get(t) == ""))
    table.insert(at + 1, "why_not_in_answer", table["trial_id"].map(why_not).fillna(""))
    if optuna_numbers is not None:
        table.insert(1, "optuna_trial", table["trial_id"].map(optuna_numbers).astype("Int64"))
    trials = {t.trial: t for t in (*search, *members, *references)}
    if not ranked(search):
        return Report(objective, table, {}, None, trials=trials)

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
    return Report(objective, table, scored, found, finding, trials)


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


@dataclass(frozen=True)
class Confirm:
    """--confirm's retrained configs: one row per model, and per rank the mean, spread and
    count of each shown metric over its new seeds, with the config."""

    table: pd.DataFrame
    ranks: dict[int, dict[str, Any]]
    shown: list[str]


def compute_confirm(
    runs: Sequence[Trial], ranks: dict[int, list[dict]], data: Data, objective: str
) -> Confirm:
    """Each retrained run scored and matched to its rank by its config, never by position."""
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
    return Confirm(table, summary, shown)
