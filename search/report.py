"""What a finished search leaves behind, in <storage>/<name>/:

- leaderboard.csv: one row per trial (search trials, the answer's member runs: good trials
  ASHA stopped trained in full and new seeds, the references): role, status, every knob, its
  best-epoch validation metrics (both objectives), epochs run;
- best.json: the answer (the mean of up to five models trained for the full budget, within
  one validation image of the best of them, search/answer.py): its members' trial ids, kinds
  (search, full_run, new_seed, baseline, seed_recipe), configs and checkpoints, its tuned
  threshold, temperature and validation metrics; and the single best trial the same way;
- test_metrics.json: the test split scored once, after the search, for the answer, the best
  trial's best checkpoint and the two reference configs (plain baseline, seed recipe), each at
  its validation-tuned threshold and at 0.5, with the validation-to-test gap; and the verdict:
  whether the answer beat each reference on validation by more than one minority image, and
  on test, and how many trials reached each reference on validation;
- roc_pr.png, knobs.png, importances.png and an answer/ TensorBoard run of the answer
  (search.plots).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from ray.tune import Result, ResultGrid

from search.adapt import adapted_cut
from search.answer import Member, answer_members, average, one_image, reached
from search.board import write_hparams
from search.calibration import calibration_figures, fit_temperature, scale
from search.intervals import decisions, figure_intervals, judge, margin_interval
from search.plots import write_plots, write_tensorboard
from search.reruns import (
    REFERENCES,
    best_epoch,
    candidates,
    rank_of,
    ranked_trials,
    reference_role,
    same_config,
)
from trainable.checkpoint import CHECKPOINT_FILE, load_checkpoint
from trainable.data import Data
from trainable.files import write_json
from trainable.inference import predict_checkpoint
from trainable.metrics import confusion, evaluate, levels_reported, operating_points

SUMMARY_METRICS = (
    "balanced_accuracy",
    "robust_balanced_accuracy",
    "balanced_accuracy_05",
    "sensitivity",
    "specificity",
    "roc_auc",
)


# What trained each member of the answer, in words, in the order the summary lists them.
MEMBER_WORDS = {
    "search": "search trial(s)",
    "full_run": "trial(s) ASHA stopped, trained in full",
    "new_seed": "new seed(s) of good trials",
    "baseline": "the baseline",
    "seed_recipe": "the seed recipe",
}
VAL_SCORES = "answer_val_scores.npz"  # the answer's calibrated validation scores and labels


def trial_rows(
    results: ResultGrid, max_epochs: int, objective: str, role: Callable[[Result], str]
) -> pd.DataFrame:
    """One row per trial, at the epoch with the best objective; `role(result)` names it."""
    rows = []
    for result in results:
        history = result.metrics_dataframe
        row: dict[str, Any] = {"trial_id": Path(result.path).name, "role": role(result)}
        if history is None or history.empty or objective not in history:
            row |= {"status": "error", "epochs_run": 0}
        else:
            epochs_run = int(history["epoch"].max())
            status = "complete" if epochs_run >= max_epochs else "stopped"
            row |= {"status": "error" if result.error else status, "epochs_run": epochs_run}
            _, best = best_epoch(result, objective)
            row["best_epoch"] = int(best["epoch"])
            row |= {k: float(v) for k, v in best.items() if k.startswith("val_") and v is not None}
            row["run_time_s"] = float(history["time_total_s"].max())
            row |= {k: float(history[k].max()) for k in history.columns if k.startswith("peak_")}
        row |= {f"config/{k}": v for k, v in sorted(result.config.items())}
        rows.append(row)
    table = pd.DataFrame(rows)
    if objective in table:
        # the order of search.reruns.ranked_trials: best first, ties by trial folder name
        table = table.sort_values(
            [objective, "trial_id"], ascending=[False, True], na_position="last", kind="stable"
        )
    return table.reset_index(drop=True)


def has_scores(result: Result, objective: str) -> bool:
    return bool(result.metrics) and objective in result.metrics


def score_on_test(result: Result, data: Data, objective: str) -> dict:
    """Validation metrics at the trial's best epoch next to the test split scored once."""
    checkpoint, best = best_epoch(result, objective)
    with checkpoint.as_directory() as folder:
        state = load_checkpoint(Path(folder) / CHECKPOINT_FILE)
    val_probs = predict_checkpoint(state, data, "val")
    val = {
        k.removeprefix("val_"): float(v)
        for k, v in best.items()
        if k.startswith("val_") and v is not None and pd.notna(v)
    }
    probs = predict_checkpoint(state, data, "test")
    test = evaluate(probs, data.test_y, threshold=state["threshold"])
    test_intervals = figure_intervals(probs, data.test_y, state["threshold"])
    return {
        "trial_id": Path(result.path).name,
        "config": state["config"],
        "epoch": state["epoch"],
        "threshold": state["threshold"],
        "checkpoint": checkpoint.path,
        "val": val,
        "test": test,
        "test_intervals": test_intervals,
        "val_test_gap": val["balanced_accuracy"] - test["balanced_accuracy"],
        "calibration": {
            "val": calibration_figures(val_probs, data.val_y),
            "test": calibration_figures(probs, data.test_y),
        },
        **split_details(val_probs, probs, data, state["threshold"], objective),
        "_probs": probs,  # for the answer and the curves; dropped before writing
        "_val_probs": val_probs,
    }


def split_details(
    val_probs: np.ndarray,
    test_probs: np.ndarray,
    data: Data,
    threshold: float | None,
    objective: str,
) -> dict:
    """`confusion`: each split's size, prevalence and confusion matrix at `threshold`;
    `operating_points` (binary): sensitivity and specificity at each sensitivity level, on
    validation at the cut that first reaches it there, on test at that same cut (what a
    screening user would deploy)."""
    counts = {
        "val": confusion(val_probs, data.val_y, threshold),
        "test": confusion(test_probs, data.test_y, threshold),
    }
    if data.num_classes != 2:
        return {"confusion": counts, "operating_points": None}
    levels = levels_reported(objective)
    val = operating_points(val_probs[:, 1], data.val_y, levels)
    cuts = {level: point["cut"] for level, point in val.items()}
    test = operating_points(test_probs[:, 1], data.test_y, levels, cuts)
    return {"confusion": counts, "operating_points": {"val": val, "test": test}}


def score_answer(members: list[dict], data: Data, objective: str) -> dict:
    """The members' mean (search.answer.average), calibrated by a temperature fitted on
    validation (search.calibration) and thresholded on its own calibrated validation scores."""
    mean_val = average([m["_val_probs"] for m in members])
    mean_test = average([m["_probs"] for m in members])
    temperature = fit_temperature(mean_val, data.val_y)
    val_probs, test_probs = scale(mean_val, temperature), scale(mean_test, temperature)
    calibration: dict[str, Any] = {"temperature": temperature}
    for split, before, after, labels in (
        ("val", mean_val, val_probs, data.val_y),
        ("test", mean_test, test_probs, data.test_y),
    ):
        uncalibrated = {
            f"{k}_uncalibrated": v for k, v in calibration_figures(before, labels).items()
        }
        calibration[split] = calibration_figures(after, labels) | uncalibrated
    val = evaluate(val_probs, data.val_y)
    test = evaluate(test_probs, data.test_y, threshold=val.get("threshold"))
    return {
        "members": [
            {k: m[k] for k in ("search_trial", "kind", "trial_id", "config", "epoch", "checkpoint")}
            for m in members
        ],
        "threshold": val.get("threshold"),
        "temperature": temperature,
        "val": val,
        "test": test,
        "test_intervals": figure_intervals(test_probs, data.test_y, val.get("threshold")),
        "val_test_gap": val["balanced_accuracy"] - test["balanced_accuracy"],
        "calibration": calibration,
        **split_details(val_probs, test_probs, data, val.get("threshold"), objective),
        "adapted": adapted_to_test(val_probs, test_probs, data, val.get("threshold")),
        "_probs": test_probs,
        "_val_probs": val_probs,
    }


def adapted_to_test(
    val_probs: np.ndarray, test_probs: np.ndarray, data: Data, threshold: float | None
) -> dict | None:
    """A second test figure, never the first: the answer at a cut moved to the test images'
    own scores when they show a shift (search.adapt, no test label read); binary only."""
    if data.num_classes != 2 or threshold is None:
        return None
    decision = adapted_cut(val_probs[:, 1], data.val_y, threshold, test_probs[:, 1])
    test = evaluate(test_probs, data.test_y, threshold=decision.cut)
    return {
        "shift_p_value": decision.p_value,
        "shifted": decision.shifted,
        "cut": decision.cut,
        "test": test,
    }


def verdict(scored: dict, data: Data, references: list[str]) -> dict:
    """Did the answer beat each reference on validation by more than one image of the
    smallest validation class (the most one image moves balanced accuracy), and on test? On
    test (two classes) also the margin's 95% interval, paired over the test images, and what
    it says: better, worse or no clear difference."""
    image = one_image(data.val_y, data.num_classes)
    answer = scored["answer"]
    out: dict[str, Any] = {"one_validation_image": image}
    for name in references:
        if name not in scored:
            continue
        val_margin = answer["val"]["balanced_accuracy"] - scored[name]["val"]["balanced_accuracy"]
        test_margin = (
            answer["test"]["balanced_accuracy"] - scored[name]["test"]["balanced_accuracy"]
        )
        out[name] = {
            "val_margin": val_margin,
            "beats_on_val": bool(val_margin > image),
            "test_margin": test_margin,
            "beats_on_test": bool(test_margin > 0),
        }
        if answer.get("test_intervals") and scored[name].get("test_intervals"):
            low, high = margin_interval(
                data.test_y,
                decisions(answer["_probs"], answer["threshold"]),
                decisions(scored[name]["_probs"], scored[name]["threshold"]),
            )
            out[name] |= {"test_margin_interval": [low, high], "on_test": judge(low, high)}
    return out


def write_report(
    experiment: Path,
    results: ResultGrid,
    references: ResultGrid | None,
    reference_configs: dict[str, dict],
    data: Data,
    max_epochs: int,
    objective: str,
    completions: Sequence[ResultGrid] = (),
    *,
    plan: list[Member],
) -> dict:
    """Everything above; references are matched to their role by config, never by position;
    `plan` is what search.answer.plan_members asked for after the search and `completions`
    its runs, a grid per wave (good trials ASHA stopped, trained in full, and new seeds of
    good trials)."""

    def role(result: Result) -> str:
        return reference_role(result.config, reference_configs)

    def planned(result: Result) -> Member | None:
        return next((m for m in plan if same_config(m.config, result.config)), None)

    def member_kind(result: Result) -> str:
        return getattr(planned(result), "kind", "full_run")

    def member_role(result: Result) -> str:
        return "member_seed" if member_kind(result) == "new_seed" else "member_full_run"

    table = trial_rows(results, max_epochs, objective, lambda result: "search")
    for grid, name in [*((c, member_role) for c in completions), (references, role)]:
        if grid is not None:
            table = pd.concat([table, trial_rows(grid, max_epochs, objective, name)])
    table = table.reset_index(drop=True)
    study = load_study(experiment)
    if study is not None:  # optuna-dashboard's trial numbers, matched by folder
        numbers = {t.user_attrs.get("folder"): t.number for t in study.trials}
        table.insert(1, "optuna_trial", table["trial_id"].map(numbers).astype("Int64"))
    table.to_csv(experiment / "leaderboard.csv", index=False)
    grids = [grid for grid in (results, *completions, references) if grid is not None]
    by_folder = {Path(r.path).name: r for grid in grids for r in grid}
    write_hparams(experiment, table, by_folder)
    report: dict[str, Any] = {"table": table, "objective": objective, "scored": {}}
    if not any(has_scores(r, objective) for r in results):
        return report

    tested: dict[str, dict] = {}

    def scored_once(result: Result) -> dict:  # a reference may also be a member: test it once
        name = Path(result.path).name
        if name not in tested:
            tested[name] = score_on_test(result, data, objective)
        return tested[name]

    # The answer: the full-budget models within one validation image of the best of them
    # (search.answer.answer_members): search trials, the plan's runs and the references.
    trials = candidates(results, objective, max_epochs)
    pool = list(trials)
    for grid, kind in [*((c, member_kind) for c in completions), (references, role)]:
        pool += candidates(grid, objective, max_epochs, kind) if grid is not None else []
    members = []
    for model in answer_members(pool, one_image(data.val_y, data.num_classes)):
        source = by_folder[model.trial]
        planned_member = planned(source) if model.kind in ("full_run", "new_seed") else None
        search_trial = planned_member.search_trial if planned_member else model.trial
        members.append(scored_once(source) | {"search_trial": search_trial, "kind": model.kind})
    ranked = ranked_trials(results, objective)
    best_id = Path(ranked[0].path).name
    best_trial = scored_once(ranked[0])
    members = members or [best_trial | {"search_trial": best_id, "kind": "search"}]
    scored = {"answer": score_answer(members, data, objective), "best_trial": best_trial}
    for result in references or []:
        if has_scores(result, objective):
            scored[role(result)] = scored_once(result)
    scored = {k: scored[k] for k in ("answer", "best_trial", *reference_configs) if k in scored}
    report["scored"] = scored
    report["verdict"] = verdict(scored, data, list(reference_configs))
    report["verdict"]["trials"] = len(ranked)
    report["verdict"]["answer_models"] = len(members)
    for name in reference_configs:
        if name in scored:
            level = scored[name]["val"][objective.removeprefix("val_")]
            report["verdict"][name]["trials_reaching_it"] = reached(trials, level)

    public = {
        name: {k: v for k, v in s.items() if not k.startswith("_")} for name, s in scored.items()
    }
    single = ("trial_id", "config", "val", "threshold", "epoch", "checkpoint")
    answer = {k: public["answer"][k] for k in ("members", "threshold", "temperature", "val")}
    answer["members"] = [
        m | {"checkpoint": portable(m["checkpoint"], experiment)} for m in answer["members"]
    ]
    points = public["answer"].get("operating_points")
    answer["sensitivity_cuts"] = {k: p["cut"] for k, p in points["val"].items()} if points else {}
    best_trial = {k: public["best_trial"][k] for k in single}
    best_trial["checkpoint"] = portable(best_trial["checkpoint"], experiment)
    write_json(
        experiment / "best.json",
        {"objective": objective, "answer": answer, "best_trial": best_trial},
    )
    if data.num_classes == 2:  # what `search.predict --adapt` compares a site's images with
        tmp = experiment / "answer_val_scores.tmp.npz"
        np.savez(tmp, scores=scored["answer"]["_val_probs"][:, 1], labels=data.val_y)
        tmp.replace(experiment / VAL_SCORES)
    write_json(
        experiment / "test_metrics.json",
        {"objective": objective, "verdict": report["verdict"], **public},
    )
    write_pictures(experiment, table[table["role"] == "search"], objective, scored, data, study)
    return report


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
    scored: dict,
    data: Data,
    study: optuna.Study | None,
) -> None:
    answer = scored["answer"]
    score = objective.removeprefix("val_")
    references = {
        name.replace("_", " "): scored[name]["val"][score]
        for name in REFERENCES
        if score in scored.get(name, {}).get("val", {})
    }
    curves, cuts = None, None
    test_pred = answer["_probs"].argmax(1)  # more classes: the most probable one
    if data.num_classes == 2:
        curves = {
            "answer val": (data.val_y, answer["_val_probs"][:, 1]),
            "answer test": (data.test_y, answer["_probs"][:, 1]),
        }
        test_pred = decisions(answer["_probs"], answer["threshold"])
        write_tensorboard(experiment / "answer", curves, test_pred, data.classes)
        for name in (n for n in REFERENCES if n in scored):
            curves[f"{name.replace('_', ' ')} test"] = (data.test_y, scored[name]["_probs"][:, 1])
        cuts = {f"tuned {answer['threshold']:.3f}": answer["threshold"], "0.5": 0.5}
    c = answer["calibration"]
    title = (
        f"answer calibrated on validation (temperature {c['temperature']:.2f}): ECE val "
        f"{c['val']['ece']:.3f}, test {c['test']['ece']:.3f}"
    )
    in_answer = frozenset(m["search_trial"] for m in answer["members"])
    write_plots(
        experiment,
        table,
        objective,
        curves,
        study,
        data.classes,
        cuts,
        references,
        calibration_title=title,
        in_answer=in_answer,
        confusion=(data.test_y, test_pred),
    )


def load_study(experiment: Path) -> optuna.Study | None:
    db = experiment / "optuna.db"
    if not db.exists():
        return None
    storage = f"sqlite:///{db}"
    names = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=names[0], storage=storage) if names else None


def format_summary(report: dict) -> str:
    table: pd.DataFrame = report["table"]
    search = table[table["role"] == "search"]
    counts = search["status"].value_counts().to_dict()
    lines = [f"trials {len(search)}: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    if counts.get("error"):
        lines.append(
            f"warning: {counts['error']} trial(s) errored (each one's error.txt, in its trial "
            "folder, says why); the answer is built from the others"
        )
    if not report["scored"]:
        return "\n".join(lines + ["no trial reported a metric"])
    lines = verdict_lines(report) + lines
    names = {
        "balanced_accuracy": "bal_acc",
        "robust_balanced_accuracy": "robust",
        "balanced_accuracy_05": "bal_acc@0.5",
    }
    lines.append(f"{'':<24}" + "".join(f"{names.get(m, m):>13}" for m in SUMMARY_METRICS))
    for name, scored in report["scored"].items():
        for split in ("val", "test"):
            cells = "".join(
                f"{scored[split][m]:>13.4f}" if m in scored[split] else f"{'-':>13}"
                for m in SUMMARY_METRICS
            )
            lines.append(f"{name.replace('_', ' ') + '  ' + split:<24}{cells}")
    lines += operating_lines(report["scored"])
    answer = report["scored"]["answer"]
    if answer.get("adapted"):
        a = answer["adapted"]
        moved = (
            f"shifted (p {a['shift_p_value']:.3g} < 0.01): at the cut {a['cut']:.4f} read off the "
            f"test images' own scores, test balanced accuracy {a['test']['balanced_accuracy']:.4f}"
            if a["shifted"]
            else f"no shift detected (p {a['shift_p_value']:.3g}): the tuned cut stands"
        )
        lines.append(
            f"the test images against validation, no test label read: {moved} "
            f"(the figures above use the validation-tuned cut {answer['threshold']:.4f})"
        )
    c = answer["calibration"]
    lines.append(
        f"calibration: the answer's probabilities scaled by temperature {c['temperature']:.2f} "
        f"(fitted on validation); ECE val {c['val']['ece_uncalibrated']:.3f} -> "
        f"{c['val']['ece']:.3f}, test {c['test']['ece_uncalibrated']:.3f} -> "
        f"{c['test']['ece']:.3f} (calibration.png)"
    )
    lines.append(
        f"objective {report['objective']}; the answer's val-test gap "
        f"{answer['val_test_gap']:+.4f} (balanced accuracy at the tuned threshold)"
    )
    for member in answer["members"]:
        shown = [
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in member["config"].items()
            if k not in ("device", "epochs", "compile", "eval_every") and v is not None
        ]
        lines.append(f"  member {member['trial_id']} ({member['kind']}): " + ", ".join(shown))
    return "\n".join(lines)


def operating_lines(scored: dict) -> list[str]:
    """Sensitivity / specificity at each sensitivity level, the cut chosen on validation."""
    first = next(iter(scored.values())).get("operating_points")
    if not first:
        return []
    levels = list(first["val"])
    header = "".join(f"{'val sens ' + level:>17}" for level in levels)
    lines = [f"{'sens / spec where':<24}{header}"]
    for name, s in scored.items():
        for split in ("val", "test"):
            cells = "".join(
                f"{p['sensitivity']:>9.3f} / {p['specificity']:.3f}"
                for p in s["operating_points"][split].values()
            )
            lines.append(f"{name.replace('_', ' ') + '  ' + split:<24}{cells}")
    return lines


def test_line(scored: dict) -> str:
    """A model's test figures in one line: the images, balanced accuracy at its cut with the
    sensitivity and specificity there, ROC-AUC; 95% intervals where there are any."""
    test, bounds = scored["test"], scored.get("test_intervals") or {}

    def with_interval(metric: str) -> str:
        low_high = bounds.get(metric)
        shown = f"{test[metric]:.4f}"
        return shown + (f" (95% CI {low_high[0]:.4f}-{low_high[1]:.4f})" if low_high else "")

    cut = (
        f" at the cut {scored['threshold']:.4f} (sensitivity {test['sensitivity']:.3f}, "
        f"specificity {test['specificity']:.3f})"
        if scored.get("threshold") is not None and "specificity" in test
        else ""
    )
    return (
        f"test, {scored['confusion']['test']['images']} images: balanced accuracy "
        f"{with_interval('balanced_accuracy')}{cut}; ROC-AUC {with_interval('roc_auc')}"
    )


def verdict_lines(report: dict) -> list[str]:
    """The headline: what the answer is and whether it beat the references."""
    scored, verdict = report["scored"], report["verdict"]
    answer = scored["answer"]
    kinds = [m["kind"] for m in answer["members"]]
    built = ", ".join(
        words if kind in REFERENCES else f"{kinds.count(kind)} {words}"
        for kind, words in MEMBER_WORDS.items()
        if kind in kinds
    )
    lines = [
        f"answer: the mean of {len(kinds)} model(s) in logit space ({built}), each trained for "
        "the full budget and within one validation image of the best of them",
        "  " + test_line(answer),
    ]
    for name, v in verdict.items():
        if not isinstance(v, dict):
            continue
        label = name.replace("_", " ")
        test_word = "beat it" if v["beats_on_test"] else "did not beat it"
        if "test_margin_interval" in v:
            low, high = v["test_margin_interval"]
            test_word = f"95% CI {low:+.4f} to {high:+.4f}: {v['on_test']}"
        reaching = v.get("trials_reaching_it")
        reach = (
            f"; {reaching} of {verdict['trials']} trials reached it there"
            if reaching is not None
            else ""
        )
        lines.append(
            f"  vs {label}: test {v['test_margin']:+.4f} ({test_word}), validation "
            f"{v['val_margin']:+.4f}{reach}"
        )
        if v["val_margin"] < 0:
            lines.append(
                f"  warning: on validation the answer is below the {label}: the search found "
                "nothing better than it (more trials, or another space, may)"
            )
        elif not v["beats_on_val"]:
            lines.append(
                f"  warning: on validation the answer is not ahead of the {label} by more "
                f"than one image ({verdict['one_validation_image']:.4f}); the search found "
                "nothing that validation can tell apart from it"
            )
    return lines


def write_confirm(
    experiment: Path,
    results: ResultGrid,
    ranks: dict[int, list[dict]],
    data: Data,
    objective: str,
) -> str:
    """confirm.csv (one row per retrained model) and confirm.json (mean and spread per
    config); each run is matched to its rank by its config, never by position."""
    rows = []
    for result in results:
        if not has_scores(result, objective):
            continue
        scored = score_on_test(result, data, objective)
        rows.append(
            {
                "rank": rank_of(result.config, ranks),
                "seed": scored["config"]["seed"],
                **{f"val_{k}": v for k, v in scored["val"].items()},
                **{f"test_{k}": v for k, v in scored["test"].items()},
            }
        )
    table = pd.DataFrame(rows).sort_values(["rank", "seed"])
    table.to_csv(experiment / "confirm.csv", index=False)
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
    write_json(experiment / "confirm.json", summary)
    lines = ["confirm: top configs retrained with new seeds (mean +- std over seeds)"]
    for rank, entry in summary.items():
        cells = "  ".join(
            f"{m.replace('balanced_accuracy', 'bal_acc')} "
            f"{entry[m]['mean']:.4f}+-{entry[m]['std']:.4f}"
            for m in shown
        )
        lines.append(f"  #{rank} ({entry[shown[0]]['count']:.0f} runs)  {cells}")
    return "\n".join(lines)
