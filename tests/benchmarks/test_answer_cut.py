"""The answer-level cut study's pieces, on hand-made scores."""

import numpy as np
import pytest

from benchmarks.answer_cut import RULES, anchored_cut, answers, combined, otsu_cut, rules_on
from search.answer.rules import average_positive


def two_groups(rng, centre_low: float, centre_high: float, n: int = 200):
    """Probabilities whose logits are two Gaussian groups; labels 0 for the low one."""
    z = np.concatenate([rng.normal(centre_low, 1, n), rng.normal(centre_high, 1, n)])
    return 1 / (1 + np.exp(-z)), np.repeat([0, 1], n)


def test_otsu_cuts_between_two_separated_groups():
    scores = np.array([0.05, 0.1, 0.12, 0.2, 0.8, 0.85, 0.9])
    assert 0.2 < otsu_cut(scores) < 0.8


def test_the_anchored_mixture_follows_classes_that_moved_together():
    rng = np.random.default_rng(0)
    val, val_y = two_groups(rng, -3, 3)
    target, target_y = two_groups(rng, 1, 7)  # every image looks 4 logits sicker
    p = anchored_cut(val, val_y, target)
    cut = np.log(p / (1 - p))
    assert 2.5 < cut < 5.5  # between the moved groups, far from validation's 0


def test_without_a_shift_every_rule_keeps_the_validation_cut():
    rng = np.random.default_rng(1)
    val, val_y = two_groups(rng, -2, 2)
    target, target_y = two_groups(rng, -2, 2)
    result = rules_on(val, val_y, target, target_y)
    assert result["p"] >= 0.01
    assert all(result[rule] == result["val"] for rule in RULES)


def test_a_shifted_target_is_cut_better_by_every_rule_best_in_logit_space():
    rng = np.random.default_rng(2)
    val, val_y = two_groups(rng, -3, 3)
    target, target_y = two_groups(rng, 1, 7)
    result = rules_on(val, val_y, target, target_y)
    assert result["p"] < 0.01 and result["val"] < 0.8  # validation's cut calls most sick
    assert all(result[rule] > result["val"] + 0.02 for rule in RULES)
    # the groups are Gaussian in logits: there the mixtures find the valley, near the oracle;
    # in probabilities the lower group spreads from 0.3 to 0.95 and Otsu's cut falls inside it
    for rule in ("logit mixture", "anchored mixture"):
        assert result[rule] > result["oracle"] - 0.02, rule
    assert result["Otsu"] < result["logit mixture"]


def test_each_answer_is_the_best_five_of_its_search_combined_as_the_product_does(tmp_path):
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 50)
    for i in range(20):  # config i separates the classes by i / 4 logits
        val, _ = two_groups(rng, 0, i / 4, n=50)
        np.savez(tmp_path / f"c{i:02d}_f0.npz", val=val[None], test=val[None], val_y=y, test_y=y)
    for members in answers(tmp_path, draws=5):
        assert len(members) == 5
        record = combined(members, "mean of logits")
        expected = average_positive([m["val"][-1] for m in members])
        np.testing.assert_allclose(record["val"][0], expected)
        assert set(combined(members, "mean of probabilities")) == set(record)


def test_the_summary_counts_gains_worst_cases_and_answers_losing_more_than_an_image():
    from benchmarks.answer_cut import summary

    # three answers: every rule gains 0.05, -0.005 and -0.02 over a validation cut of 0.9
    base = {"target": "test", "val": 0.9, "oracle": 0.95, "p": 0.001, "one_image": 0.01}
    rows = [base | dict.fromkeys(RULES, 0.9 + gain) for gain in (0.05, -0.005, -0.02)]
    (group,) = summary({"small500": {"mean of logits": rows}})
    assert group["n"] == 3 and group["adapted"] == 1.0 and group["target"] == "test as shipped"
    for figures in group["rules"].values():
        assert figures["mean"] == pytest.approx(0.025 / 3)
        assert figures["worst"] == pytest.approx(-0.02)
        assert figures["lost"] == pytest.approx(1 / 3)  # -0.005 is within one image
    assert group["oracle"] == pytest.approx(0.05)
