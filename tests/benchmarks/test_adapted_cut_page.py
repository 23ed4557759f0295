"""docs/adapted-cut.md's blocks are the committed JSON's figures, rounded as shown."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks import adapted_cut_page as page
from search.stats.adapt import FALSE_ALARMS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def load(name: str) -> dict:
    return json.loads((ROOT / "benchmarks" / name).read_text())


def row(block: str, *cells: str) -> list[str]:
    """The cells of the one table row whose first cells are `cells`."""
    found = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in block.splitlines()
        if line.startswith("| " + " | ".join(cells) + " |")
    ]
    assert len(found) == 1, (cells, found)
    return found[0]


def test_the_page_matches_its_json(capsys):
    assert page.main(["--check"]) == 0, capsys.readouterr().out


def test_a_figure_edited_by_hand_is_caught(tmp_path, monkeypatch):
    text = page.DOC.read_text()
    block = text[text.index("<!-- table references -->") :]
    figure = re.search(r"\| (0\.\d{4}) \|", block).group(1)
    edited = text.replace(f"| {figure} |", f"| {float(figure) - 0.0001:.4f} |", 1)
    assert edited != text
    doc = tmp_path / "adapted-cut.md"
    doc.write_text(edited)
    monkeypatch.setattr(page, "DOC", doc)
    assert page.main(["--check"]) == 1
    assert page.main([]) == 0 and doc.read_text() == text  # rendering puts the figure back


def test_adapted_references_and_the_adapted_answer_are_the_jsons():
    block = page.references_table()
    fidelity = {Path(d).name: m for d, m in load("target_cut_fidelity.json")["draws"].items()}
    groups = {
        (g["setting"], g["answer"], g["target"]): g
        for name in ("answer_cut.json", "answer_cut_pneumoniamnist_iid.json")
        for g in load(name)["groups"]
    }
    wins = 0
    for setting in page.SETTINGS:
        g = groups[(setting, "mean of logits", "test as shipped")]
        answer = g["val"] + g["rules"]["logit mixture"]["mean"]
        cells = row(block, setting, f"**answer** (mean over {g['n']} searches)")
        assert cells[2:4] == [f"{g['val']:.4f}", f"**{answer:.4f}**"]
        for name, words in page.REFERENCES.items():
            if name not in fidelity[setting]:
                continue
            r = fidelity[setting][name]["test"]
            cells = row(block, setting, f"{words} (one model)")
            assert cells[2:4] == [f"{r['val']:.4f}", f"{r['mixture_detected']:.4f}"]
            wins += r["mixture_detected"] > answer
    # the JSON has adapted references above the adapted answer, and the page says so
    assert wins > 0
    assert f"a reference beat the adapted answer in {wins} of" in block
    r = fidelity["pneumoniamnist"]["seed_recipe"]["test"]
    g = groups[("pneumoniamnist", "mean of logits", "test as shipped")]
    gap = r["mixture_detected"] - (g["val"] + g["rules"]["logit mixture"]["mean"])
    verb = "**wins**" if gap > 0 else "does not win"
    assert f"the seed recipe {verb} ({r['mixture_detected']:.4f} adapted, {gap:+.4f}" in block


def test_the_default_searches_references_come_from_the_same_searches():
    block = page.searches_table()
    searches = load("target_cut.json")["searches"]
    rows = load("efficiency.json")["searches"]
    for name, record in searches.items():
        setting, seed = name.rsplit("-seed", 1)
        test = record["test"]
        same = [
            r
            for r in rows
            if (r["setting"], r["seed"], r["answer_test"]) == (setting, int(seed), test["val"])
        ]
        cells = row(block, setting, seed)
        assert cells[2] == f"{test['val']:.4f}"
        assert cells[3].startswith(f"{test['detected_corrected']:.4f} ")
        assert cells[5:7] == [
            f"{same[0]['baseline_test']:.4f}",
            f"{same[0]['seed_recipe_test']:.4f}",
        ]
    adapted = [
        r["test"]["detected_corrected"]
        for n, r in searches.items()
        if n.startswith("pneumoniamnist-")
    ]
    mean = row(block, "pneumoniamnist", "mean (min-max)")[3]
    assert mean == f"{np.mean(adapted):.4f} ({min(adapted):.4f}-{max(adapted):.4f})"


def test_corrupted_pairs_adapted_are_those_the_test_flagged():
    block = page.corrupt_table()
    searches = load("target_cut_corrupt.json")["searches"]
    pairs = [
        r
        for name, s in searches.items()
        if name.startswith("small500_iid-")
        for r in s["5"].values()
    ]
    flagged = sum(r["corrected_p"] < 0.01 for r in pairs)
    assert row(block, "small500_iid", "5")[2] == f"{flagged} of {len(pairs)}"


def test_the_level_block_quotes_what_the_product_quotes():
    block = page.level_table()
    for quoted, words in (
        ("validation_halves", "one half of validation"),
        ("held_out_training_images", "images held out"),
    ):
        line = next(x for x in block.splitlines() if x.startswith(f"| {words}"))
        figures = FALSE_ALARMS[quoted]
        assert re.search(rf"\| {figures['targets']} \| {figures['flagged']} \|", line), line
