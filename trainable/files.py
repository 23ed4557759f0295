"""Small atomic file writes shared by the trainable and the search, and which files are
images; nothing heavy imported, so that a command can refuse bad input before torch loads."""

from __future__ import annotations

import json
import os
from pathlib import Path

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp"}


def printable(name: str | os.PathLike) -> str:
    """A file name as text UTF-8 can hold: bytes of the name that are not UTF-8 (Latin-1
    names are common on hospital shares; Python keeps them as lone surrogates, which printing
    and writing refuse) become \\xNN escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def write_json(path: Path, obj: dict) -> None:
    """Atomic: written to a temporary file, then renamed, so a run's metrics.json (or any
    JSON written here) is whole or absent."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")  # str: numpy scalars
    tmp.replace(path)
