"""Apply a finished search's answer to new images: one CSV row per image.

    python -m search.predict results/NAME path/to/images/            # every image below it
    python -m search.predict results/NAME a.png b.jpeg --out scores.csv
    python -m search.predict results/NAME scans.npz                   # its images (or test_images)
    python -m search.predict results/NAME site/ --adapt               # and a cut fitted to them

Each row holds the image, each class's probability (the answer's mean of its members in logit space,
calibrated by the temperature fitted on validation: search.calibration), the decision at the
tuned cut and, for two classes, at each sensitivity level the report lists (the cut that first
reached it on validation). An image that cannot be read gets a row with the reason in `error`
and no scores. Images are prepared as training's were (search.json's `preprocessing`: channels,
size, and PIL's bilinear resize for class folders or torch's antialiased one for arrays).
The experiment may have been copied or moved: its models are found relative to it.

`--adapt` adds `decision_adapted`: the decision at a cut read off these images' own scores
when they differ from validation's beyond a change of class mix (search.adapt), the tuned cut
otherwise; <out>.adapt.json says which, with the test's p-value.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainable.errors import UserError
from trainable.files import printable

PROGRESS_EVERY = 500  # images between progress lines on stderr; more get a progress bar
DEFAULT_BATCH = 1024  # images scored at once by every member (as the report scores them)
# The smallest site the shift test was measured on (docs/adapted-cut.md); fewer are not measured.
MIN_SITE_IMAGES = 250


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
    from search.damage import check_json, damaged
    from search.layout import BEST, MANIFEST, SHAPE
    from trainable.checkpoint import CHECKPOINT_FILE, load_checkpoint
    from trainable.data import resize_method
    from trainable.inference import model_from_state

    best_file, manifest_file = experiment / BEST, experiment / MANIFEST
    for path in (best_file, manifest_file):
        if not path.exists():
            raise UserError(
                f"{path} not found: give the folder of a finished search (results/NAME)"
            )
    check_json(best_file, shape=("answer",))
    check_json(manifest_file, shape=SHAPE)
    best = json.loads(best_file.read_text())["answer"]
    manifest = json.loads(manifest_file.read_text())
    try:
        shape = manifest["data"]["image_shape"]  # (C, H, W)
        classes = list(manifest["data"]["classes"])
        prep = manifest.get("preprocessing") or {  # searches from before it was recorded
            "channels": shape[0],
            "size": shape[-1],
            "resize": resize_method(manifest["settings"]["data"]),
        }
        channels, size = int(prep["channels"]), int(prep["size"])
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise damaged(manifest_file, f"no {e} of the data it was trained on") from None
    members, threshold = best.get("members"), best.get("threshold", 0.5)
    if not (
        isinstance(members, list)
        and members
        and all(isinstance(m, dict) and isinstance(m.get("checkpoint"), str) for m in members)
        and (threshold is None or isinstance(threshold, (int, float)))
    ):
        raise damaged(best_file, "no members with checkpoints, or no cut")
    states = []
    for member in members:
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
        temperature=best.get("temperature", 1.0),  # 1.0: searches before calibration
        threshold=threshold,
        sensitivity_cuts=best.get("sensitivity_cuts", {}),
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

    from search.answer import average
    from search.calibration import scale
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


def prediction_rows(answer: Answer, names: list[str], probs: np.ndarray, errors: dict) -> list:
    """One dict per image: its probabilities and decisions, or its error."""
    rows, scored = [], iter(probs)
    for name in names:
        row: dict = {"image": printable(name)}  # a name that is not UTF-8, escaped
        if name in errors:
            rows.append(row | {"error": printable(errors[name])})
            continue
        p = next(scored)
        row |= {f"p_{c}": float(v) for c, v in zip(answer.classes, p, strict=True)}
        if answer.threshold is None:
            row["decision"] = answer.classes[int(p.argmax())]
        else:
            row["decision"] = answer.classes[int(p[1] >= answer.threshold)]
            row["cut"] = answer.threshold
            for level, cut in answer.sensitivity_cuts.items():
                row[f"decision_at_sensitivity_{level}"] = answer.classes[int(p[1] >= cut)]
        rows.append(row | {"error": ""})
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    """Atomically: the image, its scores and decisions, then `error` (empty when read); no
    temporary file is left behind when the write fails."""
    columns = [*dict.fromkeys(k for row in rows for k in row if k != "error"), "error"]
    tmp = path.with_name(f".{path.name}.tmp")  # scores.tmp may be the user's own file
    try:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(path)
    except OSError as e:
        with contextlib.suppress(OSError):  # a read-only folder refuses this too
            tmp.unlink(missing_ok=True)
        raise UserError(
            f"cannot write {path} ({e.strerror or e}); free space or fix permissions"
        ) from None


def check_out(
    out: Path,
    suffixes: tuple[str, ...],
    experiment: Path,
    inputs: Sequence[Path] = (),
    owned: tuple[str, ...] = (),
) -> None:
    """--out, before any work: a file name of the kind written (`suffixes`), in a folder that
    exists, that is not an input image nor a file of the experiment (bar the names in
    `owned`, what an earlier run of the same command wrote there)."""
    kind = " or ".join(suffixes)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name ending in {kind}")
    if out.suffix.lower() not in suffixes:
        raise UserError(f"--out {out} must end in {kind}, the kind of file written")
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: its folder {out.parent} does not exist; create it first")
    target = out.resolve()
    given = {p.resolve() for p in inputs if p.is_file()}
    for folder in (p for p in inputs if p.is_dir()):
        try:
            given |= {p.resolve() for p in image_files([folder])[0]}
        except UserError:
            pass  # a folder without images: refused, and said so, when it is read
    if target in given:
        raise UserError(f"--out {out} is one of the input images; choose another name")
    inside = experiment.resolve() in target.parents
    if inside and target.exists() and target.name not in owned:
        raise UserError(
            f"--out {out} would overwrite a file of the experiment {experiment}; choose another"
        )


def main(argv: list[str] | None = None) -> int:
    from trainable.cli import HelpWithDefaults, OneLineParser, command_name, help_text

    p = OneLineParser(
        prog=command_name("search.predict", "imbalance-predict"),
        description=help_text(__doc__, "search.predict", "imbalance-predict"),
        formatter_class=HelpWithDefaults,
    )
    p.add_argument("experiment", type=Path, help="a finished search's folder (results/NAME)")
    p.add_argument("images", type=Path, nargs="+", help="image files, folders or an .npz")
    p.add_argument("--out", type=Path, default=Path("predictions.csv"), help="the CSV written")
    p.add_argument(
        "--adapt",
        action="store_true",
        help="also decide at a cut moved to these images' own scores when they show a shift "
        f"from validation (search.adapt; two classes, at least {MIN_SITE_IMAGES} images)",
    )
    p.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where the members run; auto: a GPU when there is one",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        help="images scored at once",
    )
    args = p.parse_args(argv)
    try:
        check_out(args.out, (".csv",), args.experiment, args.images)
        if args.adapt:
            check_adapt(args.experiment, args.images)  # before any image is scored
            check_out(args.out.with_suffix(".adapt.json"), (".json",), args.experiment)
        answer = load_answer(args.experiment)
        names, images, errors = read_inputs(answer, args.images)
        probs = answer_probabilities(answer, images, args.device, args.batch_size)
        rows = prediction_rows(answer, names, probs, errors)
        if args.adapt:
            from trainable.files import write_json

            reason = adapt_rows(answer, args.experiment, probs, rows)
            write_json(args.out.with_suffix(".adapt.json"), reason)
        write_csv(args.out, rows)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the CSV is written whole at the end, or not at all
        print(f"interrupted; {args.out} is as it was: run the same command again", file=sys.stderr)
        return 130
    print(f"{len(rows) - len(errors)} images scored, {len(errors)} unreadable -> {args.out}")
    if args.adapt:
        print(reason["says"])
    return 0


def check_adapt(experiment: Path, inputs: list[Path]) -> None:
    """--adapt's refusals that need no model: more than two classes, a search from before
    --adapt, fewer image files than a shift can be read off (an npz counts its images)."""
    from search.layout import VAL_SCORES

    best = experiment / "best.json"
    if best.exists():
        try:
            threshold = json.loads(best.read_text())["answer"]["threshold"]
        except (ValueError, KeyError, TypeError):
            return  # load_answer names what is wrong with it
        if threshold is None:
            raise UserError("--adapt moves a two-class answer's cut; this answer has more classes")
        if not (experiment / VAL_SCORES).exists():
            raise UserError(
                f"{experiment / VAL_SCORES} is missing (searches before --adapt lack it); "
                "leave out --adapt"
            )
        read_val_scores(experiment / VAL_SCORES)
    files = image_files(inputs)[0]
    if any(f.suffix.lower() == ".npz" for f in files):
        return  # counted once read
    if len(files) < MIN_SITE_IMAGES:
        raise UserError(
            f"--adapt needs at least {MIN_SITE_IMAGES} images to read a shift off their scores; "
            f"got {len(files)} (leave out --adapt, or give more images)"
        )


def read_val_scores(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The answer's calibrated validation scores and labels (the report's npz)."""
    try:
        with np.load(path) as f:
            return f["scores"], f["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        from search.damage import damaged

        raise damaged(path, f"not the validation scores: {type(e).__name__}") from None


def adapt_rows(answer: Answer, experiment: Path, probs: np.ndarray, rows: list[dict]) -> dict:
    """Add `decision_adapted` to each scored row (search.adapt) and return why, in words and
    figures, for <out>.adapt.json."""
    from search.adapt import adapted_cut, false_alarm_words
    from search.layout import VAL_SCORES

    if answer.threshold is None:
        raise UserError("--adapt moves a two-class answer's cut; this answer has more classes")
    if len(probs) < MIN_SITE_IMAGES:
        raise UserError(
            f"--adapt needs at least {MIN_SITE_IMAGES} readable images to read a shift off "
            f"their scores; got {len(probs)} (leave out --adapt, or give more images)"
        )
    path = experiment / VAL_SCORES
    if not path.exists():
        raise UserError(f"{path} is missing (searches before --adapt lack it); leave out --adapt")
    val, val_y = read_val_scores(path)
    decision = adapted_cut(val, val_y, answer.threshold, probs[:, 1])
    scored = (row for row in rows if not row["error"])
    for row, p in zip(scored, probs[:, 1], strict=True):
        row["decision_adapted"] = answer.classes[int(p >= decision.cut)]
    if decision.shifted:
        says = (
            f"adapt: these images' scores differ from validation's beyond a change of class mix "
            f"(p {decision.p_value:.3g}; at that threshold {false_alarm_words()}); "
            f"decision_adapted cuts "
            f"at {decision.cut:.4f}, "
            f"read off their own scores, instead of {answer.threshold:.4f}"
        )
    else:
        says = (
            f"adapt: no shift from validation found (p {decision.p_value:.3g}); decision_adapted "
            f"keeps the tuned cut {answer.threshold:.4f}"
        )
    return {
        "says": says,
        "shift_p_value": decision.p_value,
        "shifted": decision.shifted,
        "cut": decision.cut,
        "tuned_cut": answer.threshold,
        "images": len(probs),
    }


if __name__ == "__main__":
    sys.exit(main())
