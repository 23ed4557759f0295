"""A damaged experiment is refused in one line naming the file, before anything is written;
what the report writes again may be damaged freely. Property-based: every file of a small
finished experiment, each damage (hypothesis). The experiment is made by hand in the files'
own formats, so this needs neither Ray nor ../shared; tests/search/test_run.py resumes a real
one after damage."""

import json
import pickle
import shutil
import tempfile
from pathlib import Path

import optuna
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search.experiment.intact import check_intact
from trainable.checkpoint import save_checkpoint
from trainable.errors import UserError

NAME = "focal-small"
# The report's own files: the resume writes them again, so damage to them is no refusal.
REWRITTEN = {"best.json", "test_metrics.json", "MODEL_CARD.md", "answer_val_scores.npz"}
# Files the resume never reads: Ray writes its storage marker anew at every start
# (ray/train/_internal/storage.py), and a trial's TensorBoard events are TensorBoard's alone.
NOT_READ = (".validate_storage_marker", "events.out.tfevents.")


def trial(folder: Path, reports: int) -> None:
    """A finished trial as Tune leaves it: its config, `reports` results, a checkpoint."""
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps({"loss": "focal", "seed": 0}))
    (folder / "params.pkl").write_bytes(pickle.dumps({"loss": "focal", "seed": 0}))
    results = [{"epoch": i, "training_iteration": i, "score": 0.9} for i in range(1, reports + 1)]
    (folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in results))
    rows = [",".join(str(r[k]) for k in results[0]) for r in results]
    (folder / "progress.csv").write_text("\n".join([",".join(results[0]), *rows]) + "\n")
    (folder / "events.out.tfevents.1764410400.host").write_bytes(b"\x18\x00" * 20)
    (folder / f"checkpoint_{reports - 1:06d}").mkdir()
    state = {"epoch": reports, "model": {"w": torch.ones(2)}}
    save_checkpoint(state, folder / f"checkpoint_{reports - 1:06d}" / "checkpoint.pt")


def tune_state(folder: Path, search_states: tuple[str, ...]) -> None:
    """Tune's state of an experiment: the tuner, the experiment's, its search algorithm's."""
    folder.mkdir(exist_ok=True)
    (folder / "tuner.pkl").write_bytes(pickle.dumps({"tuner": 1}))
    (folder / ".validate_storage_marker").write_bytes(b"")
    (folder / "experiment_state-2026-11-29_10-00-00.json").write_text('{"trial_data": []}')
    for pattern in search_states:
        (folder / pattern.replace("*", "2026-11-29_10-00-00")).write_bytes(pickle.dumps({"n": 1}))


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    """A finished experiment: a search trial, a start point that is a reference (at the top,
    with an Optuna number), a reference trained apart, the report's files."""
    folder = tmp_path_factory.mktemp("results") / NAME
    folder.mkdir()
    (folder / "search.json").write_text(
        json.dumps({"settings": {"space": "focal", "name": NAME}, "data": {}})
    )
    optuna.create_study(study_name=NAME, storage=f"sqlite:///{folder / 'optuna.db'}")
    tune_state(folder, ("searcher-state-*.pkl", "search_gen_state-*.json"))
    trial(folder / "trial_ab12cd34", reports=3)
    trial(folder / "trial_5eed0001", reports=3)  # a start point that is the seed recipe
    tune_state(folder / "references", ("basic-variant-state-*.json",))
    trial(folder / "references" / "trial_9cbce_00000", reports=3)
    (folder / "leaderboard.csv").write_text(
        "trial_id,optuna_trial,role,val_balanced_accuracy\n"
        "trial_ab12cd34,2,search,0.9\ntrial_5eed0001,1,seed_recipe,0.9\n"
        "trial_9cbce_00000,,baseline,0.9\n"
    )
    for name in REWRITTEN:
        (folder / name).write_text("{}")
    return folder


def files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in files(folder)}


def test_a_whole_experiment_passes(experiment):
    check_intact(experiment, NAME)


def damage(path: Path, how: str, garbage: bytes = b"") -> None:
    data = path.read_bytes()
    if how == "missing":
        path.unlink()
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(garbage)
    elif how == "first half":
        path.write_bytes(data[: len(data) // 2])
    else:  # "last line cut": cut at its last line break, as a copy stopped between writes
        path.write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1])


def check_damaged(experiment: Path, name: str, how: str, garbage: bytes = b"") -> None:
    """Damage one file of a copy of `experiment`; the check refuses it in one line naming the
    file (or its trial's folder), or passes where the resume needs nothing of it; and writes
    nothing either way."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / NAME
        shutil.copytree(experiment, copy)
        damage(copy / name, how, garbage)
        before = snapshot(copy)
        try:
            check_intact(copy, NAME)
            refused = None
        except UserError as e:
            refused = str(e)
        assert snapshot(copy) == before, f"{how} {name}: the check wrote"
    # the leaderboard is the report's too: it only lists the trials to check, and a shorter
    # list leaves the rest to Tune's own state, as a deleted one does
    benign = (
        name in REWRITTEN
        or Path(name).name.startswith(NOT_READ)
        or (name == "leaderboard.csv" and how in ("missing", "last line cut"))
    )
    if benign or (experiment / name).read_bytes() == after(experiment / name, how, garbage):
        assert refused is None, refused
        return
    assert refused is not None, f"{how} {name} passed"
    assert "\n" not in refused, refused
    assert Path(name).name in refused or str(Path(name).parent) in refused, refused


def after(path: Path, how: str, garbage: bytes) -> bytes | None:
    """The file's bytes after the damage (None: gone)."""
    data = path.read_bytes()
    return {
        "missing": None,
        "empty": b"",
        "garbage": garbage,
        "first half": data[: len(data) // 2],
        "last line cut": data[: data.rstrip(b"\n").rfind(b"\n") + 1],
    }[how]


@pytest.mark.parametrize("how", ["missing", "empty", "first half", "last line cut"])
def test_each_damage_to_each_file_is_refused_naming_it_or_needs_nothing(experiment, how):
    for name in files(experiment):
        check_damaged(experiment, name, how)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# bytes no reader takes: 0xff starts no pickle, no UTF-8 (JSON, CSV), no SQLite or zip file
@given(garbage=st.binary(max_size=64).map(lambda b: b"\xff" + b))
def test_garbage_in_any_file_is_refused_naming_it_or_needs_nothing(experiment, garbage):
    for name in files(experiment):
        check_damaged(experiment, name, "garbage", garbage)


def test_a_study_file_without_this_study_is_refused(experiment, tmp_path):
    copy = tmp_path / NAME
    shutil.copytree(experiment, copy)
    (copy / "optuna.db").unlink()
    optuna.create_study(study_name="another", storage=f"sqlite:///{copy / 'optuna.db'}")
    with pytest.raises(UserError, match="no study named 'focal-small'"):
        check_intact(copy, NAME)


def test_a_copy_under_another_name_is_intact(experiment, tmp_path):
    # its study (and its saved searcher) keep the name it began with, which search.json
    # records: it was refused as "damaged", though whole
    copy = tmp_path / "renamed"
    shutil.copytree(experiment, copy)
    check_intact(copy, "renamed")


def test_a_deleted_leaderboard_is_consent_to_rebuild_the_report(experiment, tmp_path):
    copy = tmp_path / NAME
    shutil.copytree(experiment, copy)
    (copy / "leaderboard.csv").unlink()
    shutil.rmtree(copy / "trial_ab12cd34")  # no longer listed anywhere: Tune's state decides
    check_intact(copy, NAME)


def test_a_trial_without_any_checkpoint_folder_is_refused(experiment, tmp_path):
    copy = tmp_path / NAME
    shutil.copytree(experiment, copy)
    shutil.rmtree(copy / "trial_ab12cd34" / "checkpoint_000002")
    with pytest.raises(UserError, match="trial_ab12cd34 has no checkpoint folder left"):
        check_intact(copy, NAME)
