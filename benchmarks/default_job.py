"""docs/default-job.md's tables, rendered from the committed JSON they quote.

    python -m benchmarks.default_job            # rewrite the tables in docs/default-job.md
    python -m benchmarks.default_job --check    # exit 1 when a table differs from its JSON

Sources: benchmarks/efficiency.json (rounds "before" and "ordered" of the default search on
PneumoniaMNIST, seeds 0-2), benchmarks/determinism.json (benchmarks.same_figures on two runs
of one seed) and benchmarks/speed.json (benchmarks.speed). Each table sits in the document
between `<!-- table NAME -->` and `<!-- end -->`; the text around it is written by hand and
quotes no measured figure. README's set-up
line quotes `setup_line()`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from benchmarks.efficiency import wall_summary
from benchmarks.pages import load_json, render_blocks
from search.experiment.layout import BEST, BOARD, TEST_METRICS
from trainable.files import write_text

DOC = Path("docs/default-job.md")
EFFICIENCY = Path("benchmarks/efficiency.json")
DETERMINISM = Path("benchmarks/determinism.json")
SPEED = Path("benchmarks/speed.json")
SETTING = "pneumoniamnist"
# "before" ran beside other work on the same cores (its figures compare, its times do not);
# "ordered" ran alone, one search after another.
ROUNDS = {"before": "before (times not idle)", "ordered": "now (idle)"}
CONCURRENCY = 2  # the default --max-concurrent the rounds ran at


def rows(round_: str) -> list[dict]:
    found = [r for r in load_json(EFFICIENCY)["searches"] if r.get("round") == round_]
    return sorted((r for r in found if r["setting"] == SETTING), key=lambda r: r["seed"])


def job_table() -> str:
    lines = [
        "| version | seed | job s | search s | slots busy | member runs (in answer) "
        "| answer val / test / test AUC | baseline val / test | seed recipe val / test |",
        "|---|---|---:|---:|---:|---|---|---|---|",
    ]
    for round_, label in ROUNDS.items():
        group = rows(round_)
        for r in group:
            busy = r["search_trials_s"] / (CONCURRENCY * r["search_s"])
            lines.append(
                f"| {label} | {r['seed']} | {r['wall_s']} | {r['search_s']} | {busy:.0%} "
                f"| {r['member_runs']} ({r['member_runs_in_answer']}) "
                f"| {r['answer_val']:.4f} / {r['answer_test']:.4f} / "
                f"{r['answer_test_roc_auc']:.4f} "
                f"| {r['baseline_val']:.4f} / {r['baseline_test']:.4f} "
                f"| {r['seed_recipe_val']:.4f} / {r['seed_recipe_test']:.4f} |"
            )
        mean = {k: float(np.mean([r[k] for r in group]))
                for k in ("answer_test", "answer_test_roc_auc")}  # fmt: skip
        walls = wall_summary(group, round_, SETTING)
        lines.append(
            f"| {label} | median, mean | {walls['median_s']:.0f} | | | "
            f"| mean test {mean['answer_test']:.4f} / AUC {mean['answer_test_roc_auc']:.4f} | | |"
        )
    return "\n".join(lines)


def determinism_table() -> str:
    lines = [
        "| runs compared | leaderboard.csv | best.json | test_metrics.json |",
        "|---|---|---|---|",
    ]
    for label, record in load_json(DETERMINISM).items():
        cells = ["same" if record["same_figures"][f] else "DIFFERS"
                 for f in (BOARD, BEST, TEST_METRICS)]  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speed_table() -> str:
    s = load_json(SPEED)
    peak, per_image = s["peak_gflops_one_thread"], s["flops_per_image_train"]
    lines = [
        f"One thread's matrix-product peak: {peak['fp32']:.0f} GFLOP/s in fp32, "
        f"{peak['bf16']:.0f} in bf16; one 28 px image's training step: "
        f"{per_image / 1e6:.0f} MFLOP.",
        "",
        "| steps, one thread, batch 128 | images/s | share of the fp32 peak |",
        "|---|---:|---:|",
    ]
    for name, step in s["steps_one_thread_batch_128"].items():
        lines.append(f"| {name} | {step['images_per_s']:.0f} | {step['share_of_fp32_peak']:.0%} |")
    lines += ["", "| 2 cores, precision auto | images/s |", "|---|---:|"]
    for name, rate in s["images_per_s_on_2_cores_auto"].items():
        lines.append(f"| {name} | {rate:.0f} |")
    lines += ["", "| batch size, one thread, precision auto | images/s |", "|---|---:|"]
    for name, rate in s["images_per_s_by_batch_size_auto"].items():
        lines.append(f"| {name} | {rate:.0f} |")
    lines += [
        "",
        "| reference, 10 epochs, two at once | precision | best val balanced accuracy "
        "| optimisation s |",
        "|---|---|---:|---:|",
    ]
    for r in s["references_10_epochs"]:
        lines.append(
            f"| {r['reference']} | {r['precision']} | {r['best_val_balanced_accuracy']:.4f} "
            f"| {r['train_s']:.0f} |"
        )
    return "\n".join(lines)


TABLES = {"job": job_table, "determinism": determinism_table, "speed": speed_table}


def setup_line() -> str:
    """What README's set-up section says of the default job's time."""
    w = wall_summary(rows("ordered"), "ordered", SETTING)
    minutes, median = w["median_s"] / 60, w["median_s"]
    return (
        f"{minutes:.0f} minutes on an idle 2-core machine (median {median:.0f} s, "
        f"{w['min_s']}-{w['max_s']} s over seeds 0-2, docs/default-job.md)"
    )


def render(text: str) -> str:
    """The document with every table replaced by its rendering from the JSON."""
    return render_blocks(text, TABLES)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="compare, do not write")
    args = p.parse_args(argv)
    text = DOC.read_text()
    fresh = render(text)
    if args.check:
        readme_ok = setup_line() in Path("README.md").read_text()
        if fresh != text or not readme_ok:
            print(f"error: {DOC} or README's set-up line differs from the JSON; run "
                  "python -m benchmarks.default_job")  # fmt: skip
            return 1
        print(f"{DOC} and README's set-up line match the JSON")
        return 0
    write_text(DOC, fresh)
    print(f"wrote {DOC}; README's set-up line: {setup_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
