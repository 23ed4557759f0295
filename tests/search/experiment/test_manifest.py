"""The experiment's record (search.json) on --resume, and one search per experiment."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from search.experiment.manifest import (
    check_same_data,
    experiment_lock,
    resumed_settings,
    write_manifest,
)
from search.run import flag_values, given_flags, parse_args
from search.settings import SearchSettings
from trainable.data import load_data, make_synthetic
from trainable.errors import UserError


@pytest.fixture
def recorded(tmp_path):
    settings = SearchSettings(space="focal", data="synthetic", name="x", storage=str(tmp_path))
    data = load_data("synthetic")
    settings = settings.for_train_images(len(data.train_y))
    write_manifest(settings.report_dir, settings, data)
    return settings, data


def resume(argv: list[str]) -> SearchSettings:
    """What `python -m search.run ARGV` resumes with."""
    return resumed_settings(flag_values(parse_args(argv)), given_flags(argv))


def test_resume_needs_no_flag_but_the_name(recorded, tmp_path):
    settings, _ = recorded
    resumed = resume(["--name", "x", "--storage", str(tmp_path), "--resume"])
    assert resumed.space == "focal" and resumed.epochs == settings.epochs and resumed.resume
    with pytest.raises(UserError, match="--resume needs --name"):
        resume(["--storage", str(tmp_path), "--resume"])


def test_resume_with_a_contradicting_flag_names_both_values(recorded, tmp_path):
    settings, _ = recorded
    where = ["--name", "x", "--storage", str(tmp_path), "--resume"]
    with pytest.raises(UserError, match=f"--epochs was {settings.epochs} when this experiment"):
        resume([*where, "--space", "focal", "--epochs", "3"])
    # the same value typed again, or a flag free to change, is fine
    assert resume([*where, "--space", "focal", "--verbose"]).verbose is True


def test_resume_of_an_experiment_without_its_record_is_refused(recorded, tmp_path):
    settings, _ = recorded
    (settings.report_dir / "tuner.pkl").write_bytes(b"Tune's state")  # a search began here
    (settings.report_dir / "search.json").unlink()
    with pytest.raises(UserError, match="search.json is missing: it records the settings"):
        resume(["--name", "x", "--storage", str(tmp_path), "--resume", "--epochs", "3"])
    assert sorted(p.name for p in settings.report_dir.iterdir()) == ["tuner.pkl"]  # untouched


def test_resume_on_other_data_is_refused(recorded, tmp_path):
    settings, _ = recorded
    other = load_data("synthetic", channels=3)
    with pytest.raises(UserError, match="the data is not what this experiment began with"):
        check_same_data(settings.report_dir, other)
    check_same_data(settings.report_dir, load_data("synthetic"))  # the same data passes
    # the same classes, counts and shape, other images: it rewrote a finished report
    inverted = load_data("synthetic")
    inverted = dataclasses.replace(inverted, train_x=255 - inverted.train_x)
    with pytest.raises(UserError, match=r"\(fingerprint: \["):
        check_same_data(settings.report_dir, inverted)


def test_data_that_moved_is_resumed_from_its_new_place(tmp_path):
    # --data NEWPATH on resume was refused as a contradiction, with no way to go on
    first = tmp_path / "a.npz"
    made = make_synthetic(n_train=40, n_eval=16)  # saved in MedMNIST's layout, (N, H, W)
    np.savez(first, **{f"{s}_images": made.split(s)[0][:, 0] for s in ("train", "val", "test")},
             **{f"{s}_labels": made.split(s)[1] for s in ("train", "val", "test")})  # fmt: skip
    settings = SearchSettings(space="focal", data=str(first), name="x", storage=str(tmp_path))
    data = load_data(str(first))
    write_manifest(settings.report_dir, settings.for_train_images(len(data.train_y)), data)
    moved = first.rename(tmp_path / "b.npz")
    where = ["--name", "x", "--storage", str(tmp_path), "--resume"]
    with pytest.raises(UserError, match=f"not at {first} any more; give its new place with"):
        resume(where)
    assert resume([*where, "--data", str(moved)]).data == str(moved)
    check_same_data(settings.report_dir, load_data(str(moved)))  # the same data: it goes on


def test_a_second_search_on_a_running_experiment_is_refused(tmp_path):
    with experiment_lock(tmp_path):
        with pytest.raises(UserError, match=f"being run by process {os.getpid()}"):
            with experiment_lock(tmp_path):
                pass
    assert not (tmp_path / ".lock").exists()  # released


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    (tmp_path / ".lock").write_text(f"{dead} {os.uname().nodename}\n")
    with experiment_lock(tmp_path):
        assert (tmp_path / ".lock").read_text().split()[0] == str(os.getpid())


def hold_and_count_overlaps(folder: str, seconds: float, queue) -> None:
    """Take and release the lock for `seconds`; count the times another holder was inside."""
    import time

    from search.experiment.manifest import experiment_lock as lock

    inside, overlaps, held, end = Path(folder) / "inside", 0, 0, time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with lock(Path(folder)):
                held += 1
                try:
                    os.close(os.open(inside, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    overlaps += 1
                    continue
                inside.unlink()
        except UserError:
            pass
    queue.put((held, overlaps))


@pytest.mark.integration  # two processes
def test_two_processes_racing_for_the_lock_are_never_inside_together(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    racers = [
        context.Process(target=hold_and_count_overlaps, args=(str(tmp_path), 4.0, queue))
        for _ in range(2)
    ]
    for racer in racers:
        racer.start()
    results = [queue.get(timeout=60) for _ in racers]
    for racer in racers:
        racer.join()
    assert all(held > 50 for held, _ in results)  # both took it, many times
    assert sum(overlaps for _, overlaps in results) == 0
