"""Apply a finished search's answer to new images: one CSV row per image.

    python -m search.predict results/NAME path/to/images/            # every image below it
    python -m search.predict results/NAME a.png b.jpeg --out scores.csv
    python -m search.predict results/NAME scans.npz                   # its images (or test_images)
    python -m search.predict results/NAME site/ --adapt               # and a cut fitted to them

Each row holds the image, each class's probability (the answer's mean of its members in logit space,
calibrated by the temperature fitted on validation: search.stats.calibration), the decision at the
tuned cut and, for two classes, at each sensitivity level the report lists (the cut that first
reached it on validation). An image that cannot be read gets a row with the reason in `error`
and no scores. Images are prepared as training's were (search.json's `preprocessing`: channels,
size, and PIL's bilinear resize for class folders or torch's antialiased one for arrays).
The experiment may have been copied or moved: its models are found relative to it.

`--adapt` adds `decision_adapted`: the decision at a cut read off these images' own scores
when they differ from validation's beyond a change of class mix (search.stats.adapt), the tuned cut
otherwise; <out>.adapt.json says which, with the test's p-value.
"""

from __future__ import annotations

import csv
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from search.deploy.answer import (
    DEFAULT_BATCH,
    Answer,
    answer_probabilities,
    image_files,
    load_answer,
    read_inputs,
)
from search.experiment.formats import read_best, write_record
from search.experiment.layout import BEST, VAL_SCORES
from trainable.errors import UserError
from trainable.files import printable, replacing

# The smallest site the shift test was measured on (docs/adapted-cut.md); fewer are not measured.
MIN_SITE_IMAGES = 250


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
    try:
        with replacing(path) as tmp, tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows(rows)
    except OSError as e:
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
        f"from validation (search.stats.adapt; two classes, at least {MIN_SITE_IMAGES} images)",
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
            reason = adapt_rows(answer, args.experiment, probs, rows)
            write_record(args.out.with_suffix(".adapt.json"), reason)
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
    if (experiment / BEST).exists():
        try:
            threshold = read_best(experiment).threshold
        except UserError:
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
        from search.experiment.damage import damaged

        raise damaged(path, f"not the validation scores: {type(e).__name__}") from None


def adapt_rows(answer: Answer, experiment: Path, probs: np.ndarray, rows: list[dict]) -> dict:
    """Add `decision_adapted` to each scored row (search.stats.adapt) and return why, in words and
    figures, for <out>.adapt.json."""
    from search.stats.adapt import adapted_cut, false_alarm_words, p_words

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
            f"({p_words(decision.p_value)}; at that threshold {false_alarm_words()}); "
            f"decision_adapted cuts "
            f"at {decision.cut:.4f}, "
            f"read off their own scores, instead of {answer.threshold:.4f}"
        )
    else:
        says = (
            f"adapt: no shift from validation found ({p_words(decision.p_value)}); "
            f"decision_adapted keeps the tuned cut {answer.threshold:.4f}"
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
