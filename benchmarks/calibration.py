"""How to calibrate the answer: no calibration, temperature, Platt or isotonic, fitted on
validation, judged on validation and on the test split of finished searches.

    python -m benchmarks.calibration                      # every finished efficiency search
    python -m benchmarks.calibration --searches results/efficiency/searches

Each search's answer (the mean of its members' probabilities, from their checkpoints, cached by
benchmarks.answer_rules) is calibrated on validation by each method and scored by top-label ECE
(10 bins) and Brier on validation and test. Temperature scaling divides the logit by one
number (Guo et al. 2017: search.stats.calibration, the product); Platt scaling fits a slope and an
intercept on the logit (scikit-learn's LogisticRegression, unregularised); isotonic regression
a monotone step function (scikit-learn's IsotonicRegression). Figures go to
benchmarks/calibration.json.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.answer_rules import load_models
from benchmarks.efficiency import OUT, finished_searches, write_figures
from search.answer.rules import average_positive
from search.stats.calibration import calibration_figures, fit_temperature, scale

FIGURES = Path("benchmarks/calibration.json")
Method = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def two_columns(p: np.ndarray) -> np.ndarray:
    return np.stack([1 - p, p], axis=1)


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def temperature(val: np.ndarray, val_y: np.ndarray):
    t = fit_temperature(two_columns(val), val_y)
    return lambda p: scale(two_columns(p), t)[:, 1]


def platt(val: np.ndarray, val_y: np.ndarray):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6).fit(logit(val)[:, None], val_y)
    return lambda p: model.predict_proba(logit(p)[:, None])[:, 1]


def isotonic(val: np.ndarray, val_y: np.ndarray):
    from sklearn.isotonic import IsotonicRegression

    model = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(val, val_y)
    return lambda p: model.predict(p)


METHODS: dict[str, Method] = {
    "none": lambda val, val_y: lambda p: p,
    "temperature": temperature,
    "platt": platt,
    "isotonic": isotonic,
}


def measure(experiment: Path) -> dict:
    models, val_y, test_y, member_ids = load_models(experiment)
    by_name = {m.name: m for m in models}
    val = average_positive([by_name[i].val for i in member_ids])  # the product's answer
    test = average_positive([by_name[i].test for i in member_ids])
    out = {}
    for name, method in METHODS.items():
        calibrate = method(val, val_y)
        out[name] = {
            "val": calibration_figures(two_columns(calibrate(val)), val_y),
            "test": calibration_figures(two_columns(calibrate(test)), test_y),
        }
    return out


def table(rows: dict[str, dict]) -> str:
    lines = ["| search | " + " | ".join(METHODS) + " |", "|---|" + "---|" * len(METHODS)]
    for name, row in rows.items():
        cells = [
            f"{row[m]['val']['ece']:.3f} / {row[m]['test']['ece']:.3f} "
            f"({row[m]['test']['brier']:.3f})"
            for m in METHODS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.calibration", description=__doc__)
    p.add_argument("--searches", type=Path, default=OUT / "searches")
    args = p.parse_args(argv)
    rows = {experiment.name: measure(experiment) for experiment in finished_searches(args.searches)}
    print("ECE validation / test (test Brier), each method fitted on validation")
    print(table(rows))
    write_figures(FIGURES, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
