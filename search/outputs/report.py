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
- answer_val_scores.npz: the answer's calibrated validation scores and labels, which
  `search.predict --adapt` compares a site's images with;
- the figures (search.outputs.plots: roc_pr, knobs, importances, history, learning_curves,
  calibration, confusion) and an answer/ TensorBoard run of the answer;
- with --confirm: confirm.csv and confirm.json (write_confirm).

    study = load_study(experiment)
    report = compute_report(search, members, references, data, objective, starts,
                            optuna_numbers(study))        # search.answer.report
    write_report(experiment, report, data, study)

Only the files: what they hold was computed by search.answer.report (which models make the
answer, their scores, the verdict, the finding); the console's summary is
search.outputs.summary's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from search.answer.references import REFERENCES
from search.answer.report import Confirm, Report
from search.answer.rules import (
    Scored,
)
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
from search.stats.intervals import decisions
from trainable.data import Data
from trainable.files import replacing, write_text


def write_report(experiment: Path, report: Report, data: Data, study: optuna.Study | None) -> None:
    """Every file the module docstring lists, from the computed report; `study` for the
    importance figure (None: not drawn)."""
    write_text(experiment / BOARD, report.table.to_csv(index=False))
    write_hparams(experiment, report.table, report.trials)
    if not report.scored:
        return
    scored, objective = report.scored, report.objective
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
            np.savez(f, scores=scored["answer"].val_probs[:, 1], labels=data.val_y)
    write_record(
        experiment / TEST_METRICS,
        {"objective": objective, "technique_finding": report.finding, "verdict": report.verdict,
         **public},
    )  # fmt: skip
    write_pictures(experiment, report.table, objective, scored, data, study)
    write_finding(experiment / ANSWER_RUN, report.finding)


def optuna_numbers(study: optuna.Study | None) -> dict[str, int] | None:
    """Each search trial's folder -> its Optuna trial number, as optuna-dashboard shows it."""
    if study is None:
        return None
    return {t.user_attrs.get("folder"): t.number for t in study.trials}


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
    # the search's trials, the references' start points among them: those Optuna numbered
    searched = (
        table["optuna_trial"].notna() if "optuna_trial" in table else table["role"] == "search"
    )
    write_plots(
        experiment,
        table[searched],
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


def write_confirm(experiment: Path, confirm: Confirm) -> str:
    """confirm.csv (one row per retrained model) and confirm.json (mean and spread per
    config, under `ranks`); returns the console's lines."""
    write_text(experiment / CONFIRM_BOARD, confirm.table.to_csv(index=False))
    write_record(experiment / CONFIRM, {"ranks": confirm.ranks})
    lines = ["confirm: top configs retrained with new seeds (mean +- std over seeds)"]
    for rank, entry in confirm.ranks.items():
        cells = "  ".join(
            f"{m.replace('balanced_accuracy', 'bal_acc')} "
            f"{entry[m]['mean']:.4f}+-{entry[m]['std']:.4f}"
            for m in confirm.shown
        )
        lines.append(f"  #{rank} ({entry[confirm.shown[0]]['count']:.0f} runs)  {cells}")
    return "\n".join(lines)
