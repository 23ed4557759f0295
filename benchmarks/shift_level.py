"""Does the shift test (search/stats/adapt.py) hold its level? Its false alarms on targets
without shift.

    python -m benchmarks.shift_level       # after benchmarks.ratios run; writes shift_level.json

A no-shift target is a set of images from the same acquisition as validation: the ratio
benchmark's no-shift test (624 images held out of the training split; validation is a random
tenth of the same folder), whole and in random halves and random 250-image sites (the fewest
`search.predict --adapt` takes), each scored by every model trained for the full budget and
every answer of every search there; and, without any doubt about patients shared with
training, one random half of validation against the other (its labels used on one side).
The test is called at its level (search.stats.adapt.ALPHA) on each target against the model's
validation scores; the share of targets it flags is its false alarm rate, with a 95%
Clopper-Pearson interval. Targets that share images and models are not
independent, so the interval is optimistic; the count of distinct models says how many truly
differ. The shipped test split (another acquisition) is scored the same way, for the power.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.ratios import OUT
from trainable.files import write_text

FIGURES = Path("benchmarks/shift_level.json")
HALVES = 2  # random halves of the no-shift test per model
VAL_HALVES = 4  # random splits of validation into two halves per model
SITES = 2  # random 250-image sites per model


def targets(no_shift: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Index sets of the no-shift test: whole, HALVES halves, SITES sites of MIN_SITE_IMAGES."""
    from search.predict import MIN_SITE_IMAGES

    n = len(no_shift)
    picks = [np.arange(n)]
    picks += [rng.permutation(n)[: n // 2] for _ in range(HALVES)]
    picks += [rng.permutation(n)[:MIN_SITE_IMAGES] for _ in range(SITES)]
    return picks


def measure(out: Path) -> dict:
    from scipy.stats import binomtest

    from search.stats.adapt import ALPHA, label_shift_corrected_p

    rng = np.random.default_rng(0)
    calls = {"no_shift": [], "validation_halves": [], "shipped_test": []}
    models = 0
    for experiment in sorted((out / "searches").glob("r*-seed*")):
        if not (experiment / "scores.npz").exists():
            continue
        scores = np.load(experiment / "scores.npz")
        listed = json.loads((experiment / "models.json").read_text())
        cuts = {
            m["trial_id"]: m["threshold"] for m in listed["models"] if m["status"] == "complete"
        }
        cuts["answer"] = listed["answer"]["threshold"]
        val_y = scores["val_y"]
        for key, cut in cuts.items():
            models += 1
            val = scores[f"{key}/val"]
            for pick in targets(scores[f"{key}/no_shift"], rng):
                p = label_shift_corrected_p(val, val_y, cut, scores[f"{key}/no_shift"][pick])
                calls["no_shift"].append(p < ALPHA)
            for _ in range(VAL_HALVES):  # validation against its own other half: no shift at all
                half = rng.permutation(len(val_y)) < len(val_y) // 2
                p = label_shift_corrected_p(val[half], val_y[half], cut, val[~half])
                calls["validation_halves"].append(p < ALPHA)
            p = label_shift_corrected_p(val, val_y, cut, scores[f"{key}/test"])
            calls["shipped_test"].append(p < ALPHA)
    found: dict = {"level": ALPHA, "models": models}
    for name, said in calls.items():
        flagged, n = int(np.sum(said)), len(said)
        ci = binomtest(flagged, n).proportion_ci(method="exact") if n else None
        found[name] = {
            "targets": n,
            "flagged": flagged,
            "rate": flagged / n if n else None,
            "interval": [ci.low, ci.high] if ci else None,
        }
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="benchmarks.ratios' results")
    args = parser.parse_args(argv)
    from benchmarks.provenance import provenance

    found = measure(args.out) | {"provenance": provenance()}
    write_text(FIGURES, json.dumps(found, indent=1) + "\n")
    for name in ("no_shift", "validation_halves", "shipped_test"):
        f = found[name]
        print(
            f"{name}: {f['flagged']} of {f['targets']} targets flagged at p < {found['level']} "
            f"({f['rate']:.3f}, 95% CI {f['interval'][0]:.3f}-{f['interval'][1]:.3f})"
        )


if __name__ == "__main__":
    main()
