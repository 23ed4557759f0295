import re
from urllib.parse import parse_qs, urlparse

from search.answer.names import (
    member_folder,
    search_folder,
    technique_label,
    tensorboard_url,
    trial_id_of,
)
from search.answer.rules import Member
from trainable.config import BASELINE, SEED_RECIPE


def test_a_folder_says_the_technique_in_the_findings_words():
    assert technique_label({"sampler": "oversample", "loss": "focal", "gamma": 2.0}) == (
        "oversample-focal"
    )
    # focal loss at gamma 0 and alpha 0.5 is plain cross-entropy; no sampler is natural sampling
    assert technique_label({"sampler": "none", "loss": "focal", "gamma": 0.0, "alpha": 0.5}) == (
        "natural-ce"
    )
    assert technique_label(SEED_RECIPE) == "oversample-weighted-ce"
    assert technique_label({"sampler": "smote", "loss": "ce"}) == "smote-ce"


def test_a_start_point_is_named_by_its_reference_and_a_draw_by_its_technique():
    points = {"baseline": {"loss": "focal", "gamma": 0.0, "alpha": 0.5, "sampler": "none"}}
    start = {**points["baseline"], "lr": 0.003, "seed": 0}  # Tune adds the budget and seed
    drawn = {"loss": "focal", "gamma": 2.5, "alpha": 0.5, "sampler": "none"}
    assert search_folder("a1b2c3d4", start, points) == "trial_a1b2c3d4_baseline"
    assert search_folder("a1b2c3d4", drawn, points) == "trial_a1b2c3d4_natural-focal"


def test_a_member_names_its_kind_and_the_trial_it_came_from():
    member = Member("trial_a1b2c3d4_natural-focal", {}, "new_seed")
    assert member_folder("e36a1_00000", member) == "trial_e36a1_00000_new-seed-of-a1b2c3d4"
    of_reference = Member("baseline", BASELINE, "full_run")  # trained on its own: by role
    assert member_folder("e36a1_00001", of_reference) == "trial_e36a1_00001_full-run-of-baseline"
    assert member_folder("e36a1_00002", None) == "trial_e36a1_00002"
    assert trial_id_of("trial_e36a1_00000_new-seed-of-a1b2c3d4") == "e36a1_00000"
    assert trial_id_of("trial_a1b2c3d4") == "a1b2c3d4"  # an experiment named before


def test_the_tensorboard_address_colours_exactly_the_runs_it_names():
    runs = ["trial_a1b2c3d4_baseline", "references/seed_recipe",
            "members/trial_e36a1_00000_new-seed-of-a1b2c3d4"]  # fmt: skip
    others = ["trial_ffff0000_natural-focal", "members_2/trial_e36a1_00001_full-run-of-ffff0000",
              "answer"]  # fmt: skip
    url = urlparse(tensorboard_url(runs))
    group = parse_qs(url.query)["runColorGroup"][0]
    assert group.startswith("regex:")
    # TensorBoard colours a run by the regex's capture: each named run its own, the rest grey
    regex = re.compile(group.removeprefix("regex:"))
    assert [regex.search(r).group(1) for r in runs] == runs
    assert not any(regex.search(r) for r in others)
