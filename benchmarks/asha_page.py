"""docs/asha.md's blocks, rendered from benchmarks/results.json and benchmarks/efficiency.json.

    python -m benchmarks.asha_page            # rewrite the blocks from the JSON
    python -m benchmarks.asha_page --check    # exit 1 when a block differs from its JSON

Sources: results.json's "thrift" entry (`python -m benchmarks.run --only thrift`: random search
without early stopping against TPE + ASHA at grace 1 and 3, seeds 0-2) and its "overhead" entry
(`--only overhead`); efficiency.json's rounds "full-budget answer" (Ray's rungs, up to the
budget) and "early rungs" (the first third) on `pneumoniamnist`, and its rows without a round
label (validation every epoch) against "start points, eval_every" and its rerun on `small500_iid`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.pages import entry_words, figures, load_json, page_main, spread

DOC = Path("docs/asha.md")
RESULTS = Path("benchmarks/results.json")
EFFICIENCY = Path("benchmarks/efficiency.json")
FIRST_ROUND = "start points"  # efficiency.json's rows without a "round" (benchmarks.efficiency)
THRIFT_NAMES = {
    "random_full": "random search, no early stopping",
    "tpe_asha_grace1": "TPE + ASHA, grace 1",
    "tpe_asha_grace3": "TPE + ASHA, grace 3",
}
# efficiency.json round -> what it measured, on one setting
RUNG_ROUNDS = {
    "full-budget answer": "1, 3, 9 (up to the budget)",
    "early rungs": "1, 3 (the first third)",
}
RUNG_SETTING = "pneumoniamnist"
EVAL_ROUNDS = {
    FIRST_ROUND: "every epoch",
    "start points, eval_every": "every 9th epoch",
    "start points, eval_every (rerun)": "every 9th epoch (rerun)",
}
EVAL_SETTING = "small500_iid"
ANSWER = "answer val / test"  # the column whose mean a round's last row gives


def thrift_table() -> str:
    t = load_json(RESULTS)["thrift"]
    runs, summary, image = t["runs"], t["summary"], t["one_validation_image"]
    names = list(runs)
    random = {r["seed"]: r for r in runs["random_full"]}
    lines = [
        f"{t['space']} space, {t['trials']} trials of up to {t['epochs']} epochs per search, "
        "one trial at a time; each cell: epochs trained, best validation balanced accuracy "
        "(shipped validation split) of any trial at any epoch, and for ASHA its difference "
        "from random search's on the same seed.",
        "",
        "| seed | " + " | ".join(THRIFT_NAMES.get(n, n) for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for seed in t["seeds"]:
        cells = []
        for name in names:
            r = next(r for r in runs[name] if r["seed"] == seed)
            cell = f"{r['epochs_trained']}, {r['best_val_balanced_accuracy']:.4f}"
            if name != "random_full":
                diff = r["best_val_balanced_accuracy"] - random[seed]["best_val_balanced_accuracy"]
                cell += f" ({diff:+.4f})"
            cells.append(cell)
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    cells = []
    for name in names:
        s = summary[name]
        cell = f"{s['epochs_trained']} ({s['epochs_ratio']:.2f}x), mean {s['mean_best']:.4f}"
        if name != "random_full":
            diffs = differences(runs[name], random)
            cell += (
                f" ({s['mean_best_difference']:+.4f}; per seed {min(diffs):+.4f} to "
                f"{max(diffs):+.4f})"
            )
        cells.append(cell)
    lines.append("| all seeds | " + " | ".join(cells) + " |")
    lost = []
    for name in names[1:]:
        seeds = [r["seed"] for r in runs[name]
                 if random[r["seed"]]["best_val_balanced_accuracy"]
                 - r["best_val_balanced_accuracy"] > image]  # fmt: skip
        lost.append(
            f"{THRIFT_NAMES.get(name, name)}: "
            + (", ".join(f"seed {s}" for s in seeds) if seeds else "none")
        )
    lines += [
        "",
        f"One validation image of the smaller class moves balanced accuracy by {image:.4f}. "
        "Seeds whose best fell more than one image below random search's: " + "; ".join(lost) + ".",
        "",
        figures(entry_words(RESULTS, "thrift", t)),
    ]
    return "\n".join(lines)


def differences(rows: list[dict], random: dict[int, dict]) -> list[float]:
    """Each seed's best score minus random search's on the same seed."""
    return [
        r["best_val_balanced_accuracy"] - random[r["seed"]]["best_val_balanced_accuracy"]
        for r in rows
    ]


def efficiency_rows(round_: str, setting: str) -> list[dict]:
    rows = [
        r
        for r in load_json(EFFICIENCY)["searches"]
        if r.get("round", FIRST_ROUND) == round_ and r["setting"] == setting
    ]
    return sorted(rows, key=lambda r: r["seed"])


def rounds_table(
    rounds: dict[str, str], setting: str, first: str, columns: dict[str, Callable[[dict], str]]
) -> str:
    """One row per search of each round, then each round's mean (min-max over seeds)."""
    lines = [
        f"| {first} | seed | job s | search s | "
        + " | ".join(columns)
        + " | commit | uncommitted changes |",
        "|---|---|---:|---:|" + "---|" * len(columns) + "---|---|",
    ]
    for round_, label in rounds.items():
        group = efficiency_rows(round_, setting)
        for r in group:
            p = r["provenance"]
            lines.append(
                f"| {label} | {r['seed']} | {r['wall_s']} | {r.get('search_s', '-')} | "
                + " | ".join(cell(r) for cell in columns.values())
                + f" | {p['commit']} | {'yes' if p.get('uncommitted_changes') else 'no'} |"
            )
        searches = [r["search_s"] for r in group if "search_s" in r]
        means = {k: float(np.mean([r[k] for r in group])) for k in ("answer_val", "answer_test")}
        answer = f"mean {means['answer_val']:.4f} / {means['answer_test']:.4f}"
        cells = [answer if name == ANSWER else "" for name in columns]
        walls = [r["wall_s"] for r in group]
        lines.append(
            f"| {label} | mean (min-max) | {spread(walls, 0, between='-')} | "
            + (spread(searches, 0, between="-") if len(searches) == len(group) else "-")
            + " | "
            + " | ".join(cells)
            + " | | |"
        )
    return "\n".join(lines)


def same_answers(rounds: list[str], setting: str) -> list[int]:
    """Seeds whose answer scored the same, to the digit, in every round."""
    by_round = [{r["seed"]: r for r in efficiency_rows(x, setting)} for x in rounds]
    seeds = sorted(set.intersection(*(set(b) for b in by_round)))
    return [
        s for s in seeds if len({(b[s]["answer_val"], b[s]["answer_test"]) for b in by_round}) == 1
    ]


def rungs_table() -> str:
    table = rounds_table(
        RUNG_ROUNDS,
        RUNG_SETTING,
        "ASHA's rungs at 10 epochs",
        {
            "answer models": lambda r: str(r["answer_models"]),
            ANSWER: lambda r: f"{r['answer_val']:.4f} / {r['answer_test']:.4f}",
        },
    )
    same = same_answers(list(RUNG_ROUNDS), RUNG_SETTING)
    return (
        table
        + "\n\nThe same answer (validation and test balanced accuracy to the digit) in both: "
        + (", ".join(f"seed {s}" for s in same) if same else "no seed")
        + "."
    )


def eval_table() -> str:
    return rounds_table(
        EVAL_ROUNDS,
        EVAL_SETTING,
        "validation (94 epochs)",
        {
            ANSWER: lambda r: f"{r['answer_val']:.4f} / {r['answer_test']:.4f}",
            "baseline val / test": lambda r: f"{r['baseline_val']:.4f} / {r['baseline_test']:.4f}",
            "seed recipe val / test": lambda r: (
                f"{r['seed_recipe_val']:.4f} / {r['seed_recipe_test']:.4f}"
            ),
        },
    )


def overhead_table() -> str:
    o = load_json(RESULTS)["overhead"]
    rows = [
        ("bare loop, one process", o["bare_loop_s"]),
        ("of which its epochs", o["bare_epochs_s"]),
        ("Tune in all", o["tune_s"]),
        ("= Ray start-up (`ray.init`)", o["ray_startup_s"]),
        ("+ the trials' epochs", o["tune_epochs_s"]),
        ("+ the rest: worker start and imports, reports, checkpoints", o["tune_rest_s"]),
    ]
    lines = [
        f"{o['trials']} configs x {o['epochs']} epochs, one trial at a time: Tune "
        f"{o['ratio']:.2f}x the bare loop's wall time.",
        "",
        "| part | seconds |",
        "|---|---:|",
        *(f"| {name} | {seconds:.1f} |" for name, seconds in rows),
        "",
        figures(entry_words(RESULTS, "overhead", o)),
    ]
    return "\n".join(lines)


TABLES = {
    "thrift": thrift_table,
    "rungs": rungs_table,
    "eval_every": eval_table,
    "overhead": overhead_table,
}


def main(argv: list[str] | None = None) -> int:
    return page_main(DOC, TABLES, argv)


if __name__ == "__main__":
    sys.exit(main())
