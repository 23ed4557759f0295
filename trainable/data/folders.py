"""Class folders (Kaggle / Kermany layout: train/<CLASS>/*.jpeg, optional val/ and test/) as
Data, decoded once and cached; and one image file decoded as training's were (predict).

    data = load_folder(Path("chest_xray"), size=64, channels=1, val_fraction=0.1,
                       patient_pattern=DEFAULT_PATIENT_PATTERN, seed=0, cache=cache)
    x = read_image(Path("a.jpeg"), 64, 1, resize_method("chest_xray"))   # uint8 (1, 64, 64)

A val/ folder too small to choose models on is pooled with train/ and a validation split
carved by patient (trainable.data.carve). Decoded images are cached as .npy, keyed by every
file's path, size and mtime and the target size, so the second run skips decoding.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from trainable.config import UserError
from trainable.data.arrays import SPLITS, Data, resize_arrays
from trainable.data.carve import carve_validation, patient_ids
from trainable.files import IMAGE_SUFFIXES, find_images, printable, replacing

# A val/ folder with fewer images than this per class (Kaggle ships 8) is merged into train/.
MIN_VAL_PER_CLASS = 25


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
