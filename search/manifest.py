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
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from search.settings import SearchSettings, experiment_dir
from trainable.checkpoint import write_json
from trainable.data import Data, resize_method
from trainable.errors import UserError

MANIFEST = "search.json"
LOCK = ".lock"
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
    }


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
    write_json(folder / MANIFEST, record)


def read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"cannot read {path} ({e}); restore it or start a new --name") from None


def resumed_settings(flags: dict[str, Any], given: dict[str, Any]) -> SearchSettings:
    """The recorded settings of the experiment that `flags` (every flag with a value, defaults
    included) names, with the flags that may differ taken from them; a flag in `given` (those
    typed) that contradicts the record is refused."""
    if not flags.get("name"):
        raise UserError("--resume needs --name, the experiment to continue")
    storage = flags.get("storage", SearchSettings.storage)
    record = read_manifest(experiment_dir(storage, flags["name"]))
    if record is None:
        return SearchSettings(**flags)  # from before the record existed: the flags as given
    recorded = record["settings"]
    for key, value in given.items():
        if key in FREE_ON_RESUME or key not in recorded or recorded[key] == value:
            continue
        flag = "--" + key.replace("_", "-")
        raise UserError(
            f"--resume: {flag} was {recorded[key]!r} when this experiment began, now {value!r}; "
            f"leave {flag} out (the record in {MANIFEST} is used) or start a new --name"
        )
    free = {key: flags[key] for key in FREE_ON_RESUME if key in flags}
    return SearchSettings(**{**recorded, **free})


def check_same_data(folder: Path, data: Data) -> None:
    record = read_manifest(folder)
    if record is None:
        return
    now = data_summary(data)
    if record["data"] != now:
        changed = [k for k in now if record["data"].get(k) != now[k]]
        then = [record["data"].get(k) for k in changed]
        raise UserError(
            f"--resume: the data is not what this experiment began with ({', '.join(changed)}: "
            f"{then} then, {[now[k] for k in changed]} now); point --data at the original or "
            "start a new --name"
        )


@contextmanager
def experiment_lock(folder: Path) -> Iterator[None]:
    """Hold <folder>/.lock (pid and host) while a search runs on the experiment; a lock whose
    process is gone (on this host) is taken over."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    host = socket.gethostname()
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            pid, owner_host = _owner(path)
            if pid is not None and (owner_host != host or _alive(pid)):
                raise UserError(
                    f"experiment {folder.name} is being run by process {pid} on {owner_host}; "
                    "wait for it to end, or pick another --name"
                ) from None
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()} {host}\n")
        break
    else:
        raise UserError(f"cannot take the lock {path}; remove it if no search is running")
    try:
        yield
    finally:
        if _owner(path)[0] == os.getpid():
            path.unlink(missing_ok=True)


def _owner(path: Path) -> tuple[int | None, str]:
    try:
        pid, host = path.read_text().split()
        return int(pid), host
    except (OSError, ValueError):
        return None, ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
