"""The printed summary, and the exit code when no trial scored."""

import numpy as np
import pandas as pd

import search.job
import search.run
from search.answer.report import Report
from search.outputs.summary import format_summary


def table_with_an_errored_trial() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial_id": ["trial_a", "trial_b"],
            "role": ["search", "search"],
            "status": ["complete", "error"],
            "val_balanced_accuracy": [0.9, np.nan],
        }
    )


def test_the_summary_says_how_many_trials_errored_and_where_to_look():
    text = format_summary(Report("x", table_with_an_errored_trial(), {}, None))
    assert "trials 2: 1 complete, 1 error" in text
    assert "warning: 1 trial(s) errored" in text and "error.txt" in text


def test_a_search_without_any_score_exits_1_with_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(search.job, "search", lambda settings: False)
    code = search.run.main(["--space", "focal", "--storage", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err.startswith("error: no trial reported a score") and "\n" not in err


def test_the_summary_counts_the_references_start_points_among_the_search_trials():
    table = pd.DataFrame(
        {
            "trial_id": ["trial_a", "trial_b", "trial_c"],
            "optuna_trial": [0, 1, 2],
            "role": ["baseline", "seed_recipe", "search"],
            "status": ["complete", "complete", "stopped"],
            "val_balanced_accuracy": [0.9, 0.91, 0.8],
        }
    )
    text = format_summary(Report("x", table, {}, None))
    assert "trials 3 (the start points of baseline and seed recipe among them): " in text
    assert "2 complete, 1 stopped" in text
