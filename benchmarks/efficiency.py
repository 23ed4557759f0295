"""Search efficiency: does the default search hand its user something better than its starting
points, within the default search's own wall clock?

    python -m benchmarks.efficiency run --setting pneumoniamnist --seed 0 1 2
    python -m benchmarks.efficiency run --setting pneumoniamnist_iid small500_iid --seed 0 1 2
    python -m benchmarks.efficiency table          # the rounds as one table
    python -m benchmarks.efficiency sizes          # the answer with fewer new seeds, rescored
    python -m benchmarks.efficiency eta            # the console's time left against the truth

Each search is the README's command, run as a user runs it (`python -m search.run --space focal`,
its own process, 2 trials at a time), on one setting of benchmarks/fidelity.py:
`pneumoniamnist` (the shipped npz: the test split is another acquisition), `small500` (its
training split cut to 500 images), and the same two without shift (`_iid`: the test split
replaced by 624 images held out of the training split, so validation and test share the
acquisition). For each search the table gives the answer's and the references' validation and
test balanced accuracy (each at its own validation-tuned threshold), how many trials reached
each reference on validation, how many models the answer holds, and the wall time of the
whole job (search, references, members, report). Results and each search's console output go
to results/efficiency/ (never into the repository); the figures, with provenance, to
benchmarks/efficiency.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.fidelity import DATA_DIR, SETTINGS, held_out_test
from search.experiment.formats import read_best, read_manifest, read_test_metrics
from search.experiment.layout import BOARD
from trainable.files import replacing, write_text

OUT = Path("results/efficiency")
FIGURES = Path("benchmarks/efficiency.json")
REFERENCES = ("baseline", "seed_recipe")
# Each round of figures measures one version of the search; rows without a round are the first.
FIRST_ROUND = "start points"  # the references as the search's first trials (twins)
# Measured and rejected: "told references" (trained first, told to TPE as finished trials,
# not searched again). Then start points with validation every tenth epoch; the
# product: the answer chosen among every full-budget model (search.answer.rules.answer_members).
ROUND = "full-budget answer"


def setting_source(setting: str, out: Path) -> tuple[str, list[str]]:
    """The --data path and extra flags for a setting; a no-shift setting's npz is written once
    under `out` (the held-out test images in place of the shipped test split)."""
    spec = SETTINGS[setting]
    source = str(DATA_DIR / spec["source"])
    flags = []
    if spec.get("size"):
        flags += ["--size", str(spec["size"])]
    if spec.get("train_subsample"):
        flags += ["--train-subsample", str(spec["train_subsample"])]
    if spec.get("iid_test"):
        target = out / "data" / f"{Path(spec['source']).stem}_iid.npz"
        if not target.exists():
            from trainable.data import load_data

            data = held_out_test(load_data(source))
            target.parent.mkdir(parents=True, exist_ok=True)
            arrays = {}
            for split in ("train", "val", "test"):
                arrays[f"{split}_images"] = getattr(data, f"{split}_x")[:, 0]  # (N, 28, 28)
                arrays[f"{split}_labels"] = getattr(data, f"{split}_y")[:, None]
            with replacing(target) as tmp, tmp.open("wb") as f:
                np.savez(f, **arrays)
        source = str(target)
    return source, flags


def run_search(setting: str, seed: int, out: Path) -> dict:
    """One default search on `setting`, as its own process; its figures."""
    source, flags = setting_source(setting, out)
    name = f"{setting}-seed{seed}"
    command = [
        sys.executable, "-m", "search.run", "--space", "focal", "--data", source, *flags,
        "--seed", str(seed), "--storage", str(out / "searches"), "--name", name,
    ]  # fmt: skip
    started = time.monotonic()
    log = out / "logs" / f"{name}.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as console:
        done = subprocess.run(command, stdout=console, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"error: the search {name} failed (exit {done.returncode}); see {log}")
    row = figures(out / "searches" / name, seconds) | {"setting": setting, "seed": seed}
    return row | phase_seconds(log.read_text())


def phase_seconds(console: str) -> dict:
    """How long the search itself took (Tune's trials), from the job's own console lines."""
    found = re.search(r"^search took (\d+)s$", console, flags=re.MULTILINE)
    return {"search_s": int(found.group(1))} if found else {}


def search_key(row: dict) -> tuple[str, str, int]:
    return row.get("round", FIRST_ROUND), row["setting"], row["seed"]


def figures(experiment: Path, seconds: float) -> dict:
    """What the table shows, read from a finished search's own report files."""
    metrics = read_test_metrics(experiment)
    report, verdict = metrics.models, metrics.verdict
    row = {"wall_s": round(seconds), "trials": verdict["trials"]}
    row["answer_models"] = verdict["answer_models"]
    for name in ("answer", "best_trial", *REFERENCES):
        row[f"{name}_val"] = report[name]["val"]["balanced_accuracy"]
        row[f"{name}_test"] = report[name]["test"]["balanced_accuracy"]
        if "roc_auc" in report[name]["test"]:
            row[f"{name}_test_roc_auc"] = report[name]["test"]["roc_auc"]
    for name in REFERENCES:
        row[f"trials_reaching_{name}"] = verdict[name]["trials_reaching_it"]
    # which of the members' runs (trained after the search for the answer) it holds
    with (experiment / BOARD).open() as f:
        board = list(csv.DictReader(f))
    roles = [row["role"] for row in board]
    # the search's trials' own running time (Optuna's trials): with the search phase's wall
    # time and its concurrency, the share of slot time the ordering left idle
    row["search_trials_s"] = round(
        sum(float(r["run_time_s"] or 0) for r in board if r.get("optuna_trial")), 1
    )
    members = read_best(experiment).members
    row["member_runs"] = sum(role.startswith("member_") for role in roles)
    row["member_runs_in_answer"] = sum(m["kind"] in ("full_run", "new_seed") for m in members)
    return row


def answer_models_cell(row: dict) -> str:
    """Rows before the answer chose among all full-budget models hold its good trials."""
    if "answer_models" in row:
        return str(row["answer_models"])
    return f"5: {row['good_trials']} good trial(s) and new seeds"


def table(rows: list[dict]) -> str:
    """A markdown table, one line per search and a mean per setting."""
    head = (
        "| setting | seed | answer val / test | baseline val / test | seed recipe val / test "
        "| trials reaching baseline / recipe on val | answer models | wall s |"
    )
    lines = [head, "|" + "---|" * 8]

    def cells(r: dict) -> str:
        pairs = [f"{r[f'{n}_val']:.4f} / {r[f'{n}_test']:.4f}" for n in ("answer", *REFERENCES)]
        return " | ".join(pairs)

    for round_, setting in dict.fromkeys(search_key(r)[:2] for r in rows):
        group = [r for r in rows if search_key(r)[:2] == (round_, setting)]
        if round_ != FIRST_ROUND:
            setting = f"{setting} ({round_})"
        for r in sorted(group, key=lambda r: r["seed"]):
            lines.append(
                f"| {setting} | {r['seed']} | {cells(r)} | {r['trials_reaching_baseline']} / "
                f"{r['trials_reaching_seed_recipe']} of {r['trials']} "
                f"| {answer_models_cell(r)} "
                f"| {r['wall_s']} |"
            )
        keys = [f"{n}_{s}" for n in ("answer", *REFERENCES) for s in ("val", "test")]
        mean = {k: float(np.mean([r[k] for r in group])) for k in keys}
        wall = max(r["wall_s"] for r in group)
        lines.append(f"| {setting} | mean | {cells(mean)} | | | max {wall} |")
    return "\n".join(lines)


def sizes_table(rows: dict[str, dict]) -> str:
    """Per setting: the rescored answer's mean test balanced accuracy for each size, and the
    range of member training time (one core) a smaller answer would save."""
    lines = ["| members (at least) | setting | searches | mean test | training saved |"]
    lines.append("|---|---|---:|---:|---:|")
    for k in next(iter(rows.values())):
        for setting in dict.fromkeys(name.rsplit("-seed", 1)[0] for name in rows):
            group = [v[k] for name, v in rows.items() if name.rsplit("-seed", 1)[0] == setting]
            test = np.mean([g["test"] for g in group])
            saved = [g["member_seconds_saved"] for g in group]
            lines.append(
                f"| {k} | {setting} | {len(group)} | {test:.4f} "
                f"| {min(saved):.0f}-{max(saved):.0f} s |"
            )
    return "\n".join(lines)


def finished_searches(folder: Path) -> list[Path]:
    """The finished searches (a test_metrics.json each) under `folder`, by name."""
    found = sorted(report.parent for report in folder.glob("*/test_metrics.json"))
    if not found:
        raise SystemExit(f"error: no finished search under {folder}")
    return found


def write_figures(path: Path, rows: dict) -> None:
    """A rescoring benchmark's figures, one entry per search, with their provenance."""
    from benchmarks.provenance import provenance

    write_text(path, json.dumps({"searches": rows, "provenance": provenance()}, indent=1) + "\n")


def answer_checkpoints(experiment: Path) -> tuple[Any, list[dict], list[dict]]:
    """A finished search's data (as its record loads it), its answer's members (best.json)
    and each member's checkpoint."""
    from search.settings import SearchSettings
    from trainable.checkpoint import CHECKPOINT_FILE, load_checkpoint
    from trainable.cli import data_options
    from trainable.data import load_data

    record = read_manifest(experiment).settings
    settings = SearchSettings(**{**record, "resume": True})
    data = load_data(settings.data, **data_options(settings))
    members = read_best(experiment).members
    states = [load_checkpoint(experiment / m["checkpoint"] / CHECKPOINT_FILE) for m in members]
    return data, members, states


def member_probabilities(experiment: Path) -> tuple[Any, list[dict], list[dict]]:
    """The data, the answer's members and each member's class probabilities on validation
    and test, from its checkpoint."""
    from trainable.inference import predict_checkpoint

    data, members, states = answer_checkpoints(experiment)
    probs = [{s: predict_checkpoint(state, data, s) for s in ("val", "test")} for state in states]
    return data, members, probs


def answer_sizes(experiment: Path, sizes: tuple[int, ...] = (1, 3, 5)) -> dict:
    """The answer rebuilt from the first k of its members (the plan lists good trials first,
    then new seeds in turn, so a prefix is what a smaller plan would have trained), each
    rescored on validation (its own tuned threshold) and test; and the member runs' summed
    training time, which a smaller answer would not spend."""
    import pandas as pd

    from search.answer.rules import average
    from trainable.metrics import evaluate

    data, members, probs = member_probabilities(experiment)
    board = pd.read_csv(experiment / BOARD).set_index("trial_id")
    good = sum(m["kind"] != "new_seed" for m in members)
    out = {}
    for k in sizes:
        first = probs[: max(k, good)]  # good trials are never dropped
        val = evaluate(average([p["val"] for p in first]), data.val_y)
        test = evaluate(average([p["test"] for p in first]), data.test_y, val["threshold"])
        dropped = [m["trial_id"] for m in members[len(first) :]]
        out[str(k)] = {
            "members": len(first),
            "val": val["balanced_accuracy"],
            "test": test["balanced_accuracy"],
            "member_seconds_saved": float(board.loc[dropped, "run_time_s"].sum()),
        }
    return out


SHARES = (0.25, 0.5, 0.75)  # where in a job the time left is checked
STATUS = re.compile(r"^\[\s*(\d+)s\] running .*\| (?:about (\d+) min|under a minute) left in all$")
DONE = re.compile(r"^\[\s*(\d+)s\] done")


def time_left_at(console: str, share: float) -> dict | None:
    """The status line nearest `share` of a job's console (its seconds on the job's clock,
    the time left it printed) against the time the job then really had left; None for a
    console without a closing '[ Ns] done' line or any status line."""
    end = next((int(m.group(1)) for m in map(DONE.match, console.splitlines()) if m), None)
    lines = [m for m in map(STATUS.match, console.splitlines()) if m]
    if end is None or not lines:
        return None
    line = min(lines, key=lambda m: abs(int(m.group(1)) - share * end))
    at, said = int(line.group(1)), 60 * int(line.group(2) or 0)  # "under a minute": 0
    return {"at_s": at, "end_s": end, "said_s": said, "true_s": end - at,
            "ratio": said / (end - at) if end > at else float("nan")}  # fmt: skip


def merge_rows(rows: list[dict], round_: str, out: Path) -> list[dict]:
    """Rows another checkout's `run` recorded (a version measured before a change, run from
    its own clone), relabelled `round_`, each completed from its finished search under `out`
    (figures this version records and that one did not, such as test ROC-AUC)."""
    merged = []
    for row in rows:
        experiment = out / "searches" / f"{row['setting']}-seed{row['seed']}"
        merged.append(row | figures(experiment, row["wall_s"]) | {"round": round_})
    return merged


def wall_summary(rows: list[dict], round_: str, setting: str) -> dict:
    """The whole job's wall time over a round's searches of one setting: median, range, n."""
    walls = sorted(r["wall_s"] for r in rows if search_key(r)[:2] == (round_, setting))
    return {"median_s": float(np.median(walls)), "min_s": walls[0], "max_s": walls[-1],
            "searches": len(walls)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.efficiency", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run default searches and record their figures")
    r.add_argument("--setting", nargs="+", choices=tuple(SETTINGS), default=["pneumoniamnist"])
    r.add_argument("--seed", nargs="+", type=int, default=[0, 1, 2])
    r.add_argument("--out", type=Path, default=OUT)
    r.add_argument("--round", default=ROUND, help="label the figures with the change measured")
    sub.add_parser("table", help="print the recorded figures as a table")
    e = sub.add_parser("eta", help="each search's printed time left against the true one")
    e.add_argument("--out", type=Path, default=OUT)
    z = sub.add_parser("sizes", help="rescore each finished search's answer with fewer seeds")
    z.add_argument("--out", type=Path, default=OUT)
    m = sub.add_parser("merge", help="add the rows another checkout's run recorded")
    m.add_argument("--rows", type=Path, required=True, help="that checkout's efficiency.json")
    m.add_argument("--from-round", required=True, help="the round its run recorded")
    m.add_argument("--round", required=True, help="the label the rows get here")
    m.add_argument("--out", type=Path, required=True, help="that run's --out")
    args = p.parse_args(argv)
    recorded = json.loads(FIGURES.read_text()) if FIGURES.exists() else {"searches": []}
    if args.command == "eta":
        print("| search | " + " | ".join(f"at {q:.0%}: said / true s" for q in SHARES) + " |")
        print("|---|" + "---|" * len(SHARES))
        for log in sorted((args.out / "logs").glob("*.txt")):
            checks = [time_left_at(log.read_text(), q) for q in SHARES]
            cells = [
                f"{c['said_s']} / {c['true_s']} ({c['ratio']:.2f})" if c else "-" for c in checks
            ]
            print(f"| {log.stem} | " + " | ".join(cells) + " |")
        return 0
    if args.command == "sizes":
        rows = {}
        for experiment in sorted((args.out / "searches").glob("*/best.json")):
            rows[experiment.parent.name] = answer_sizes(experiment.parent)
            cells = "  ".join(
                f"at least {k}: {v['members']} models val {v['val']:.4f} test {v['test']:.4f} "
                f"(-{v['member_seconds_saved']:.0f} s)"
                for k, v in rows[experiment.parent.name].items()
            )
            print(f"{experiment.parent.name}: {cells}", flush=True)
        recorded["answer_sizes"] = rows
        write_text(FIGURES, json.dumps(recorded, indent=1) + "\n")
        return 0
    if args.command == "merge":
        theirs = json.loads(args.rows.read_text())["searches"]
        rows = merge_rows([r for r in theirs if r.get("round") == args.from_round],
                          args.round, args.out)  # fmt: skip
        keys = {search_key(r) for r in rows}
        recorded["searches"] = [
            *(r for r in recorded["searches"] if search_key(r) not in keys),
            *rows,
        ]
        write_text(FIGURES, json.dumps(recorded, indent=1) + "\n")
    if args.command == "run":
        from benchmarks.provenance import provenance

        for setting in args.setting:
            for seed in args.seed:
                row = run_search(setting, seed, args.out)
                row |= {"round": args.round, "provenance": provenance()}
                key = (args.round, setting, seed)
                kept = [s for s in recorded["searches"] if search_key(s) != key]
                recorded["searches"] = [*kept, row]
                write_text(FIGURES, json.dumps(recorded, indent=1) + "\n")
                print(table([row]).splitlines()[2], flush=True)
    print(table(recorded["searches"]))
    if recorded.get("answer_sizes"):
        print(sizes_table(recorded["answer_sizes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
