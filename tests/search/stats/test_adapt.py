"""Moving the answer's cut to a site's images, on scores of known shape."""

import numpy as np
import pytest
from scipy.stats import ks_2samp
from scores import two_class_scores as scores

from search.stats.adapt import (
    ALPHA,
    adapted_cut,
    label_shift_corrected_p,
    label_shift_weights,
    logit,
    mixture_cut,
)


def test_the_mixture_cut_sits_between_the_groups_and_follows_them_when_they_move():
    p, _ = scores(-4, 4, (200, 400), seed=0)
    assert abs(logit(np.array([mixture_cut(p)]))[0]) < 1
    moved, _ = scores(-1, 7, (200, 400), seed=0)  # both groups 3 logits up: a new scanner
    assert logit(np.array([mixture_cut(moved)]))[0] == pytest.approx(3, abs=1)


def test_a_new_class_mix_alone_is_not_a_shift_to_the_corrected_test_but_a_moved_class_is():
    val, val_y = scores(-3, 3, (135, 389), seed=6)
    cut = 0.5
    # the same acquisition with three normals in four (validation: one in four)
    mixed, _ = scores(-3, 3, (390, 130), seed=7)
    assert ks_2samp(logit(val), logit(mixed)).pvalue < 1e-6  # plain KS calls it a shift
    flagged = [
        label_shift_corrected_p(val, val_y, cut, scores(-3, 3, (390, 130), seed)[0], draws=200)
        < ALPHA
        for seed in range(7, 12)
    ]
    assert sum(flagged) <= 1  # at the product's 1% level: none expected, one by chance
    weights = label_shift_weights(val, val_y, cut, mixed)
    assert weights[0] / weights[1] == pytest.approx((390 / 135) / (130 / 389), rel=0.25)
    # a new scanner: pneumonia 2 logits higher, normal as before, the class mix unchanged
    moved, _ = scores(-3, 5, (135, 389), seed=8)
    assert label_shift_corrected_p(val, val_y, cut, moved, draws=200) < 0.01


def test_the_cut_moves_only_for_a_site_whose_scores_moved():
    val, val_y = scores(-2, 2, (135, 389), seed=9)
    same, _ = scores(-2, 2, (234, 390), seed=10)
    kept = adapted_cut(val, val_y, 0.5, same, draws=200)
    assert not kept.shifted and kept.cut == 0.5 and kept.p_value >= ALPHA
    moved, _ = scores(1, 5, (234, 390), seed=11)  # a new scanner: 3 logits up
    adapted = adapted_cut(val, val_y, 0.5, moved, draws=200)
    assert adapted.shifted and logit(np.array([adapted.cut]))[0] == pytest.approx(3, abs=1)
