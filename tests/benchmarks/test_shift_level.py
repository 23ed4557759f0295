"""The shift test's measured false alarms, as the product quotes them, are the JSON's."""

import json
from pathlib import Path

from search.adapt import FALSE_ALARMS, false_alarm_words

ROOT = Path(__file__).resolve().parents[2]


def test_the_quoted_false_alarms_are_the_committed_measurement():
    measured = json.loads((ROOT / "benchmarks" / "shift_level.json").read_text())
    halves = measured["validation_halves"]
    assert FALSE_ALARMS == {"flagged": halves["flagged"], "targets": halves["targets"]}
    assert f"{halves['flagged']} of {halves['targets']} validation halves" in false_alarm_words()
