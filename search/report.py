"""What a finished search leaves behind, in <storage>/<name>/:

- leaderboard.csv: one row per trial: status, every knob, best validation metrics, epochs run;
- best.json: the best trial's config, validation metrics, tuned threshold, checkpoint path;
- test_metrics.json: the test split scored once, for the best trial's best checkpoint and, when
  the search ran it, the seed recipe's trial, each at its validation-tuned threshold and at 0.5.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from ray.tune import ResultGrid

from trainable.data import Data
from trainable.ray_trainable import CHECKPOINT_FILE, OBJECTIVE
from trainable.train import evaluate_checkpoint, load_checkpoint, write_json

SUMMARY_METRICS = (
    "balanced_accuracy",
    "balanced_accuracy_05",
    "sensitivity",
    "specificity",
    "f1",
    "roc_auc",
    "pr_auc",
)


def trial_rows(results: ResultGrid, max_epochs: int) -> pd.DataFrame:
    """One row per trial, at the epoch with the best validation objective."""
    rows = []
    for result in results:
        history = result.metrics_dataframe
        row: dict[str, Any] = {"trial_id": result.path and Path(result.path).name}
        if history is None or history.empty or OBJECTIVE not in history:
            row |= {"status": "error", "epochs_run": 0}
        else:
            epochs_run = int(history["epoch"].max())
            status = "complete" if epochs_run >= max_epochs else "stopped"
            row |= {"status": "error" if result.error else status, "epochs_run": epochs_run}
            best = history.loc[history[OBJECTIVE].idxmax()]
            row["best_epoch"] = int(best["epoch"])
            row |= {k: float(best[k]) for k in history.columns if k.startswith("val_")}
        row |= {f"config/{k}": v for k, v in sorted(result.config.items())}
        rows.append(row)
    table = pd.DataFrame(rows)
    if OBJECTIVE in table:
        table = table.sort_values(OBJECTIVE, ascending=False, na_position="last")
    return table.reset_index(drop=True)


def best_checkpoint_state(result) -> tuple[dict, str]:
    checkpoint = result.get_best_checkpoint(OBJECTIVE, "max")
    with checkpoint.as_directory() as folder:
        return load_checkpoint(Path(folder) / CHECKPOINT_FILE), checkpoint.path


def write_report(
    experiment: Path, results: ResultGrid, data: Data, max_epochs: int, seed_point: dict | None
) -> dict:
    table = trial_rows(results, max_epochs)
    table.to_csv(experiment / "leaderboard.csv", index=False)
    scored = [r for r in results if r.metrics and OBJECTIVE in r.metrics]
    if not scored:
        return {"trials": len(table), "best": None}
    best = results.get_best_result(OBJECTIVE, "max", scope="all")
    state, checkpoint_path = best_checkpoint_state(best)
    best_row = table[table["trial_id"] == Path(best.path).name].iloc[0]
    val = {
        k.removeprefix("val_"): v
        for k, v in best_row.items()
        if k.startswith("val_") and pd.notna(v)
    }
    summary = {
        "config": state["config"],
        "val": val,
        "threshold": state["threshold"],
        "epoch": state["epoch"],
        "checkpoint": checkpoint_path,
    }
    write_json(experiment / "best.json", summary)

    test = {"best": {"config": state["config"], **evaluate_checkpoint(state, data)}}
    seed_result = find_trial(results, seed_point)
    if seed_result is not None:
        seed_state, _ = best_checkpoint_state(seed_result)
        test["seed_recipe"] = {
            "config": seed_state["config"],
            **evaluate_checkpoint(seed_state, data),
        }
    write_json(experiment / "test_metrics.json", test)
    return {"trials": len(table), "table": table, "best": summary, "test": test}


def find_trial(results: ResultGrid, point: dict | None):
    if not point:
        return None
    for result in results:
        if result.metrics and all(result.config.get(k) == v for k, v in point.items()):
            return result
    return None


def format_summary(report: dict) -> str:
    table: pd.DataFrame = report["table"]
    counts = table["status"].value_counts().to_dict()
    lines = [f"trials {report['trials']}: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    if report["best"] is None:
        return "\n".join(lines + ["no trial reported a metric"])
    header = f"{'':<22}" + "".join(
        f"{m.replace('balanced_accuracy', 'bal_acc'):>14}" for m in SUMMARY_METRICS
    )
    lines.append(header)
    lines.append(_row("best  validation", report["best"]["val"]))
    for name, metrics in report["test"].items():
        lines.append(_row(f"{name.replace('_', ' ')}  test", metrics))
    lines.append(
        "best config: "
        + json.dumps({k: v for k, v in report["best"]["config"].items() if k not in ("device",)})
    )
    return "\n".join(lines)


def _row(label: str, metrics: dict) -> str:
    cells = "".join(
        f"{metrics[m]:>14.4f}" if m in metrics else f"{'-':>14}" for m in SUMMARY_METRICS
    )
    return f"{label:<22}{cells}"
