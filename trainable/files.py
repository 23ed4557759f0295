"""Small atomic file writes shared by the trainable and the search, and which files are
images; nothing heavy imported, so that a command can refuse bad input before torch loads.

    write_json(out / "metrics.json", metrics)      # whole, or the earlier file as it was
    with replacing(out / "checkpoint.pt") as tmp:  # any writer: torch.save, np.save, a CSV
        torch.save(state, tmp)
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp"}


def find_images(folder: Path) -> tuple[list[Path], dict[Path, str]]:
    """The image files below `folder`, recursively, sorted, and each folder below it that
    could not be listed, with the reason. Path.rglob skipped an unreadable folder without a
    word: a class lost a third of its images and its share moved from 33% to 43%."""
    found, unreadable, seen = [], {}, set()

    def note(error: OSError) -> None:
        unreadable[Path(error.filename)] = error.strerror or str(error)

    for root, dirs, names in os.walk(folder, onerror=note, followlinks=True):
        # a link back up (`again -> .`) listed every image once per turn, ~40 times
        seen.add(os.path.realpath(root))
        dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(root, d)) not in seen]
        for name in names:
            path = Path(root, name)
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if path.is_file() or path.is_symlink():  # a broken link is reported where read
                found.append(path)
            else:  # a pipe or device named like an image: reading it waited for ever
                unreadable[path] = "not a regular file"
    return sorted(found), unreadable


def printable(name: str | os.PathLike) -> str:
    """A file name as text UTF-8 can hold: bytes of the name that are not UTF-8 (Latin-1
    names are common on hospital shares; Python keeps them as lone surrogates, which printing
    and writing refuse) become \\xNN escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def write_json(path: Path, obj: dict) -> None:
    """Atomic (write_text), so a run's metrics.json (or any JSON written here) is whole or
    absent."""
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")  # str: numpy scalars


def write_text(path: Path, text: str) -> None:
    """Atomic (replacing)."""
    with replacing(path) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary name beside `path` for the block to write; renamed into `path` when the
    block ends, removed when it raises. The file is whole, or as it was: on a full disk the
    earlier copy stays (a leaderboard written in place was left empty, and the resume that
    should have finished the job refused it as damaged). The name is hidden, carries the
    process id (two trials may fill one cache entry at once) and ends in .tmp, so it never
    is a file of the user's (scores.tmp). Writers that add a suffix (np.save) get a file
    object: `with replacing(p) as tmp, tmp.open("wb") as f: np.save(f, x)`."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):  # a read-only folder refuses this too
            tmp.unlink(missing_ok=True)
        raise
