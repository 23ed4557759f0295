"""Tune's result grids as the answer's typed records (search.answer.rules.Trial), read once.

    search = trial_records(results, objective, epochs)
    references = trial_records(grid, objective, epochs, lambda r: reference_role(r.config, refs))
    runs = member_records([wave_1, wave_2], objective, epochs, plan)   # kinds from the plan

Every other module reads trials through these records: the best epoch and its checkpoint are
looked up here once (Trial.status says complete, stopped or error), so the leaderboard's row,
best.json, test_metrics.json and TensorBoard's HParams always agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ray import tune
from ray.tune import Result, ResultGrid

from search.answer.references import same_config
from search.answer.rules import Member, Trial, full_budget


def best_epoch(result: Result, objective: str) -> tuple[tune.Checkpoint | None, dict]:
    """The trial's best epoch: its kept checkpoint with the highest score (ties: the earliest
    epoch) and that epoch's reported metrics. A trial without checkpoints: its best reported
    epoch."""
    kept = [(c, m) for c, m in result.best_checkpoints or [] if objective in m]
    if kept:
        return max(kept, key=lambda pair: (pair[1][objective], -pair[1]["epoch"]))
    history = result.metrics_dataframe
    return None, history.loc[history[objective].idxmax()].to_dict()


def trial_record(
    result: Result, objective: str, epochs: int, kind: str = "search", source: str = ""
) -> Trial:
    """One result as a Trial: its score and checkpoint at the best epoch, whether it ran the
    whole budget of `epochs`; `kind` says what trained it, `source` the search trial a
    member's run came from."""
    history = result.metrics_dataframe
    common = {
        "trial": Path(result.path).name,
        "config": result.config,
        "kind": kind,
        "search_trial": source,
        "errored": result.error is not None,
        "path": result.path,
        "history": history,
    }
    if history is None or history.empty or objective not in history:
        return Trial(score=None, complete=False, **common)
    checkpoint, best = best_epoch(result, objective)
    epochs_run = int(history["epoch"].max())
    return Trial(
        score=float(history[objective].max()),
        complete=full_budget(epochs_run, epochs),
        epochs_run=epochs_run,
        best=best,
        checkpoint=checkpoint,
        **common,
    )


def trial_records(
    grid: ResultGrid | None,
    objective: str,
    epochs: int,
    kind: Callable[[Result], str] = lambda result: "search",
    source: Callable[[Result], str] = lambda result: "",
) -> list[Trial]:
    """Every trial of a grid (none for None), in the grid's order."""
    if grid is None:
        return []
    return [trial_record(r, objective, epochs, kind(r), source(r)) for r in grid]


def member_records(
    grids: Sequence[ResultGrid], objective: str, epochs: int, plan: Sequence[Member]
) -> list[Trial]:
    """The plan's runs (every wave), each matched to its member of the plan by config: kind
    full_run or new_seed, and the search trial it came from."""

    def planned(result: Result) -> Member | None:
        return next((m for m in plan if same_config(m.config, result.config)), None)

    def kind(result: Result) -> str:
        return getattr(planned(result), "kind", "full_run")

    def source(result: Result) -> str:
        return getattr(planned(result), "search_trial", "")

    return [t for grid in grids for t in trial_records(grid, objective, epochs, kind, source)]
