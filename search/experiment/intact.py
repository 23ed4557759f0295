"""Is a finished experiment whole enough to resume? Every file --resume reads, checked before
anything is written.

    check_intact(Path("results/focal-20261129-101500"), "focal-20261129-101500")   # or UserError

An experiment folder is a small database of files from four writers (this package, Tune,
Optuna, torch), and any of them can be lost, cut short or overwritten by a copy gone wrong.
Resuming on a damaged one ended in tracebacks halfway through, after the report had been
rewritten from fewer trials. So before the lock is taken, the files the resume reads are
checked by their format alone, nothing loaded that could run code or reach Ray: JSON parses,
CSV parses, a pickle's opcodes run to its STOP (`pickletools`, not `pickle.load`), the SQLite
study opens read-only and holds the study, a checkpoint loads with `weights_only`. Damage is
refused in one line naming the file and what to do.

What the report writes (best.json, test_metrics.json, MODEL_CARD.md, answer_val_scores.npz,
the pictures, TensorBoard's report events) is not checked: the resume writes it again from the
trials. Trial folders are checked where the report lists them (leaderboard.csv): those trials
had finished; a search stopped before its first report has trials Tune itself resumes.
"""

from __future__ import annotations

import csv
import json
import pickletools
import sqlite3
from contextlib import closing
from pathlib import Path

from search.experiment.damage import BACK, check_json, damaged
from search.experiment.formats import read_manifest
from search.experiment.layout import (
    BOARD,
    EXPERIMENT_STATE,
    MANIFEST,
    MEMBERS,
    PARAMS_JSON,
    PARAMS_PKL,
    PHASE_STATES,
    PHASES,
    PROGRESS,
    REFERENCE_RUNS,
    RESULTS,
    SEARCH_STATES,
    STUDY,
)
from trainable.checkpoint import CHECKPOINT_FILE, load_checkpoint
from trainable.errors import UserError

ITERATION = "training_iteration"  # Tune's count of a trial's reports, in each of them


def check_intact(experiment: Path, study_name: str, tune_files: bool = True) -> None:
    """Refuse, in one line, an experiment whose files --resume needs are missing or damaged;
    `tune_files`: Tune's files are in the experiment's folder (not in cloud storage).

    A finished experiment (one with a report: leaderboard.csv) must have every file; one
    stopped before its report, those it has must be whole (a phase killed as it began may not
    have saved its state yet, and Tune starts it again)."""
    manifest = read_manifest(experiment)
    if manifest is None:
        raise UserError(f"{experiment / MANIFEST} is missing; {BACK}")
    # the name the search began with: a copy under another --name keeps its study's (and
    # its saved searcher's), and was refused as "damaged" though it was whole
    began = manifest.settings.get("name")
    check_study(experiment / STUDY, began or study_name)
    if not tune_files:
        return
    finished = (experiment / BOARD).exists()
    check_tune_state(experiment, SEARCH_STATES, required=finished)
    trials = listed_trials(experiment)
    phases_reported = {trial.parent for trial in trials} - {experiment}
    for folder in sorted({f for phase in PHASES for f in experiment.glob(phase) if f.is_dir()}):
        check_tune_state(folder, PHASE_STATES, required=folder in phases_reported)
    if lost := [trial for trial in trials if not trial.is_dir()]:
        names = ", ".join(str(trial.relative_to(experiment)) for trial in lost)
        raise UserError(
            f"trial folder(s) {names} of {experiment} are missing; the report would be rebuilt "
            "without them; put them back or start a new --name"
        )
    for trial in trials:
        check_trial(trial)


def check_json_lines(path: Path) -> list[dict]:
    """Tune's result.json: one JSON object per line; the objects."""
    try:
        records = [json.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    except FileNotFoundError:
        raise UserError(f"{path} is missing; {BACK}") from None
    except (OSError, ValueError) as e:
        raise damaged(path, f"not JSON lines: {str(e)[:80]}") from None
    if not records or not all(isinstance(r, dict) for r in records):
        raise damaged(path, "not one JSON object per line")
    return records


def check_csv(path: Path) -> list[dict[str, str]]:
    """A CSV file with a header and at least one row of as many cells; its rows."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise UserError(f"{path} is missing; {BACK}") from None
    except (OSError, ValueError, csv.Error) as e:
        raise damaged(path, f"not CSV: {str(e)[:80]}") from None
    if len(rows) < 2 or any(len(row) != len(rows[0]) for row in rows):
        raise damaged(path, "not a table with a header and rows")
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def check_pickle(path: Path) -> None:
    """A whole pickle: its opcodes read to STOP, without building (or importing) anything."""
    try:
        data = path.read_bytes()
        for _ in pickletools.genops(data):
            pass
    except FileNotFoundError:
        raise UserError(f"{path} is missing; {BACK}") from None
    except Exception as e:  # pickletools raises ValueError and others on bytes that are no pickle
        raise damaged(path, f"not a whole pickle: {str(e)[:80]}") from None
    if not data:
        raise damaged(path, "empty")


def check_study(path: Path, study_name: str) -> None:
    """Optuna's SQLite file, opened read-only, holding the study."""
    if not path.exists():
        raise UserError(
            f"{path} is missing: it is the Optuna study this search continues from; {BACK}"
        )
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            # a file cut short can still answer from its first pages: check every page
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError(problems[0])
            names = {row[0] for row in db.execute("SELECT study_name FROM studies")}
    except sqlite3.Error as e:
        raise damaged(path, f"not an Optuna study: {e}") from None
    if study_name not in names:
        raise damaged(path, f"no study named {study_name!r} in it")


def check_tune_state(folder: Path, patterns: tuple[str, ...], required: bool) -> None:
    """Tune's files for the experiment in `folder`, each whole, and (`required`) each there."""
    for pattern in patterns:
        found = sorted(folder.glob(pattern))
        if required and not found:
            raise UserError(f"{folder / pattern} is missing; {BACK}")
        for path in found:
            (check_json if path.name.startswith(EXPERIMENT_STATE) else check_pickle)(path)


def listed_trials(experiment: Path) -> list[Path]:
    """The trial folders the report lists, where each lives (search trials at the top)."""
    board = experiment / BOARD
    if not board.exists():
        return []  # deleted: the report is rebuilt from the trials as Tune has them
    rows = check_csv(board)
    if not {"trial_id", "role"} <= rows[0].keys():
        raise damaged(board, "no trial_id and role columns")

    def folder(row: dict[str, str]) -> Path:
        # a search trial has an Optuna number, a reference that is a start point among them
        if row["role"] == "search" or row.get("optuna_trial"):
            return experiment / row["trial_id"]
        if row["role"].startswith("member_"):  # in the wave that trained it
            found = sorted(experiment.glob(f"{MEMBERS}*/{row['trial_id']}"))
            return found[0] if found else experiment / MEMBERS / row["trial_id"]
        return experiment / REFERENCE_RUNS / row["trial_id"]

    return [folder(row) for row in rows]


def check_trial(folder: Path) -> None:
    check_json(folder / PARAMS_JSON)
    check_pickle(folder / PARAMS_PKL)
    # Tune writes each report to both; a file cut short holds fewer, and the report would be
    # rebuilt from a shorter history (another best epoch) without a word
    last = check_json_lines(folder / RESULTS)[-1].get(ITERATION)
    rows = check_csv(folder / PROGRESS)
    if str(last) != rows[-1].get(ITERATION):
        raise damaged(
            folder,
            f"the last report of {RESULTS} is {ITERATION} {last}, of {PROGRESS} "
            f"{rows[-1].get(ITERATION)}: one was cut short",
        )
    checkpoints = sorted(folder.glob("checkpoint_*"))
    if not checkpoints:  # every report of a trial comes with one, and Tune keeps the latest
        raise UserError(f"{folder} has no checkpoint folder left; {BACK}")
    for checkpoint in checkpoints:
        path = checkpoint / CHECKPOINT_FILE
        if not path.exists():
            raise UserError(f"{path} is missing; {BACK}")
        try:
            load_checkpoint(path)
        except UserError:
            raise damaged(path, "not a checkpoint torch can read") from None
