"""A finished search's answer as a library: load it once, score images.

    from search.deploy.answer import load_answer
    answer = load_answer(Path("results/NAME"))
    probs = answer.predict_proba(["a.png", "b.jpeg"])   # or uint8 (N, C, H, W) images
    labels = answer.predict(probs)                      # class names at the tuned cut

The probabilities are the report's: the members' mean in logit space, calibrated by the
temperature fitted on validation (search.stats.calibration). Files are read and resized as
training's were (search.json's `preprocessing`). Neither Ray nor Optuna is imported (torch,
numpy, scipy and scikit-learn are), and torch only once a model is loaded.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainable.errors import UserError

PROGRESS_EVERY = 500  # images between progress lines on stderr; more get a progress bar
DEFAULT_BATCH = 1024  # images scored at once by every member (as the report scores them)


@dataclass(frozen=True)
class Answer:
    """What predicting needs from a finished search, read once; a library call as well:

    answer = load_answer(Path("results/NAME"))
    probs = answer.predict_proba(["a.png", "b.jpeg"])   # or uint8 (N, C, H, W) images
    labels = answer.predict(probs)                      # class names at the tuned cut
    """

    states: list[dict]  # the members' checkpoints (weights, config, normalisation)
    temperature: float
    threshold: float | None  # on the calibrated positive-class probability; None for > 2 classes
    sensitivity_cuts: dict[str, float]  # level -> cut, chosen on validation
    classes: list[str]
    channels: int
    size: int
    resize: str

    def predict_proba(
        self,
        images: np.ndarray | Sequence[str | Path],
        device: str = "auto",
        batch_size: int = DEFAULT_BATCH,
    ) -> np.ndarray:
        """Calibrated class probabilities (N, K), the report's: of uint8 images (N, C, H, W)
        already at the answer's size, or of image files (and .npz), read and resized as
        training's were. A file that cannot be read is a UserError naming it."""
        if not isinstance(images, np.ndarray):
            names, images, errors = read_inputs(self, [Path(p) for p in images])
            if errors:
                name, reason = next(iter(errors.items()))
                raise UserError(f"{len(errors)} of {len(names)} images unreadable: {reason}")
        return answer_probabilities(self, self.checked(images), device, batch_size)

    def checked(self, images: np.ndarray) -> np.ndarray:
        """`images` as the members take them, (N, C, H, W) uint8 at the answer's size; (N, H, W)
        gains its channel. Anything else is a UserError: float images in 0..1 (torchvision's
        habit) scored as near-black gave confident, wrong probabilities, and another size was
        scored as it was, unlike a file, which is resized."""
        if images.ndim == 3 and self.channels == 1:
            images = images[:, None]
        want = (self.channels, self.size, self.size)
        if images.ndim != 4 or tuple(images.shape[1:]) != want:
            raise UserError(
                f"images of shape {tuple(images.shape)}; this answer takes (N, {want[0]}, "
                f"{want[1]}, {want[2]}): resize them as training's were, or pass the files"
            )
        if images.dtype != np.uint8:
            raise UserError(
                f"images are {images.dtype}; this answer takes uint8 pixels 0..255 (float "
                "images in 0..1: multiply by 255, round, convert), or pass the files"
            )
        return images

    def predict(self, probs: np.ndarray) -> list[str]:
        """Each image's class at the cut tuned on validation (two classes), else the most
        probable class."""
        if self.threshold is None:
            return [self.classes[int(i)] for i in probs.argmax(1)]
        return [self.classes[int(p >= self.threshold)] for p in probs[:, 1]]


def load_answer(experiment: Path) -> Answer:
    """The answer of the search in `experiment` (its best.json, search.json and members),
    checked as --resume checks what it reads: each file parses and has the fields read here,
    each member loads `weights_only` into the model its config names; a damaged one is a
    UserError naming the file."""
    from search.experiment.damage import damaged
    from search.experiment.formats import read_best, read_manifest
    from search.experiment.layout import MANIFEST
    from trainable.checkpoint import CHECKPOINT_FILE, load_checkpoint
    from trainable.data import resize_method
    from trainable.inference import model_from_state

    best = read_best(experiment)
    manifest = read_manifest(experiment)
    if manifest is None:
        raise UserError(
            f"{experiment / MANIFEST} not found: give the folder of a finished search "
            "(results/NAME)"
        )
    try:
        shape = manifest.data["image_shape"]  # (C, H, W)
        classes = list(manifest.data["classes"])
        prep = manifest.preprocessing or {  # searches from before it was recorded
            "channels": shape[0],
            "size": shape[-1],
            "resize": resize_method(manifest.settings["data"]),
        }
        channels, size = int(prep["channels"]), int(prep["size"])
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise damaged(experiment / MANIFEST, f"no {e} of the data it was trained on") from None
    states = []
    for member in best.members:
        path = experiment / member["checkpoint"] / CHECKPOINT_FILE
        if not path.exists():
            raise UserError(
                f"the answer's model {path} is missing; copy the whole experiment folder "
                "(its trial and members/ folders hold the models)"
            )
        try:
            state = load_checkpoint(path)
            model_from_state(state, channels, len(classes), size, torch_cpu())
            if not {"pixel_mean", "pixel_std"} <= set(state):  # what prediction reads
                raise KeyError("pixel_mean")
        except (UserError, KeyError, TypeError, RuntimeError, ValueError) as e:
            why = str(e).split(" (")[0] if isinstance(e, UserError) else f"{type(e).__name__}"
            raise damaged(path, f"not one of this answer's models: {why}") from None
        states.append(state)
    return Answer(
        states=states,
        temperature=best.temperature,
        threshold=best.threshold,
        sensitivity_cuts=best.sensitivity_cuts,
        classes=classes,
        channels=channels,
        size=size,
        resize=prep["resize"],
    )


def torch_cpu():
    import torch

    return torch.device("cpu")


def answer_probabilities(
    answer: Answer, images: np.ndarray, device: str = "auto", batch_size: int = DEFAULT_BATCH
) -> np.ndarray:
    """Calibrated class probabilities (N, K) of uint8 images (N, C, H, W): the members'
    mean, as the report scores the answer; `batch_size` images at a time on `device`, with a
    progress bar on stderr past PROGRESS_EVERY images."""
    from tqdm import tqdm

    from search.answer.rules import average
    from search.stats.calibration import scale
    from trainable.inference import model_from_state, predict
    from trainable.models import pick_device

    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1; got {batch_size}")
    if not len(images):
        return np.zeros((0, len(answer.classes)))
    where = pick_device(device)
    models = [
        model_from_state(state, answer.channels, len(answer.classes), answer.size, where)
        for state in answer.states
    ]
    chunks = []
    # None is tqdm's own test: a bar on a terminal only (in a log its last line came twice)
    disable = True if len(images) <= PROGRESS_EVERY else None
    with tqdm(total=len(images), unit="image", disable=disable, delay=2, file=sys.stderr) as bar:
        for i in range(0, len(images), batch_size):
            batch = images[i : i + batch_size]
            probs = [
                predict(
                    model, batch, state["pixel_mean"], state["pixel_std"], where, None, batch_size
                )[0]  # fmt: skip
                for model, state in zip(models, answer.states, strict=True)
            ]
            chunks.append(scale(average(probs), answer.temperature))
            bar.update(len(batch))
    return np.concatenate(chunks)


def image_files(inputs: list[Path]) -> tuple[list[Path], dict[Path, str]]:
    """The image files among `inputs`, folders searched recursively, in a stable order, and
    the folders that could not be read, with the reason (each becomes an error row)."""
    from trainable.files import IMAGE_SUFFIXES, find_images

    files, unreadable = [], {}
    for path in inputs:
        if path.is_dir():
            found, skipped = find_images(path)
            if not found and not skipped:
                raise UserError(f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            files += found
            unreadable |= skipped
        elif path.exists():
            files.append(path)
        else:
            raise UserError(f"{path} not found; give image files, folders of them or an .npz")
    return files, unreadable


def read_inputs(answer: Answer, inputs: list[Path]) -> tuple[list[str], np.ndarray, dict]:
    """Each input image's name, the readable ones as one uint8 array (in order) and
    {name: reason} for those that could not be read."""
    from trainable.data import read_image, read_npz_images, resize_arrays

    names, images, errors = [], [], {}
    files, unreadable = image_files(inputs)
    for folder, why in unreadable.items():  # accounted for: a row each, counted unreadable
        names.append(str(folder))
        errors[str(folder)] = f"cannot be read ({why}); not scored"
    for i, path in enumerate(files, start=1):
        if path.suffix.lower() == ".npz":
            x = read_npz_images(path)
            if x.shape[1] != answer.channels:
                raise UserError(
                    f"{path} has {x.shape[1]}-channel images; the answer was trained on "
                    f"{answer.channels}-channel ones"
                )
            names += [f"{path}#{j}" for j in range(len(x))]
            images += list(resize_arrays(x, answer.size))
            continue
        names.append(str(path))
        try:
            images.append(read_image(path, answer.size, answer.channels, answer.resize))
        except UserError as e:
            errors[str(path)] = str(e)
        if len(files) > PROGRESS_EVERY and i % PROGRESS_EVERY == 0:
            print(f"read {i}/{len(files)} images", file=sys.stderr, flush=True)
    shape = (0, answer.channels, answer.size, answer.size)
    return names, np.stack(images) if images else np.zeros(shape, np.uint8), errors
