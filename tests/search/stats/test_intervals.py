"""How sure a test figure or a verdict margin is: paired bootstrap intervals over test images."""

import numpy as np
import pytest
from scores import decisions_wrong_on as wrong_decisions
from sklearn.metrics import balanced_accuracy_score

from search.answer.rules import Scored, Trial, verdict
from search.outputs.summary import verdict_lines
from search.stats.intervals import (
    SeedSpread,
    figure_intervals,
    judge,
    margin_interval,
    seed_spread,
    with_seed_spread,
)

LABELS = np.repeat([0, 1], [234, 390])  # PneumoniaMNIST's test split: 234 normal, 390 pneumonia


def decisions_wrong_on(share: float, seed: int) -> np.ndarray:
    return wrong_decisions(LABELS, share, seed)


def as_scored(said: np.ndarray, val: float) -> Scored:
    probs = np.stack([1 - said, said], 1).astype(float)
    test = balanced_accuracy_score(LABELS, said)
    figures = {
        "val": {"balanced_accuracy": val},
        "test": {"balanced_accuracy": test},
        "threshold": 0.5,
        "test_intervals": figure_intervals(probs, LABELS, 0.5),
    }
    return Scored(figures, probs, probs)


def test_a_margin_of_a_few_images_is_no_clear_difference():
    a, b = decisions_wrong_on(0.10, seed=0), decisions_wrong_on(0.11, seed=1)
    low, high = margin_interval(LABELS, a, b)
    margin = balanced_accuracy_score(LABELS, a) - balanced_accuracy_score(LABELS, b)
    assert low < margin < high and low < 0 < high
    assert judge(low, high) == "no clear difference"


def test_a_margin_of_ten_points_is_better_one_way_and_worse_the_other():
    good, poor = decisions_wrong_on(0.05, seed=0), decisions_wrong_on(0.15, seed=1)
    assert judge(*margin_interval(LABELS, good, poor)) == "better"
    assert judge(*margin_interval(LABELS, poor, good)) == "worse"


def test_intervals_hold_the_figure_and_are_left_out_for_three_classes():
    said = decisions_wrong_on(0.10, seed=0)
    bounds = figure_intervals(np.stack([1 - said, said], 1).astype(float), LABELS, 0.5)
    low, high = bounds["balanced_accuracy"]
    assert low < balanced_accuracy_score(LABELS, said) < high and high - low < 0.06
    assert figure_intervals(np.full((6, 3), 1 / 3), np.arange(6) % 3, None) is None


def test_the_verdict_reads_its_words_off_the_interval():
    image = 1 / (2 * 135)  # one of validation's 135 normal images
    answer = as_scored(decisions_wrong_on(0.05, seed=0), val=0.99)
    references = {
        "baseline": as_scored(decisions_wrong_on(0.15, seed=1), val=0.98),
        "seed_recipe": as_scored(decisions_wrong_on(0.055, seed=2), val=0.99),
    }
    search = [Trial(f"t{i}", 0.97 + i / 1000, {}, complete=True) for i in range(12)]
    found = verdict(answer, references, LABELS, image, search, 1, spread=SeedSpread(0.005, 2, 1))
    assert found["baseline"]["on_test"] == "better"
    assert found["seed_recipe"]["on_test"] == "no clear difference"
    low, high = found["seed_recipe"]["test_margin_interval"]
    assert low < found["seed_recipe"]["test_margin"] < high
    scored = {"answer": answer.figures} | {k: v.figures for k, v in references.items()}
    scored["answer"] |= {"members": [{"kind": "search"}], "confusion": {"test": {"images": 624}}}
    scored["answer"]["test"] |= {"sensitivity": 0.95, "specificity": 0.95, "roc_auc": 0.98}
    lines = verdict_lines(scored, found)
    point = scored["answer"]["test"]["balanced_accuracy"]
    low, high = scored["answer"]["test_intervals"]["balanced_accuracy"]
    assert lines[1].startswith(
        f"  test, 624 images: balanced accuracy {point:.4f} (95% CI {low:.4f}-{high:.4f}) at "
        "the cut 0.5000 (sensitivity 0.950, specificity 0.950)"
    )
    vs_recipe = next(line for line in lines if line.startswith("  vs seed recipe"))
    assert "no clear difference" in vs_recipe
    assert "95% CI over test images and training seeds -0.0" in vs_recipe
    assert pytest.approx(found["seed_recipe"]["test_margin"], abs=5e-5) == float(
        vs_recipe.split("test ")[1].split(" ")[0]
    )


def test_the_seed_spread_pools_configs_trained_more_than_once():
    a, b = {"lr": 0.1, "seed": 0}, {"lr": 0.2, "seed": 0}
    runs = [
        (a, 0.90),
        ({**a, "seed": 1}, 0.92),
        (b, 0.80),
        ({**b, "seed": 1}, 0.86),
        ({"lr": 0.3, "seed": 0}, 0.5),
    ]  # the last config ran once: it says nothing of seeds
    spread = seed_spread(runs)
    # squares about each config's mean: 2 * 0.01 ** 2 + 2 * 0.03 ** 2, over 2 degrees of freedom
    assert spread.df == 2 and spread.configs == 2
    assert np.isclose(spread.sd, np.sqrt((2 * 0.01**2 + 2 * 0.03**2) / 2))
    assert seed_spread([(a, 0.9), (b, 0.8)]) is None


def test_a_spread_from_few_seeds_widens_the_interval_by_students_t():
    low, high = with_seed_spread(0.02, 0.01, 0.03, SeedSpread(0.01, 1, 1), answer_models=3)
    half = 12.706 * 0.01 * np.sqrt(1 + 1 / 3)  # t at 1 degree of freedom
    assert np.isclose(high - 0.02, np.hypot(0.01, half), atol=1e-4)
    assert low < 0 < high  # two points ahead, but one pair of seeds cannot tell
