"""What the command lines share: the data flags (`trainable.train`, `search.run`), which are
load_data's options, the --help format and the name usage lines give the command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from trainable.config import DEFAULT_PATIENT_PATTERN

# load_data's options a command line offers, by their keyword (and flag: --val-fraction).
DATA_OPTIONS = ("size", "channels", "val_fraction", "patient_pattern", "train_subsample")


def add_data_flags(p: argparse.ArgumentParser, default_data: str = "pneumoniamnist") -> None:
    """--data and load_data's options on `p` (a parser or one of its argument groups);
    `data_options(args)` reads the latter back."""
    p.add_argument(
        "--data",
        default=default_data,
        help="npz file, folder with train/<CLASS>/, a MedMNIST 2D set's name (pneumoniamnist, "
        "breastmnist, ...) or 'synthetic'",
    )
    p.add_argument(
        "--size",
        type=int,
        help="resize images to SIZE x SIZE on load (default: as stored; class folders 224)",
    )
    p.add_argument(
        "--channels",
        type=int,
        choices=(1, 3),
        help="1 = grayscale, 3 = RGB (default: as stored; class folders 1)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of train/ carved out as validation when a folder has no val/",
    )
    p.add_argument(
        "--patient-pattern",
        default=DEFAULT_PATIENT_PATTERN,
        help="regex whose first group is the patient id in a file name (the carve keeps a "
        "patient's images on one side)",
    )
    p.add_argument(
        "--train-subsample",
        type=int,
        metavar="N",
        help="keep N training images, stratified by class (learning curves, small-data "
        "checks) (default: all)",
    )


def data_options(source: Any) -> dict[str, Any]:
    """load_data's keyword options from parsed flags or from settings with the same names."""
    return {name: getattr(source, name) for name in DATA_OPTIONS}


class HelpWithDefaults(
    argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter
):
    """--help names each flag's default where it has one (not for None or a bare switch, and
    not twice where the help text already says it; 0 is a default like any other), and keeps
    the description's examples as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return text
        return super()._get_help_string(action)


def command_name(module: str, script: str) -> str:
    """What usage lines call the command: the installed script's name when that is what ran
    (`imbalance-search`), else `python -m MODULE`."""
    return script if Path(sys.argv[0]).name == script else f"python -m {module}"


def help_text(doc: str, module: str, script: str, paragraphs: int | None = None) -> str:
    """A module docstring as its command's --help description: its first `paragraphs`
    (None: all), the examples naming the command as the user ran it (`imbalance-predict`
    where that is what ran, else `python -m search.predict`)."""
    kept = "\n\n".join(doc.strip().split("\n\n")[:paragraphs])
    return kept.replace(f"python -m {module}", command_name(module, script))


class OneLineParser(argparse.ArgumentParser):
    """argparse whose refusals (an unknown option, a missing or bad value) are one `error:`
    line like every other refusal here; its own printed the whole usage block first."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")
