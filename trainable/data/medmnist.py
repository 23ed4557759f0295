"""MedMNIST by name: its sets and class names from the `medmnist` package's table, and the
download, md5-checked, into a cache a user may fill by hand.

    path = fetch_medmnist("pneumoniamnist", 28, default_cache_dir())
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from pathlib import Path

from trainable.config import UserError
from trainable.files import replacing

MEDMNIST_SIZES = (28, 64, 128, 224)  # the MedMNIST+ release's image sizes


def medmnist_sets() -> dict[str, dict]:
    """The 2D MedMNIST sets by name, from the `medmnist` package's own table (INFO: download
    URL and md5 per size, label names, task), imported only when a set is named."""
    from medmnist.info import INFO

    return {name: entry for name, entry in INFO.items() if not name.endswith("3d")}


def medmnist_classes(entry: dict) -> list[str]:
    return [entry["label"][str(i)] for i in range(len(entry["label"]))]


def medmnist_classes_for(filename: str) -> list[str] | None:
    stem = filename.split(".")[0].split("_")[0].lower()
    if not stem.endswith("mnist"):
        return None
    entry = medmnist_sets().get(stem)
    return medmnist_classes(entry) if entry else None


def default_cache_dir() -> Path:
    """Where downloads and decoded folders go; IMBALANCE_SEARCH_CACHE overrides."""
    env = os.environ.get("IMBALANCE_SEARCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "imbalance-search"


def fetch_medmnist(name: str, size: int, cache: Path, url: str | None = None) -> Path:
    """Return the cached file, downloading and md5-checking it on first use (URL and md5 from
    medmnist's table; `url` replaces the download address, e.g. a local mirror).

    A file already in the cache is used as it is, so a user may place their own copy there
    (its md5 may differ from the official release, e.g. a re-assembled file). A multi-label set
    is refused: a trial learns one label per image.
    """
    entry = medmnist_sets()[name]
    if entry["task"].startswith("multi-label"):
        raise UserError(
            f"{name} is a {entry['task']} task (several findings per image); this search "
            "trains one label per image: pick a binary or multi-class MedMNIST set"
        )
    if size not in MEDMNIST_SIZES:
        sizes = ", ".join(str(s) for s in MEDMNIST_SIZES)
        raise UserError(f"{name} comes in sizes {sizes}; got --size {size}")
    suffix = "" if size == 28 else f"_{size}"
    md5 = entry[f"MD5{suffix}"]
    filename = f"{name}{suffix}.npz"
    target = cache / filename
    if target.exists():
        return target
    url = url or entry[f"url{suffix}"]
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot create the download folder {cache} ({e}); set IMBALANCE_SEARCH_CACHE to "
            "a writable folder"
        ) from None
    print(f"downloading {url} -> {target}", flush=True)
    with replacing(target) as partial:  # a download cut short or corrupt is never the file
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out)
        except OSError as e:
            raise UserError(
                f"download of {url} failed ({e}); check the network, or put the file "
                f"at {target} yourself"
            ) from None
        got = file_md5(partial)
        if got != md5:
            raise UserError(f"download of {url} is corrupt (md5 {got}, expected {md5}); run again")
    return target


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
