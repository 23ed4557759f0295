"""The target-side cut rules of benchmarks/target_cut.py on scores of known shape."""

from scores import two_class_scores as scores

from benchmarks.target_cut import cut_rules, shift_p_value


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
