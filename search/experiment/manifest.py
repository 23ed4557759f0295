"""An experiment's record of how it began, and one owner at a time.

    write_manifest(folder, settings, data)            # first run: <experiment>/search.json
    settings = resumed_settings(flags, given)         # --resume: the record, flags checked
    check_same_data(folder, data)                     # --resume: the data it began with
    with experiment_lock(folder): ...                 # a second search on it is refused

`--resume --name X` needs no other flag: the recorded settings are used, and a flag that
contradicts them is refused in one line naming both values (a resume on other data, another
space or another budget would mix two experiments in one report). Experiments from before the
record existed resume with the flags given, as they did.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from search.experiment.formats import read_manifest, write_record
from search.experiment.layout import LOCK, MANIFEST, TUNER
from search.settings import SearchSettings, experiment_dir
from trainable.data import Data, resize_method
from trainable.errors import UserError

# Flags that may differ on --resume: where the experiment is, how it is run and shown.
FREE_ON_RESUME = ("name", "storage", "address", "resume", "verbose")


def data_summary(data: Data) -> dict[str, Any]:
    return {
        "classes": list(data.classes),
        **{
            f"{split}_counts": np.bincount(data.split(split)[1], minlength=data.num_classes)
            .astype(int)
            .tolist()
            for split in ("train", "val", "test")
        },
        "image_shape": list(data.train_x.shape[1:]),
        "fingerprint": fingerprint(data),
    }


def fingerprint(data: Data) -> str:
    """The images and labels of every split, hashed: other data of the same classes, counts
    and shape (the same images inverted) passed the check and rewrote a finished report."""
    digest = hashlib.sha256()
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        digest.update(np.ascontiguousarray(x).tobytes())
        digest.update(np.ascontiguousarray(y).astype(np.int64).tobytes())
    return digest.hexdigest()[:16]


def write_manifest(folder: Path, settings: SearchSettings, data: Data) -> None:
    """The settings with the budget filled in, the data's shape and counts, the versions."""
    versions = {p: metadata.version(p) for p in ("torch", "ray", "optuna")}
    channels, size, _ = data.train_x.shape[1:]
    record = {
        "settings": dataclasses.asdict(settings),
        "data": data_summary(data),
        # what search.predict prepares a new image with, as training's images were
        "preprocessing": {
            "channels": int(channels),
            "size": int(size),
            "resize": resize_method(settings.data),
        },
        "versions": versions,
    }
    folder.mkdir(parents=True, exist_ok=True)
    write_record(folder / MANIFEST, record)


def resumed_settings(flags: dict[str, Any], given: dict[str, Any]) -> SearchSettings:
    """The recorded settings of the experiment that `flags` (every flag with a value, defaults
    included) names, with the flags that may differ taken from them; a flag in `given` (those
    typed) that contradicts the record is refused."""
    if not flags.get("name"):
        raise UserError("--resume needs --name, the experiment to continue")
    storage = flags.get("storage", SearchSettings.storage)
    folder = experiment_dir(storage, flags["name"])
    record = read_manifest(folder)
    if record is None and (folder / TUNER).exists():
        # the flags as typed are no record: a resume with another --epochs mixed budgets and
        # ended in a traceback
        raise UserError(
            f"{folder / MANIFEST} is missing: it records the settings this search began with "
            "(space, data, epochs); put it back (every copy of the experiment folder has it) "
            "or start a new --name"
        )
    if record is None:
        return SearchSettings(**flags)  # nothing there yet: the job says there is no experiment
    recorded = record.settings
    for key, value in given.items():
        if key in (*FREE_ON_RESUME, "data") or key not in recorded or recorded[key] == value:
            continue
        flag = "--" + key.replace("_", "-")
        raise UserError(
            f"--resume: {flag} was {recorded[key]!r} when this experiment began, now {value!r}; "
            f"leave {flag} out (the record in {MANIFEST} is used) or start a new --name"
        )
    free = {key: flags[key] for key in FREE_ON_RESUME if key in flags}
    # the data may have moved: --data names its new place, typed (a default is no new place),
    # and check_same_data refuses other data by its classes, counts and shape
    if "data" in given:
        free["data"] = given["data"]
    elif moved(recorded["data"]):
        raise UserError(
            f"--resume: the data this experiment began with is not at {recorded['data']} any "
            "more; give its new place with --data (the same data: its classes, counts and "
            "image shape are checked)"
        )
    return SearchSettings(**{**recorded, **free})


def moved(source: str) -> bool:
    """A recorded --data that was a file or folder (not a MedMNIST name) and is gone."""
    return ("/" in source or Path(source).suffix == ".npz") and not Path(source).exists()


def check_same_data(folder: Path, data: Data) -> None:
    record = read_manifest(folder)
    if record is None:
        return
    now = data_summary(data)
    recorded = {k: now[k] for k in record.data if k in now}  # a record from before a field
    if record.data != recorded:
        changed = [k for k in recorded if record.data.get(k) != now[k]]
        then = [record.data.get(k) for k in changed]
        raise UserError(
            f"--resume: the data is not what this experiment began with ({', '.join(changed)}: "
            f"{then} then, {[now[k] for k in changed]} now); point --data at the original or "
            "start a new --name"
        )


@contextmanager
def experiment_lock(folder: Path) -> Iterator[None]:
    """Hold <folder>/.lock while a search runs on the experiment: an exclusive flock, which the
    kernel drops when its process ends, so a crashed search leaves nothing to take over; the
    file names the holder (pid, host) for the refusal's message. Checking a pid written in
    the file instead let two processes in at once (one read the other's lock before its pid
    was written, called it stale and deleted it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    host = socket.gethostname()
    for _ in range(3):
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid, owner_host = _owner(path)
            raise UserError(
                f"experiment {folder.name} is being run by process {pid or '(starting)'} on "
                f"{owner_host or host}; wait for it to end, or pick another --name"
            ) from None
        try:  # the holder before us may have removed the file while we opened it
            current = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            break
        os.close(fd)
    else:
        raise UserError(f"cannot take the lock {path}; remove it if no search is running")
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()} {host}\n".encode())
    try:
        yield
    finally:
        path.unlink(missing_ok=True)  # while still held: the next holder opens a new file
        os.close(fd)


def _owner(path: Path) -> tuple[int | None, str]:
    try:
        pid, host = path.read_text().split()
        return int(pid), host
    except (OSError, ValueError):
        return None, ""
