"""From disk to three uint8 arrays: load a data set once, print its class balance.

    from trainable.data import load_data
    data = load_data("../shared/data/pneumoniamnist/pneumoniamnist.npz")   # MedMNIST npz
    data = load_data("../shared/data/chest_xray", size=64)                  # Kermany folders
    data = load_data("pneumoniamnist", size=28)                             # download + md5
    data = load_data("breastmnist", size=64)                                # any 2D MedMNIST set
    data = load_data("synthetic")                                           # smoke tests only
    data = load_data("pneumoniamnist", train_subsample=500)                 # learning curves

Every source ends as the same `Data`: images `uint8 (N, C, H, W)` and labels `int64 (N,)`
for train / val / test, plus class names. Small enough to live on the training device whole,
which is what lets the training loop batch, sample and augment as tensors.

A folder without a usable `val/` gets a validation split carved out of `train/`, stratified by
class and grouped by patient (ids parsed from file names), so no patient sits on both sides.
Decoded folders are cached as .npz, keyed by every file's path, size and mtime and the target
size, so the second run skips JPEG decoding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import re
import shutil
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from trainable.config import DEFAULT_PATIENT_PATTERN, UserError
from trainable.files import IMAGE_SUFFIXES, find_images, printable, replacing

SPLITS = ("train", "val", "test")
# Smallest side the models take: small_cnn pools twice, and the robustness battery blurs and
# pixelates; --size accepts the same floor.
MIN_IMAGE_SIZE = 8
# A val/ folder with fewer images than this per class (Kaggle ships 8) is merged into train/.
MIN_VAL_PER_CLASS = 25

MEDMNIST_SIZES = (28, 64, 128, 224)  # the MedMNIST+ release's image sizes


def medmnist_sets() -> dict[str, dict]:
    """The 2D MedMNIST sets by name, from the `medmnist` package's own table (INFO: download
    URL and md5 per size, label names, task), imported only when a set is named."""
    from medmnist.info import INFO

    return {name: entry for name, entry in INFO.items() if not name.endswith("3d")}


def medmnist_classes(entry: dict) -> list[str]:
    return [entry["label"][str(i)] for i in range(len(entry["label"]))]


@dataclass
class Data:
    train_x: np.ndarray  # uint8 (N, C, H, W)
    train_y: np.ndarray  # int64 (N,)
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return getattr(self, f"{name}_x"), getattr(self, f"{name}_y")

    def describe(self) -> str:
        """One line per split: 'train  normal 1214 (25.8%) / pneumonia 3494 (74.2%)'."""
        lines = []
        for name in SPLITS:
            y = self.split(name)[1]
            counts = np.bincount(y, minlength=self.num_classes)
            parts = [
                f"{c} {n} ({100 * n / max(len(y), 1):.1f}%)"
                for c, n in zip(self.classes, counts, strict=True)
            ]
            lines.append(f"{name:<5} {' / '.join(parts)}")
        shape = "x".join(str(s) for s in self.train_x.shape[1:])
        return "\n".join(lines) + f"\nimages {shape} (C x H x W), uint8"


def load_data(
    source: str,
    *,
    size: int | None = None,
    channels: int | None = None,
    val_fraction: float = 0.1,
    patient_pattern: str = DEFAULT_PATIENT_PATTERN,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    train_subsample: int | None = None,
) -> Data:
    """Load `source` (npz file, class folder, MedMNIST name or 'synthetic') and check it.

    `train_subsample` keeps that many training images, stratified by class and drawn with
    `seed` (validation and test stay whole): a small-data setting from a large set."""
    if size is not None and not MIN_IMAGE_SIZE <= size <= 512:
        raise UserError(f"--size must be between {MIN_IMAGE_SIZE} and 512 pixels; got {size}")
    if channels not in (None, 1, 3):
        raise UserError(f"--channels must be 1 or 3; got {channels}")
    if not 0.02 <= val_fraction <= 0.5:
        raise UserError(f"--val-fraction must be in [0.02, 0.5]; got {val_fraction}")
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    path = Path(source).expanduser()
    if source == "synthetic":
        data = make_synthetic(seed=seed)
    elif path.is_dir():
        data = load_folder(
            path, size or 224, channels or 1, val_fraction, patient_pattern, seed, cache
        )
    elif path.is_file():
        data = load_npz(path)
    elif (entry := medmnist_sets().get(source.lower())) is not None:
        npz = fetch_medmnist(source.lower(), size or 28, cache)
        data = load_npz(npz, classes=medmnist_classes(entry))
    else:
        known = ", ".join(["synthetic", *medmnist_sets()])
        raise UserError(
            f"data not found: {source} (give an .npz file, a folder with "
            f"train/<CLASS>/ images, or one of: {known})"
        )
    data = _resize_all(data, size)
    data = _set_channels(data, channels)
    if train_subsample is not None:
        data = subsample_train(data, train_subsample, seed)
    check_data(data)
    return data


def subsample_train(data: Data, n: int, seed: int = 0) -> Data:
    """Keep `n` training images, stratified by class (sklearn's train_test_split)."""
    total = len(data.train_y)
    counts = np.bincount(data.train_y, minlength=data.num_classes)
    if not counts.min() * n / total >= 1 or n >= total:
        raise UserError(
            f"--train-subsample must leave at least one image per class and be below the "
            f"{total} training images; got {n}"
        )
    # stratifying needs an image of each class on both sides; leaving out fewer images than
    # there are classes, it cannot (scikit-learn refuses), and has nothing to balance
    stratify = data.train_y if total - n >= data.num_classes else None
    keep, _ = train_test_split(np.arange(total), train_size=n, stratify=stratify, random_state=seed)
    keep = np.sort(keep)
    return dataclasses.replace(data, train_x=data.train_x[keep], train_y=data.train_y[keep])


def default_cache_dir() -> Path:
    """Where downloads and decoded folders go; IMBALANCE_SEARCH_CACHE overrides."""
    env = os.environ.get("IMBALANCE_SEARCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "imbalance-search"


# --- npz (MedMNIST layout) -------------------------------------------------------------


def load_npz(path: Path, classes: list[str] | None = None) -> Data:
    keys = [f"{s}_{k}" for s in SPLITS for k in ("images", "labels")]
    try:
        with np.load(path, allow_pickle=False) as f:  # never unpickle a user's file
            missing = [k for k in keys if k not in f.files]
            if missing:
                raise UserError(
                    f"{path} lacks key(s) {missing}; a MedMNIST-style npz needs {', '.join(keys)}"
                )
            _check_npz_sizes(f, path, keys)
            arrays = {k: f[k] for k in keys}
            stored = f["class_names"] if classes is None and "class_names" in f.files else None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise UserError(f"cannot read {path} as .npz ({e}); re-download or re-export it") from None
    parts = {}
    for split in SPLITS:
        x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(x) != len(y):
            raise UserError(
                f"{path}: {split}_images has {len(x)} rows but {split}_labels "
                f"has {len(y)}; they must match"
            )
        parts[split] = (_to_nchw(x, f"{path}:{split}_images"), _to_labels(y, f"{path}:{split}"))
    num = int(parts["train"][1].max(initial=0)) + 1  # train/ defines the classes
    if stored is not None:
        classes = _class_names(stored, num, path)
    if classes is None:
        known = _medmnist_classes_for(path.name)
        classes = known if known and len(known) == num else [str(i) for i in range(num)]
    return Data(*parts["train"], *parts["val"], *parts["test"], classes=classes)


def _class_names(names: np.ndarray, num: int, path: Path) -> list[str]:
    """An npz's class_names: one distinct, non-empty name per class of train_labels; else a
    wrong array named the classes wrongly (duplicates) or failed later with another message."""
    found = [str(c) for c in names.ravel()]
    if names.ndim != 1 or len(found) != num or len(set(found)) != num or not all(found):
        raise UserError(
            f"{path}: class_names {found[:6]} must name each of the {num} classes of "
            f"train_labels once (distinct, non-empty, in label order); fix the array or drop it "
            f"(the classes are then named 0..{num - 1})"
        )
    return found


def _check_npz_sizes(f: np.lib.npyio.NpzFile, path: Path, keys: list[str]) -> None:
    """Refuse an array whose header claims more bytes than its zip member holds, or than this
    machine has memory, before numpy allocates it (a header can claim 10^12 rows)."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for key in keys:
        member = f.zip.getinfo(f"{key}.npy")
        with f.zip.open(member) as raw:
            read_header = (
                np.lib.format.read_array_header_1_0
                if np.lib.format.read_magic(raw) == (1, 0)
                else np.lib.format.read_array_header_2_0  # 2.0 and 3.0: a longer header
            )
            shape, _, dtype = read_header(raw)
        claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if claimed > member.file_size or claimed > memory:
            raise UserError(
                f"{path}: {key} claims shape {shape} ({claimed / 2**30:.1f} GiB) but the file "
                f"holds {member.file_size / 2**30:.1f} GiB (this machine has "
                f"{memory / 2**30:.0f} GiB); re-export the npz"
            )


def _medmnist_classes_for(filename: str) -> list[str] | None:
    stem = filename.split(".")[0].split("_")[0].lower()
    if not stem.endswith("mnist"):
        return None
    entry = medmnist_sets().get(stem)
    return medmnist_classes(entry) if entry else None


def _to_nchw(x: np.ndarray, what: str) -> np.ndarray:
    if x.ndim == 3:  # (N, H, W) grayscale
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3):  # (N, H, W, C)
        x = x.transpose(0, 3, 1, 2)
    else:
        raise UserError(f"{what} has shape {x.shape}; expected (N, H, W) or (N, H, W, 1|3)")
    if x.dtype != np.uint8:
        x = _as_uint8(x, what)
    return np.ascontiguousarray(x)


def _as_uint8(x: np.ndarray, what: str) -> np.ndarray:
    """8-bit pixels from integer or float arrays that hold them; anything else would train on
    wrong pixels without a word (a [0, 1]-scaled float image cast to uint8 is all 0 and 1)."""
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise UserError(f"{what} has dtype {x.dtype}; store 8-bit images (uint8)")
    if not x.size:
        return x.astype(np.uint8)
    if np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise UserError(f"{what} holds NaN or infinite values; store 8-bit images (uint8)")
        if x.max() <= 1.0:
            raise UserError(
                f"{what} is float in [{x.min():g}, {x.max():g}], scaled to [0, 1]; "
                "store 8-bit images (multiply by 255 and cast to uint8)"
            )
    if x.min() < 0 or x.max() > 255:
        raise UserError(
            f"{what} has values in [{x.min():g}, {x.max():g}], outside 0..255; store 8-bit "
            "images (uint8)"
        )
    return np.round(x).astype(np.uint8)


def _to_labels(y: np.ndarray, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise UserError(
            f"{what} labels must be integers of shape (N,) or (N, 1); got "
            f"{y.dtype} {y.shape} (multi-label sets are not supported)"
        )
    return y.astype(np.int64)


# --- MedMNIST download -----------------------------------------------------------------


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


# --- class folders (Kaggle / Kermany layout) -------------------------------------------


def load_folder(
    root: Path,
    size: int,
    channels: int,
    val_fraction: float,
    patient_pattern: str,
    seed: int,
    cache: Path,
) -> Data:
    if not (root / "train").is_dir():
        raise UserError(
            f"{root} has no train/ folder; expected train/<CLASS>/*.jpeg "
            "(and optionally val/ and test/)"
        )
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if not classes:
        raise UserError(f"{root / 'train'} has no class folders; expected train/<CLASS>/")
    for split in ("val", "test"):
        extra = sorted(
            p.name for p in (root / split).glob("*") if p.is_dir() and p.name not in classes
        )
        if extra:
            raise UserError(
                f"{root / split} has class folder(s) {extra} that train/ lacks (train/ has "
                f"{', '.join(classes)}); rename or remove them"
            )
    files = {split: _list_images(root / split, classes) for split in SPLITS}
    if not files["train"][0]:
        raise UserError(f"{root / 'train'} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    empty = [c for c, n in zip(classes, np.bincount(files["train"][1], minlength=len(classes)),
                                strict=True) if n == 0]  # fmt: skip
    if empty:
        raise UserError(
            f"{root / 'train'}: class folder(s) {empty} hold no images; add images or remove "
            "the folder (a class never trained on can only be guessed)"
        )
    decoded = {
        split: _decode_cached(paths, size, channels, cache) for split, (paths, _) in files.items()
    }

    train_x, train_y = decoded["train"], files["train"][1]
    train_names = [p.name for p in files["train"][0]]
    val_x, val_y = decoded["val"], files["val"][1]
    if len(val_y) == 0 or np.bincount(val_y, minlength=len(classes)).min() < MIN_VAL_PER_CLASS:
        # Too small to select models on: pool it with train/, then carve by patient.
        train_x = np.concatenate([train_x, val_x])
        train_y = np.concatenate([train_y, val_y])
        train_names += [p.name for p in files["val"][0]]
        groups = patient_ids(train_names, patient_pattern)
        fit_idx, val_idx = carve_validation(train_y, groups, val_fraction, seed)
        train_x, train_y, val_x, val_y = (
            train_x[fit_idx],
            train_y[fit_idx],
            train_x[val_idx],
            train_y[val_idx],
        )
    # class names are labels shown and written everywhere: a folder name that is not UTF-8
    # becomes text with \xNN escapes (printing or writing the raw name raised)
    names = [printable(c) for c in classes]
    return Data(train_x, train_y, val_x, val_y, decoded["test"], files["test"][1], names)


def _list_images(split_dir: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    paths, labels = [], []
    for label, name in enumerate(classes):
        folder = split_dir / name
        if not folder.is_dir():
            continue
        # recursive: a site's class folder often holds one subfolder per batch or patient
        found, unreadable = find_images(folder)
        if unreadable:
            where, why = next(iter(unreadable.items()))
            raise UserError(
                f"{len(unreadable)} folder(s) or file(s) under {folder} cannot be read "
                f"({where}: {why}); their images would be left out of class {name}: fix the "
                "permissions or move them out"
            )
        for p in found:
            if not p.exists():  # a link whose target is gone
                raise UserError(f"{p} is a broken link; remove it or restore what it points to")
        paths += found
        labels += [label] * len(found)
    return paths, np.array(labels, dtype=np.int64)


def patient_ids(names: list[str], pattern: str) -> np.ndarray:
    """Patient id of each file name: the pattern's first group, else the whole name."""
    try:
        regex = re.compile(pattern)
    except re.error as e:
        raise UserError(f"--patient-pattern is not a valid regular expression ({e})") from None
    return np.array([_patient_id(regex.match(name), name) for name in names])


def _patient_id(match: re.Match | None, name: str) -> str:
    """The first group that matched something, else the whole match, else the name: an
    optional group or one side of an alternation may match nothing, and an empty id would
    make every such file one patient."""
    if match is None:
        return name
    found = [g for g in match.groups() if g] or [match.group(0)]
    return found[0] or name


def carve_validation(
    labels: np.ndarray, groups: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (train, val), stratified by class, no group on both sides.

    sklearn's StratifiedGroupKFold does both at once; validation is `m` of its `k` folds,
    m / k the fraction nearest `val_fraction` with k at most 50 (0.1: 1 of 10, 0.4: 2 of 5;
    one fold of round(1 / fraction) carved 0.5 for 0.4).
    """
    if len(np.unique(labels)) < 2:
        raise UserError("training data has one class only; an imbalance search needs at least two")
    n_splits, n_val = fold_counts(val_fraction)
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    try:
        splits = folds.split(np.zeros(len(labels)), labels, groups)
        held = [val for _, val in itertools.islice(splits, n_val)]
        val_idx = np.concatenate(held)
        train_idx = np.setdiff1d(np.arange(len(labels)), val_idx)
    except ValueError as e:  # fewer patients than folds
        raise UserError(
            f"too few images to carve a validation split ({e}); add images, "
            "raise --val-fraction or provide a val/ folder"
        ) from None
    return np.sort(train_idx), np.sort(val_idx)


def fold_counts(val_fraction: float, most: int = 50) -> tuple[int, int]:
    """(k, m): m of k folds nearest `val_fraction`, the smallest k among equals."""
    options = [(abs(round(val_fraction * k) / k - val_fraction), k) for k in range(2, most + 1)]
    _, k = min(o for o in options if round(val_fraction * o[1]) >= 1)
    return k, round(val_fraction * k)


def _decode_cached(paths: list[Path], size: int, channels: int, cache: Path) -> np.ndarray:
    if not paths:
        return np.zeros((0, channels, size, size), dtype=np.uint8)
    key = hashlib.sha256(f"{size}:{channels}".encode())
    for p in paths:
        st = p.stat()
        # os.fsencode: the name's own bytes, which need not be UTF-8 (Latin-1 names are
        # common on hospital shares; str.encode raised on them)
        key.update(os.fsencode(p.resolve()) + f":{st.st_size}:{st.st_mtime_ns}\n".encode())
    cached = cache / "decoded" / f"{key.hexdigest()[:24]}.npy"
    if cached.exists():
        try:
            return np.load(cached, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            pass  # a damaged cache entry (a full disk, a copy cut short): decode again
    mode = "L" if channels == 1 else "RGB"
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        images = list(pool.map(lambda p: _decode(p, size, mode), paths))
    x = np.stack(images)
    x = x[:, None] if channels == 1 else x.transpose(0, 3, 1, 2)
    x = np.ascontiguousarray(x)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        # atomic: a crash never leaves a half-written cache entry
        with replacing(cached) as tmp, tmp.open("wb") as f:
            np.save(f, x)
    except OSError as e:  # the cache only saves time: go on without it
        print(
            f"warning: cannot cache decoded images in {cached.parent} ({e}); they are decoded "
            "again next time (set IMBALANCE_SEARCH_CACHE to a writable folder)",
            flush=True,
        )
    return x


def _decode(
    path: Path, size: int | None, mode: str, min_side: int = 0, trained: int = 0
) -> np.ndarray:
    """`min_side`: an image smaller than this on a side is refused, not scaled up (`trained`:
    the size the answer was trained at, for the message)."""
    try:
        with Image.open(path) as im:
            if min(im.size) < min_side:
                raise UserError(
                    f"{path} is {im.size[0]}x{im.size[1]} pixels, far below the "
                    f"{trained}x{trained} the answer was trained at (at least {min_side} a "
                    "side); give the original image"
                )
            im = _eight_bit(im).convert(mode)
            return np.asarray(im if size is None else im.resize((size, size), Image.BILINEAR))
    except ValueError as e:  # pixels no scale can show (NaN, infinite)
        raise UserError(f"cannot decode image {path} ({e}); re-export it") from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        # PIL refuses images over 2 x MAX_IMAGE_PIXELS (179 M pixels) before decoding them
        raise UserError(f"cannot decode image {path} ({e}); remove or replace the file") from None


def _eight_bit(im: Image.Image) -> Image.Image:
    """A 16-bit or 32-bit grayscale image scaled linearly to 8 bits from the range of the
    smallest depth that holds its brightest pixel (10, 12, 14 or 16 bits: X-ray detectors
    store 12 bits in 16-bit PNGs), or from 0..1 for float pixels that fit there; PIL's
    convert("L") clips such images to white, or to black, instead."""
    if im.mode not in ("I;16", "I;16B", "I;16L", "I", "F"):
        return im
    x = np.asarray(im, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("it holds NaN or infinite pixels")
    if im.mode == "F" and 0 < x.max() <= 1.0:  # floats in 0..1 (a common export) read black
        top = 1.0
    else:
        top = next((2**b - 1 for b in (8, 10, 12, 14, 16) if x.max() <= 2**b - 1), x.max())
    return Image.fromarray(np.round(np.clip(x, 0, top) * 255 / top).astype(np.uint8), "L")


# --- synthetic (smoke tests only) ------------------------------------------------------


def make_synthetic(
    n_train: int = 480,
    n_eval: int = 160,
    size: int = 28,
    minority_share: float = 0.25,
    seed: int = 0,
) -> Data:
    """Noise images; the minority class carries a faint bright square. Never a result."""
    rng = np.random.default_rng(seed)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) >= minority_share).astype(np.int64)  # class 0 is the minority
        x = rng.normal(100, 30, size=(n, 1, size, size))
        for i in np.flatnonzero(y == 0):
            r, c = rng.integers(2, size - 10, size=2)
            x[i, 0, r : r + 8, c : c + 8] += 60
        return np.clip(x, 0, 255).astype(np.uint8), y

    return Data(*make(n_train), *make(n_eval), *make(n_eval), classes=["minority", "majority"])


# --- shared checks and transforms ------------------------------------------------------


def check_data(data: Data) -> None:
    """Refuse data a classifier cannot be trained or judged on, naming the fix."""
    k = data.num_classes
    for split in SPLITS:
        x, y = data.split(split)
        if len(y) and (y.min() < 0 or y.max() >= k):
            raise UserError(
                f"{split} labels must lie in 0..{k - 1} ({k} classes); found "
                f"{sorted(set(y.tolist()) - set(range(k)))[:5]}"
            )
        if split != "test" and len(y) == 0:
            raise UserError(f"the {split} split is empty")
    present = np.unique(data.train_y)
    if len(present) < 2:
        raise UserError(
            f"training data has one class only ({data.classes[present[0]]}); "
            "an imbalance search needs at least two"
        )
    for split, fix in (("val", "raise --val-fraction or add images"), ("test", "add images")):
        y = data.split(split)[1]
        missing = sorted(set(range(k)) - set(np.unique(y).tolist()))
        if missing and len(y):  # an absent test split is the search's to refuse
            name = "validation" if split == "val" else split
            raise UserError(
                f"{name} split lacks class(es) {[data.classes[i] for i in missing]}, so its "
                f"balanced accuracy and ROC-AUC mean nothing; {fix}"
            )
    shapes = {data.split(s)[0].shape[1:] for s in SPLITS if len(data.split(s)[1])}
    if len(shapes) > 1:
        raise UserError(f"splits have different image shapes {sorted(shapes)}; pass --size")
    height, width = data.train_x.shape[-2:]
    if min(height, width) < MIN_IMAGE_SIZE:
        raise UserError(
            f"images are {height}x{width} pixels; the models need at least "
            f"{MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} (pass --size 28 or more)"
        )


def _resize_all(data: Data, size: int | None) -> Data:
    if size is None or data.train_x.shape[-1] == size == data.train_x.shape[-2]:
        return data
    resized = {}
    for split in SPLITS:
        x, y = data.split(split)
        resized[split] = (resize_arrays(x, size), y)
    return Data(*resized["train"], *resized["val"], *resized["test"], classes=data.classes)


def resize_arrays(x: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, C, H, W) images resized to size x size as arrays are: bilinear, antialiased."""
    if x.shape[-2:] == (size, size):
        return x
    if not x.flags.writeable:  # a read-only array (an image's buffer): torch warned of it
        x = x.copy()
    t = F.interpolate(
        torch.from_numpy(x).float(),
        size=(size, size),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    return t.round().clamp(0, 255).to(torch.uint8).numpy()


# --- one image as training saw it (search.predict) ------------------------------------

RESIZE_BY_PIL = "pil_bilinear"  # class folders: PIL decodes and resizes in one step
RESIZE_ARRAYS = "torch_bilinear_antialias"  # npz / MedMNIST arrays, when --size differs


def resize_method(source: str) -> str:
    """How `source`'s images were brought to the training size."""
    return RESIZE_BY_PIL if Path(source).expanduser().is_dir() else RESIZE_ARRAYS


def read_image(path: Path, size: int, channels: int, resize: str) -> np.ndarray:
    """One image file as uint8 (C, size, size), decoded and resized the way training's
    images were (`resize`, from resize_method); UserError when it cannot be decoded."""
    mode = "L" if channels == 1 else "RGB"
    # a quarter of the training size (at least the models' 8 px): a thumbnail scaled up got a
    # confident decision
    smallest = min(size, max(8, size // 4))
    x = _decode(path, size if resize == RESIZE_BY_PIL else None, mode, smallest, size)
    x = x[None] if channels == 1 else x.transpose(2, 0, 1)
    return resize_arrays(np.ascontiguousarray(x)[None], size)[0]


def _set_channels(data: Data, channels: int | None) -> Data:
    if channels is None or data.train_x.shape[1] == channels:
        return data
    out = {}
    for split in SPLITS:
        x, y = data.split(split)
        if channels == 3:
            x = np.repeat(x, 3, axis=1)
        else:  # ITU-R 601 luma, as PIL's convert("L")
            x = (x.astype(np.float32) * np.array([0.299, 0.587, 0.114])[:, None, None]).sum(1)
            x = np.round(x)[:, None].astype(np.uint8)
        out[split] = (np.ascontiguousarray(x), y)
    return Data(*out["train"], *out["val"], *out["test"], classes=data.classes)


def read_npz_images(path: Path) -> np.ndarray:
    """The images of an npz as uint8 (N, C, H, W): its `images` array, else `test_images`."""
    try:
        with np.load(path, allow_pickle=False) as f:
            key = next((k for k in ("images", "test_images") if k in f.files), None)
            if key is None:
                raise UserError(f"{path} has no `images` (or `test_images`) array to predict on")
            x = f[key]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise UserError(f"cannot read {path} as .npz ({e}); re-export it") from None
    return _to_nchw(x, f"{path}:{key}")
