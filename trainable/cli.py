"""What both command lines (`trainable.train`, `search.run`) share: the data flags, which are
load_data's options, and the --help format."""

from __future__ import annotations

import argparse
from typing import Any

from trainable.config import DEFAULT_PATIENT_PATTERN

# load_data's options a command line offers, by their keyword (and flag: --val-fraction).
DATA_OPTIONS = ("size", "channels", "val_fraction", "patient_pattern", "train_subsample")


def add_data_flags(p: argparse.ArgumentParser, default_data: str = "pneumoniamnist") -> None:
    """--data and load_data's options; `data_options(args)` reads the latter back."""
    p.add_argument(
        "--data",
        default=default_data,
        help="npz file, folder with train/<CLASS>/, a MedMNIST 2D set's name (pneumoniamnist, "
        "breastmnist, ...) or 'synthetic'",
    )
    p.add_argument("--size", type=int, help="resize images to SIZE x SIZE on load")
    p.add_argument("--channels", type=int, choices=(1, 3), help="1 = grayscale, 3 = RGB")
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
        help="keep N training images, stratified by class (learning curves, small-data checks)",
    )


def data_options(source: Any) -> dict[str, Any]:
    """load_data's keyword options from parsed flags or from settings with the same names."""
    return {name: getattr(source, name) for name in DATA_OPTIONS}


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """--help names each flag's default where it has one (not for None or a bare switch, and
    not twice where the help text already says it)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False) or "default" in text:
            return text
        return super()._get_help_string(action)
