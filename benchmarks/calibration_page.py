"""docs/calibration.md's blocks, rendered from benchmarks/calibration.json alone.

    python -m benchmarks.calibration_page            # rewrite the blocks in docs/calibration.md
    python -m benchmarks.calibration_page --check    # exit 1 when a block differs from its JSON

benchmarks/calibration.json is what `python -m benchmarks.calibration --searches <searches>`
wrote: each finished search's answer calibrated on validation by no method, a temperature (the
product's, search/stats/calibration.py), Platt scaling and isotonic regression, each scored by
top-label ECE (10 bins) and Brier on validation and test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.pages import by_setting, figures, file_words, load_json, page_main, spread

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs/calibration.md"
FIGURES = ROOT / "benchmarks/calibration.json"
METHODS = {
    "none": "none",
    "temperature": "**temperature (the product)**",
    "platt": "Platt",
    "isotonic": "isotonic",
}
SETTINGS = {
    "pneumoniamnist": "PneumoniaMNIST, shifted test",
    "pneumoniamnist_iid": "PneumoniaMNIST, no shift",
}
ECE_GOAL = 0.05  # the validation ECE a calibrated answer should stay under


def search_words(name: str) -> str:
    setting, seed = name.rsplit("-seed", 1)
    return f"{SETTINGS[setting]}, seed {seed}"


def searches_table() -> str:
    record = load_json(FIGURES)
    lines = [
        "| search | " + " | ".join(METHODS.values()) + " |",
        "|---|" + "---|" * len(METHODS),
    ]
    for name, row in record["searches"].items():
        cells = [
            f"{row[m]['val']['ece']:.3f} / {row[m]['test']['ece']:.3f} "
            f"({row[m]['test']['brier']:.3f})"
            for m in METHODS
        ]
        lines.append(f"| {search_words(name)} | " + " | ".join(cells) + " |")
    lines += ["", figures(file_words(FIGURES))]
    return "\n".join(lines)


def summary_table() -> str:
    groups = by_setting(load_json(FIGURES)["searches"])
    lines = [
        "| setting | method | validation ECE at most "
        f"{ECE_GOAL} | test ECE, mean (min to max) | test ECE at most no calibration's "
        "| test Brier, mean (min to max) | test Brier at most no calibration's |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for setting, rows in groups.items():
        n = len(rows)
        for method, label in METHODS.items():
            val_ok = sum(r[method]["val"]["ece"] <= ECE_GOAL for r in rows)
            ece = [r[method]["test"]["ece"] for r in rows]
            brier = [r[method]["test"]["brier"] for r in rows]
            ece_ok = sum(r[method]["test"]["ece"] <= r["none"]["test"]["ece"] for r in rows)
            brier_ok = sum(r[method]["test"]["brier"] <= r["none"]["test"]["brier"] for r in rows)
            versus = ("", "") if method == "none" else (f"{ece_ok} of {n}", f"{brier_ok} of {n}")
            lines.append(
                f"| {SETTINGS[setting]} | {label} | {val_ok} of {n} | {spread(ece)} "
                f"| {versus[0]} | {spread(brier)} | {versus[1]} |"
            )
    return "\n".join(lines)


TABLES: dict[str, Callable[[], str]] = {"searches": searches_table, "summary": summary_table}


def main(argv: list[str] | None = None) -> int:
    return page_main(DOC, TABLES, argv)


if __name__ == "__main__":
    sys.exit(main())
