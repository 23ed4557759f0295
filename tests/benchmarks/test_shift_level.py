"""The shift test's measured false alarms, as the product quotes them, are the JSON's."""

import json
from pathlib import Path

from search.stats.adapt import FALSE_ALARMS, false_alarm_words

ROOT = Path(__file__).resolve().parents[2]


def test_the_quoted_false_alarms_are_the_committed_measurement():
    measured = json.loads((ROOT / "benchmarks" / "shift_level.json").read_text())
    for quoted, recorded in (
        ("validation_halves", "validation_halves"),
        ("held_out_training_images", "no_shift"),
    ):
        figures = measured[recorded]
        assert FALSE_ALARMS[quoted] == {
            "flagged": figures["flagged"],
            "targets": figures["targets"],
        }
        assert f"{figures['flagged']} of {figures['targets']}" in false_alarm_words()
