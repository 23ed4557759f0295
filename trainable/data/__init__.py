"""From disk to three uint8 arrays: load a data set once; `data.describe()` gives its class
balance.

    from trainable.data import load_data
    data = load_data("../shared/data/pneumoniamnist/pneumoniamnist.npz")   # MedMNIST npz
    data = load_data("../shared/data/chest_xray", size=64)                  # Kermany folders
    data = load_data("pneumoniamnist", size=28)                             # download + md5
    data = load_data("breastmnist", size=64)                                # any 2D MedMNIST set
    data = load_data("synthetic")                                           # smoke tests only
    data = load_data("pneumoniamnist", train_subsample=500)                 # learning curves

Every source ends as the same `Data` (arrays): images `uint8 (N, C, H, W)` and labels
`int64 (N,)` for train / val / test, plus class names. Small enough to live on the training
device whole, which is what lets the training loop batch, sample and augment as tensors.
One module per source: npz (MedMNIST's layout), medmnist (a set by name, downloaded and
md5-checked), folders (train/<CLASS>/ images, decoded once and cached by every file's path,
size and mtime), synthetic (smoke tests). A folder without a usable `val/` gets a validation
split carved out of `train/` (carve), stratified by class and grouped by patient (ids parsed
from file names), so no patient sits on both sides.
"""

from __future__ import annotations

import os
from pathlib import Path

from trainable.config import DEFAULT_PATIENT_PATTERN, UserError
from trainable.data.arrays import (
    MIN_IMAGE_SIZE,
    SPLITS,
    Data,
    check_data,
    resize_all,
    resize_arrays,
    set_channels,
    subsample_train,
)
from trainable.data.carve import carve_validation, patient_ids
from trainable.data.folders import (
    RESIZE_ARRAYS,
    RESIZE_BY_PIL,
    load_folder,
    read_image,
    resize_method,
)
from trainable.data.medmnist import (
    default_cache_dir,
    fetch_medmnist,
    file_md5,
    medmnist_classes,
    medmnist_sets,
)
from trainable.data.npz import load_npz, read_npz_images
from trainable.data.synthetic import make_synthetic

__all__ = [
    "MIN_IMAGE_SIZE", "RESIZE_ARRAYS", "RESIZE_BY_PIL", "SPLITS", "Data", "carve_validation",
    "check_data", "default_cache_dir", "fetch_medmnist", "file_md5", "load_data", "load_folder",
    "load_npz", "make_synthetic", "medmnist_classes", "medmnist_sets", "patient_ids",
    "read_image", "read_npz_images", "resize_arrays", "resize_method", "subsample_train",
]  # fmt: skip


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
    data = resize_all(data, size)
    data = set_channels(data, channels)
    if train_subsample is not None:
        data = subsample_train(data, train_subsample, seed)
    check_data(data)
    return data
