"""The one shape every source ends as, and the checks and transforms on it.

    data = Data(train_x, train_y, val_x, val_y, test_x, test_y, classes=["normal", "pneumonia"])
    check_data(data)                        # or UserError naming the fix
    x = resize_arrays(x, 64)                # uint8 (N, C, H, W), bilinear, antialiased

Images are uint8 (N, C, H, W) and labels int64 (N,) for train / val / test, plus class names:
small enough to live on the training device whole.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split

from trainable.config import UserError

SPLITS = ("train", "val", "test")


# Smallest side the models take: small_cnn pools twice, and the robustness battery blurs and
# pixelates; --size accepts the same floor.
MIN_IMAGE_SIZE = 8


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


def resize_all(data: Data, size: int | None) -> Data:
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


def set_channels(data: Data, channels: int | None) -> Data:
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


def to_nchw(x: np.ndarray, what: str) -> np.ndarray:
    if x.ndim == 3:  # (N, H, W) grayscale
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3):  # (N, H, W, C)
        x = x.transpose(0, 3, 1, 2)
    else:
        raise UserError(f"{what} has shape {x.shape}; expected (N, H, W) or (N, H, W, 1|3)")
    if x.dtype != np.uint8:
        x = as_uint8(x, what)
    return np.ascontiguousarray(x)


def as_uint8(x: np.ndarray, what: str) -> np.ndarray:
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


def to_labels(y: np.ndarray, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise UserError(
            f"{what} labels must be integers of shape (N,) or (N, 1); got "
            f"{y.dtype} {y.shape} (multi-label sets are not supported)"
        )
    return y.astype(np.int64)
