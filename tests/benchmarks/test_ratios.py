"""The ratio benchmark's statistics on hand-made decisions, and its page held to its JSON."""

import json
from pathlib import Path

import numpy as np
import pytest
from scores import decisions_wrong_on

from benchmarks import ratios_analysis
from benchmarks.ratios_analysis import balanced, family_table, pooled_margin, seed_sd
from benchmarks.ratios_page import render

ROOT = Path(__file__).resolve().parents[2]
LABELS = np.repeat([0, 1], [161, 463])  # the no-shift test's class counts


def wrong_on(share: float, seed: int) -> np.ndarray:
    return decisions_wrong_on(LABELS, share, seed)


def test_a_clear_margin_over_every_seed_is_above_zero_and_a_tie_is_not():
    better = [wrong_on(0.02, s) for s in range(3)]
    worse = [wrong_on(0.10, s + 10) for s in range(3)]
    low, high = pooled_margin(LABELS, better, worse, seeds=True)
    assert 0 < low < 0.08 < high
    low, high = pooled_margin(LABELS, better, [wrong_on(0.02, s + 20) for s in range(3)], True)
    assert low < 0 < high


def test_seeds_drawn_again_widen_the_interval_when_seeds_disagree():
    # one seed far ahead, two level: the mean margin leans on that one seed
    a = [wrong_on(0.02, 0), wrong_on(0.10, 1), wrong_on(0.10, 2)]
    b = [wrong_on(0.10, 3), wrong_on(0.10, 4), wrong_on(0.10, 5)]
    images = pooled_margin(LABELS, a, b, seeds=False)
    both = pooled_margin(LABELS, a, b, seeds=True)
    assert both[1] - both[0] > images[1] - images[0]
    assert balanced(LABELS, a[0]) == pytest.approx(0.98, abs=0.005)


def test_a_family_is_judged_by_its_full_budget_trials_only():
    seed0 = [
        {"technique": "A", "augmentation": "on", "status": "complete", "val": 0.9,
         "no_shift": 0.8, "test": 0.7},
        {"technique": "A", "augmentation": "on", "status": "stopped", "val": 0.95,
         "no_shift": 0.5, "test": 0.5},
        {"technique": "B", "augmentation": "off", "status": "stopped", "val": 0.7,
         "no_shift": 0.6, "test": 0.6},
    ]  # fmt: skip
    table = family_table([seed0])
    assert table["technique"]["A"]["best_no_shift"] == 0.8  # not the stopped trial's
    assert table["technique"]["A"]["trials"] == 2 and table["technique"]["A"]["complete"] == 1
    assert table["technique"]["B"]["best_no_shift"] is None
    assert seed_sd([[0.9, 0.92], [0.94]])["models"] == 3


def test_the_page_holds_the_figures_of_the_committed_json(monkeypatch):
    monkeypatch.chdir(ROOT)
    results = json.loads(ratios_analysis.FIGURES.read_text())
    assert ratios_analysis.PAGE.read_text() == render(results)
    assert ratios_analysis.main(["--check"]) == 0  # the command a reader runs says the same
