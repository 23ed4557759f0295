"""docs/calibration.md holds the figures of benchmarks/calibration.json, and its prose none."""

import json
import re

from benchmarks import calibration_page as page
from benchmarks.pages import BLOCK, render_blocks


def test_the_page_matches_its_json(capsys):
    assert page.main(["--check"]) == 0, capsys.readouterr().out


def test_the_prose_outside_the_blocks_quotes_no_figure():
    prose = BLOCK.sub("", page.DOC.read_text())
    assert set(re.findall(r"\d+\.\d+", prose)) <= {f"{page.ECE_GOAL}"}  # a goal, not a figure


def test_each_search_row_is_its_json_rounded_as_shown():
    searches = json.loads(page.FIGURES.read_text())["searches"]
    t = searches["pneumoniamnist-seed0"]["temperature"]
    expected = f"{t['val']['ece']:.3f} / {t['test']['ece']:.3f} ({t['test']['brier']:.3f})"
    line = next(x for x in page.searches_table().splitlines() if "shifted test, seed 0" in x)
    assert line.split(" | ")[2] == expected


def test_under_the_shift_only_the_temperature_is_no_worse_than_none_on_test():
    # what the page's prose and its choice rest on
    shifted = [r for n, r in json.loads(page.FIGURES.read_text())["searches"].items()
               if n.startswith("pneumoniamnist-seed")]  # fmt: skip
    for method, expected in (("temperature", True), ("platt", False), ("isotonic", False)):
        no_worse = [r[method]["test"]["ece"] <= r["none"]["test"]["ece"] for r in shifted]
        assert all(no_worse) if expected else not any(no_worse)
    line = next(x for x in page.summary_table().splitlines() if "shifted test | **temp" in x)
    assert line.split(" | ")[4] == f"{len(shifted)} of {len(shifted)}"


def test_the_uncommitted_record_says_so_beside_its_table():
    provenance = json.loads(page.FIGURES.read_text())["provenance"]
    assert provenance["uncommitted_changes"]
    assert page.searches_table().endswith(
        f"Figures: `benchmarks/calibration.json` (commit {provenance['commit']} with uncommitted "
        f"changes, {provenance['date']}, {provenance['cores']} CPU cores)."
    )


def test_a_figure_edited_by_hand_is_caught(tmp_path, monkeypatch):
    text = page.DOC.read_text()
    edited = text.replace("0.029", "0.028", 1)
    assert edited != text
    doc = tmp_path / "calibration.md"
    doc.write_text(edited)
    monkeypatch.setattr(page, "DOC", doc)
    assert page.main(["--check"]) == 1
    assert render_blocks(edited, page.TABLES) == text
