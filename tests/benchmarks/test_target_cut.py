"""The target-side cut rules of benchmarks/target_cut.py on scores of known shape."""

import numpy as np
import pytest

from benchmarks.target_cut import (
    KS_ALPHA,
    cut_rules,
    label_shift_corrected_p,
    label_shift_weights,
    logit,
    mixture_cut,
    shift_p_value,
)


def scores(normal_logit: float, pneumonia_logit: float, n: tuple[int, int], seed: int):
    """Positive-class probabilities of two classes whose logits are normal around the given
    centres, and their labels."""
    rng = np.random.default_rng(seed)
    z = np.concatenate([rng.normal(normal_logit, 1, n[0]), rng.normal(pneumonia_logit, 1, n[1])])
    return 1 / (1 + np.exp(-z)), np.repeat([0, 1], n)


def test_the_mixture_cut_sits_between_the_groups_and_follows_them_when_they_move():
    p, _ = scores(-4, 4, (200, 400), seed=0)
    assert abs(logit(np.array([mixture_cut(p)]))[0]) < 1
    moved, _ = scores(-1, 7, (200, 400), seed=0)  # both groups 3 logits up: a new scanner
    assert logit(np.array([mixture_cut(moved)]))[0] == pytest.approx(3, abs=1)


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


def test_a_new_class_mix_alone_is_not_a_shift_to_the_corrected_test_but_a_moved_class_is():
    val, val_y = scores(-3, 3, (135, 389), seed=6)
    cut = 0.5
    # the same acquisition with three normals in four (validation: one in four)
    mixed, _ = scores(-3, 3, (390, 130), seed=7)
    assert shift_p_value(val, mixed) < 1e-6  # the plain test calls a new class mix a shift
    flagged = [
        label_shift_corrected_p(val, val_y, cut, scores(-3, 3, (390, 130), seed)[0], draws=200)
        < KS_ALPHA
        for seed in range(7, 12)
    ]
    assert sum(flagged) <= 1  # at the product's 1% level: none expected, one by chance
    weights = label_shift_weights(val, val_y, cut, mixed)
    assert weights[0] / weights[1] == pytest.approx((390 / 135) / (130 / 389), rel=0.25)
    # a new scanner: pneumonia 2 logits higher, normal as before, the class mix unchanged
    moved, _ = scores(-3, 5, (135, 389), seed=8)
    assert label_shift_corrected_p(val, val_y, cut, moved, draws=200) < 0.01
