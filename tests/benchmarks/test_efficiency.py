# ruff: noqa: E501  (a console's lines are as long as they are)
"""The efficiency benchmark's check of the console's time left, on a hand-made console."""

import pytest

from benchmarks.efficiency import time_left_at

CONSOLE = """\
space focal: 12 trials of up to 10 epochs, ASHA grace 1, 2 at a time -> x
[     40s] running trial_a epoch 1/10 0.9 | 0/12 done (0 complete, 0 stopped, 0 errored) | about 9 min left in all
[    150s] trial 1/12 done: trial_a (Optuna #0) stopped after 1/10 epochs, val_balanced_accuracy 0.9
[    190s] running trial_b epoch 3/10 0.9 | 5/12 done (1 complete, 4 stopped, 0 errored) | about 4 min left in all
[    370s] running trial_c epoch 9/10 0.9 | 0/3 done (0 complete, 0 stopped, 0 errored) | under a minute left in all
[    400s] done; driver peak memory 900 MiB
"""


def test_the_status_line_nearest_half_the_job_is_held_against_the_true_time_left():
    half = time_left_at(CONSOLE, 0.5)  # 200 s: the line at 190 s said 4 min, 210 s were left
    assert half == {"at_s": 190, "end_s": 400, "said_s": 240, "true_s": 210,
                    "ratio": pytest.approx(240 / 210)}  # fmt: skip
    assert time_left_at(CONSOLE, 0.9)["said_s"] == 0  # "under a minute"
    assert time_left_at(CONSOLE.replace("done;", "ended;"), 0.5) is None  # no end: no check
