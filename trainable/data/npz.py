"""An npz in MedMNIST's layout ({train,val,test}_{images,labels}, optional class_names) as
Data, never unpickled, every array's size checked before it is read; and predict's npz.

    data = load_npz(Path("pneumoniamnist.npz"))
    images = read_npz_images(Path("scans.npz"))       # `images`, else `test_images`
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from trainable.config import UserError
from trainable.data.arrays import SPLITS, Data, to_labels, to_nchw
from trainable.data.medmnist import medmnist_classes_for


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
        parts[split] = (to_nchw(x, f"{path}:{split}_images"), to_labels(y, f"{path}:{split}"))
    num = int(parts["train"][1].max(initial=0)) + 1  # train/ defines the classes
    if stored is not None:
        classes = _class_names(stored, num, path)
    if classes is None:
        known = medmnist_classes_for(path.name)
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
    return to_nchw(x, f"{path}:{key}")
