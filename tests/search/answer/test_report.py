"""The computed report: the leaderboard from hand-made trial records, and which runs are one
config trained with other seeds."""

import pandas as pd

from search.answer.report import full_config, leaderboard, repeats
from search.answer.rules import Trial


def record(name: str, scores: list[float] | None, kind: str = "search", budget: int = 3) -> Trial:
    """A trial that reported `scores` at epochs 1, 2, ... (None: it never reported)."""
    if scores is None:
        return Trial(name, None, {"seed": 0}, complete=False, kind=kind, errored=True)
    history = pd.DataFrame(
        {
            "epoch": range(1, len(scores) + 1),
            "val_balanced_accuracy": scores,
            "time_total_s": [10.0 * (i + 1) for i in range(len(scores))],
        }
    )
    best = history.loc[history["val_balanced_accuracy"].idxmax()].to_dict()
    return Trial(
        name,
        max(scores),
        {"seed": 0, "gamma": 2.0},
        complete=len(scores) >= budget,
        kind=kind,
        epochs_run=len(scores),
        best=best,
        history=history,
    )


def test_the_leaderboard_ranks_each_group_at_its_best_epoch_with_one_status_rule():
    search = [
        record("trial_b", [0.80, 0.85]),  # ASHA stopped it after two epochs of three
        record("trial_c", None),
        record("trial_a", [0.70, 0.90, 0.88]),
    ]
    references = [record("baseline", [0.8, 0.86, 0.86], kind="baseline")]
    table = leaderboard([search, [], references])
    assert list(table["trial_id"]) == ["trial_a", "trial_b", "trial_c", "baseline"]
    assert list(table["status"]) == ["complete", "stopped", "error", "complete"]
    assert list(table["role"]) == ["search", "search", "search", "baseline"]
    first = table.iloc[0]
    assert first["best_epoch"] == 2 and first["val_balanced_accuracy"] == 0.90
    assert first["epochs_run"] == 3 and first["run_time_s"] == 30.0
    assert first["config/gamma"] == 2.0
    assert table.iloc[2]["epochs_run"] == 0 and pd.isna(table.iloc[2]["best_epoch"])


def test_a_trial_and_its_new_seeds_are_one_config_though_their_records_differ():
    # a search trial's record holds the knobs its space set; a member's run holds every knob
    trial = Trial("trial_a", 0.9, {"loss": "focal", "gamma": 2.0, "lr": 0.01, "seed": 0}, True)
    seed = Trial("trial_m_00000", 0.9, {**full_config(trial), "seed": 1}, True)
    other = Trial("trial_b", 0.9, {**full_config(trial), "lr": 0.02, "seed": 0}, True)
    stopped = Trial("trial_c", 0.9, {**full_config(trial), "seed": 2}, False)
    runs = [trial, seed, other, stopped]
    assert repeats(trial, runs) and repeats(seed, runs)
    assert not repeats(other, runs)  # another learning rate: another config
    assert len(full_config(trial)) > len(trial.config)
