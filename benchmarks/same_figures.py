"""Whether two finished searches report the same figures: the check that a refactor changed no
number. Trial ids (Tune draws new ones each run), checkpoint paths, run times and peak memory
are left out; every metric, config, status and epoch is compared exactly.

    python -m benchmarks.same_figures results/before results/after

Prints one line per report file and exits 1 when any differs. Two runs of one seed on one
machine at the same --max-concurrent repeat (docs/resume.md).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from search.experiment.layout import BEST, BOARD, TEST_METRICS
from trainable.files import write_text

# What differs between two runs of the same search without any figure differing; the files'
# format_version is their layout's, which a change of code may raise without moving a figure.
# Optuna's trial numbers are compared: they are the order in which the configs were proposed.
UNCOMPARED = ("trial_id", "search_trial", "checkpoint", "run_time_s", "format_version")


# Tune's id inside a run's folder name (trial_a1b2c3d4_baseline, trial_e36a1_00000_...),
# which a report quotes where it names a model (the technique finding's best of a family)
TUNE_ID = re.compile(r"trial_[0-9a-f]+(?:_\d{5})?")


def without_run_details(value: Any) -> Any:
    """A report's JSON without what UNCOMPARED names, at any depth, and with Tune's ids taken
    out of the folder names it quotes."""
    if isinstance(value, dict):
        return {k: without_run_details(v) for k, v in value.items() if k not in UNCOMPARED}
    if isinstance(value, list):
        return [without_run_details(v) for v in value]
    if isinstance(value, str):
        return TUNE_ID.sub("trial_<id>", value)
    return value


def leaderboard_figures(experiment: Path) -> pd.DataFrame:
    """The leaderboard's figures, rows in an order trial ids do not decide."""
    table = pd.read_csv(experiment / BOARD)
    dropped = [c for c in table.columns if c in UNCOMPARED or c.startswith("peak_")]
    table = table.drop(columns=dropped)
    table = table[sorted(table.columns)]
    return table.sort_values(sorted(table.columns), na_position="last").reset_index(drop=True)


def differences(a: Path, b: Path) -> dict[str, bool]:
    """Each report file -> whether the two experiments' figures in it are the same."""
    same = {BOARD: leaderboard_figures(a).equals(leaderboard_figures(b))}
    for name in (BEST, TEST_METRICS):
        left, right = (without_run_details(json.loads((e / name).read_text())) for e in (a, b))
        same[name] = left == right
    return same


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before", type=Path, help="a finished experiment folder")
    p.add_argument("after", type=Path, help="another, of the same search")
    p.add_argument("--json", type=Path, help="record the outcome in this JSON, under --label")
    p.add_argument("--label", help="the record's name, e.g. 'seed 0'")
    args = p.parse_args(argv)
    same = differences(args.before, args.after)
    for name, equal in same.items():
        print(f"{name}: {'same figures' if equal else 'DIFFERS'}")
    if args.json:
        from benchmarks.provenance import provenance

        record = json.loads(args.json.read_text()) if args.json.exists() else {}
        record[args.label or f"{args.before.name} {args.after.name}"] = {
            "runs": [str(args.before), str(args.after)],
            "same_figures": same,
            "provenance": provenance(),
        }
        write_text(args.json, json.dumps(record, indent=1) + "\n")
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
