"""The report's pictures from leaderboard tables, errored trials included."""

import numpy as np
import pandas as pd

from search.plots import knobs_figure, write_plots

OBJECTIVE = "val_balanced_accuracy"


def leaderboard() -> pd.DataFrame:
    """The shape of issue 10's leaderboard: two trials scored, one that crashed in its first
    epoch (no score), knobs on a log axis and a categorical one."""
    return pd.DataFrame(
        {
            "trial_id": ["trial_a", "trial_b", "trial_c"],
            "role": ["search"] * 3,
            "status": ["complete", "complete", "error"],
            OBJECTIVE: [0.861, 0.5, np.nan],
            "config/lr": [0.003, 0.00089, 0.0053],
            "config/weight_decay": [1e-4, 4.8e-6, 3.9e-4],
            "config/sampler": ["oversample", "none", "undersample"],
            "config/sampler_power": [0.5, np.nan, np.nan],
        }
    )


def test_an_errored_trial_is_left_out_of_the_knob_plot_and_counted(tmp_path):
    written = write_plots(tmp_path, leaderboard(), OBJECTIVE, curves=None, study=None)
    assert written == [tmp_path / "knobs.png"] and (tmp_path / "knobs.png").stat().st_size > 0
    fig = knobs_figure(leaderboard(), OBJECTIVE)
    assert "1 errored trial(s) left out" in fig.texts[0].get_text()


def test_no_knob_plot_when_no_trial_has_a_score(tmp_path):
    table = leaderboard().assign(**{OBJECTIVE: np.nan})
    assert knobs_figure(table, OBJECTIVE) is None
    assert write_plots(tmp_path, table, OBJECTIVE, curves=None, study=None) == []
