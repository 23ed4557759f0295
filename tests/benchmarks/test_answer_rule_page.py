"""docs/answer-rule.md holds the figures of its committed JSON, and its prose quotes none."""

import json
import re

import numpy as np

from benchmarks import answer_rule_page as page
from benchmarks.pages import BLOCK, render_blocks

SETTINGS_NAMED = {"0.5"}  # decimals the prose may name: a cut, not a measurement


def row(table: str, label: str) -> list[str]:
    line = next(line for line in table.splitlines() if label in line)
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_page_matches_its_json(capsys):
    assert page.main(["--check"]) == 0, capsys.readouterr().out


def test_the_prose_outside_the_blocks_quotes_no_figure():
    prose = BLOCK.sub("", page.DOC.read_text())
    assert set(re.findall(r"\d+\.\d+", prose)) <= SETTINGS_NAMED


def test_the_products_rule_is_the_jsons_mean_over_seeds_and_above_the_better_reference():
    searches = json.loads(page.RULES.read_text())["searches"]
    shifted = [r for name, r in searches.items() if name.startswith("pneumoniamnist-seed")]
    test = [r["good full-budget"]["test"] for r in shifted]
    val = np.mean([r["good full-budget"]["val"] for r in shifted])
    cells = row(page.rules_table(), "(the product)")
    assert cells[1] == (
        f"{val:.4f} / {np.mean(test):.4f} ({min(test):.4f} to {max(test):.4f}); 3/3"
    )
    better = max(np.mean([r[ref]["test"] for r in shifted]) for ref in page.REFERENCES)
    assert np.mean(test) >= better  # what the page's prose says of the shifted setting
    assert cells[-1] == "3 of 3"


def test_under_the_shift_the_mean_beats_the_single_best_trial_on_every_setting_draw():
    draws = [d for k, d in json.loads(page.FIDELITY.read_text()).items() if "_iid" not in k]
    gains = [
        d["procedures"][page.TOP5]["mean"] - d["procedures"][page.SINGLE]["mean"] for d in draws
    ]
    assert min(gains) > 0
    line = next(x for x in page.fidelity_table().splitlines() if x.startswith("- shifted test"))
    assert line.startswith(f"- shifted test: {np.mean(gains):+.3f} ({min(gains):+.3f} to")


def test_a_plan_of_three_moved_validation_by_less_than_one_image_on_average():
    sizes = json.loads(page.EFFICIENCY.read_text())["answer_sizes"]
    moved = np.mean([s["5"]["val"] - s["3"]["val"] for s in sizes.values()])
    assert abs(moved) < 1 / (2 * 135)  # one image of the 135 normal validation images
    assert row(page.sizes_table(), "| all |")[2].startswith(f"{moved:+.4f} (")


def test_each_record_says_beside_its_table_whether_it_had_uncommitted_changes():
    p = json.loads(page.ANSWER_CUTS[0].read_text())["provenance"]
    assert p["uncommitted_changes"]
    assert (
        f"`benchmarks/{page.ANSWER_CUTS[0].name}` (commit {p['commit']} with uncommitted "
        f"changes, {p['date']}, {p['cores']} CPU cores)"
    ) in page.logits_table()
    clean = json.loads(page.RULES.read_text())["provenance"]
    assert not clean["uncommitted_changes"]
    rules = page.rules_table().splitlines()[-1]
    assert rules == (
        f"Figures: `benchmarks/answer_rules.json` (commit {clean['commit']}, {clean['date']}, "
        f"{clean['cores']} CPU cores)."
    )


def test_the_product_rows_name_the_seeds_recorded_with_uncommitted_changes():
    rows = page.ordered_rows()
    dirty = [f"seed {r['seed']}" for r in rows if r["provenance"]["uncommitted_changes"]]
    assert dirty  # the committed rows have some; the page must name them
    assert f"; {', '.join(dirty)} with uncommitted changes;" in page.product_table()


def test_a_figure_edited_by_hand_is_caught(tmp_path, monkeypatch):
    text = page.DOC.read_text()
    edited = text.replace("0.8838", "0.8839", 1)
    assert edited != text
    doc = tmp_path / "answer-rule.md"
    doc.write_text(edited)
    monkeypatch.setattr(page, "DOC", doc)
    assert page.main(["--check"]) == 1
    assert render_blocks(edited, page.TABLES) == text  # rendering puts the JSON's figure back
