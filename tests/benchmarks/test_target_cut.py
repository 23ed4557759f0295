"""The target-side cut rules of benchmarks/target_cut.py on scores of known shape."""

import numpy as np
import pytest
from scores import two_class_scores as scores

from benchmarks.target_cut import (
    CANDIDATES,
    candidate_rules,
    cut_rules,
    matched_cut,
    shift_p_value,
)
from search.stats.adapt import logit


def test_shift_is_detected_between_acquisitions_and_not_within_one():
    source, _ = scores(-4, 4, (135, 389), seed=1)
    same, _ = scores(-4, 4, (135, 389), seed=2)
    shifted, _ = scores(-1, 7, (234, 390), seed=3)
    assert shift_p_value(source, same) > 0.05
    assert shift_p_value(source, shifted) < 1e-6


def test_a_moved_target_loses_the_validation_cut_and_the_mixture_recovers_it():
    val, val_y = scores(-2, 2, (135, 389), seed=4)
    target, target_y = scores(1, 5, (234, 390), seed=5)
    rules = cut_rules(val, val_y, target, target_y)
    assert rules["val"] < rules["mixture"] - 0.2  # the validation cut is 3 logits too low
    assert rules["detected"] == rules["mixture"] and rules["ks_p"] < 0.01
    assert rules["mixture"] <= rules["oracle"]


def test_the_matched_cut_follows_a_scanner_that_moves_and_stretches_the_scores():
    val, val_y = scores(-2, 2, (135, 389), seed=6)
    # every logit doubled and moved 1 up: the validation cut near 0 belongs near 1
    z, target_y = scores(-2, 2, (234, 390), seed=7)
    target = 1 / (1 + np.exp(-(2 * np.log(z / (1 - z)) + 1)))
    assert logit(np.array([matched_cut(val, val_y, 0.5, target)]))[0] == pytest.approx(1, abs=0.5)
    same, _ = scores(-2, 2, (234, 390), seed=8)  # the same acquisition: the cut stays
    assert logit(np.array([matched_cut(val, val_y, 0.5, same)]))[0] == pytest.approx(0, abs=0.3)


def test_the_candidate_rules_score_every_cut_on_the_same_target():
    val, val_y = scores(-2, 2, (135, 389), seed=4)
    target, target_y = scores(1, 5, (234, 390), seed=5)  # 3 logits up
    rules = candidate_rules(val, val_y, target, target_y)
    assert rules["p"] < 0.01 and rules["one_image"] == 0.5 / 234
    assert rules["mixture_detected"] == rules["mixture"] > rules["val"] + 0.2
    assert rules["matched_detected"] == rules["matched"] > rules["val"] + 0.2
    assert max(rules[r] for r in CANDIDATES) == rules["oracle"]


def test_the_fidelity_table_reads_the_shift_test_at_each_level_and_leaves_the_rows_as_measured():
    from benchmarks.target_cut import fidelity_table

    row = {"val": 0.80, "mixture": 0.90, "matched": 0.85, "matched_detected": 0.80,
           "quantile": 0.78, "oracle": 0.92, "p": 0.03, "one_image": 0.002}  # fmt: skip
    draws = {"runs/small500": {"c00": {"test": dict(row)}}}
    table = fidelity_table(draws)
    assert draws["runs/small500"]["c00"]["test"] == row  # nothing derived written back
    (line,) = [line for line in table.splitlines() if "test as shipped" in line]
    cells = [c.strip() for c in line.strip("|").split("|")]
    # mixture always, then p<0.01 (not adapted: p is 0.03), p<0.05 and p<0.1 (adapted)
    assert [c.split()[0] for c in cells[4:8]] == ["+0.1000", "+0.0000", "+0.1000", "+0.1000"]
