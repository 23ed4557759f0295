"""What a trained run is called: one folder name that the disk, the console, the leaderboard's
`trial_id`, Optuna's `folder` attribute and TensorBoard's run list all show.

    search_folder("a1b2c3d4", config, start_points)  # trial_a1b2c3d4_baseline (a start point)
                                                     # trial_a1b2c3d4_oversample-focal (a draw)
    member_folder("e36a1_00000", member)             # trial_e36a1_00000_new-seed-of-a1b2c3d4
    tensorboard_url(["trial_a1b2c3d4_baseline", ...])  # those runs coloured, the rest grey

A folder's name says what sets the run apart (its role, or its sampler and loss) after Tune's
id, which keeps names unique. Tune's own default packs every knob in; `trial_<id>` alone left a
reader of TensorBoard matching ids against the leaderboard by hand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from search.answer.findings import loss_word, sampler_word
from search.answer.rules import Member
from spaces.catalog import is_point

LOSS_SHORT = {
    "cross-entropy": "ce",
    "class-weighted cross-entropy": "weighted-ce",
    "focal loss": "focal",
}
SAMPLER_SHORT = {
    "natural sampling": "natural",
    "oversampling": "oversample",
    "undersampling": "undersample",
    "SMOTE": "smote",
    "SMOTE-Tomek": "smote-tomek",
}


def technique_label(config: dict) -> str:
    """The sampler and the loss as the findings name them, short: oversample-focal."""
    sampler, loss = sampler_word(config), loss_word(config)
    return f"{SAMPLER_SHORT.get(sampler, sampler)}-{LOSS_SHORT.get(loss, loss)}"


def start_point_role(config: dict, start_points: dict[str, dict]) -> str:
    """The reference a search trial's config is the start point of ("" for a drawn config)."""
    return next((role for role, point in start_points.items() if is_point(config, point)), "")


def trial_folder(trial_id: str, label: str = "") -> str:
    """Every run's folder: trial_<Tune's id>, then what sets it apart where anything does."""
    return f"trial_{trial_id}_{label}" if label else f"trial_{trial_id}"


def search_folder(trial_id: str, config: dict, start_points: dict[str, dict]) -> str:
    return trial_folder(trial_id, start_point_role(config, start_points) or technique_label(config))


def member_folder(trial_id: str, member: Member | None) -> str:
    """A member run: which kind (full-run, new-seed) of which search trial, by its id."""
    if member is None:
        return trial_folder(trial_id)
    kind = member.kind.replace("_", "-")
    return trial_folder(trial_id, f"{kind}-of-{trial_id_of(member.search_trial)}")


def trial_id_of(folder: str) -> str:
    """Tune's trial id in a folder name (trial_a1b2c3d4_baseline -> a1b2c3d4); a reference
    trained on its own is named by its role (baseline), which is returned as it is."""
    found = re.match(r"trial_([0-9a-f]+(?:_\d{5})?)", folder)
    return found.group(1) if found else folder


def tensorboard_url(runs: Sequence[str], port: int = 6006) -> str:
    """TensorBoard's address with `runs` (folder names, or paths below the logdir) each in a
    colour of their own and every other run grey: its palette holds seven colours, which a
    search of 12 trials and its members reuse, so the answer and the references shared colours
    with other runs. (TensorBoard's `runColorGroup=regex:` groups runs by the regex's capture.)"""
    regex = "(" + "|".join(re.escape(r) for r in runs) + ")"
    return f"http://localhost:{port}/?runColorGroup=regex:{quote(regex, safe='')}"
