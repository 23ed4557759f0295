"""docs/asha.md's blocks hold the figures of benchmarks/results.json and efficiency.json, and
the settings its prose names are the code's."""

import json
import re
from pathlib import Path

from benchmarks import asha_page
from benchmarks.pages import render_blocks
from search.settings import default_epochs, default_eval_every, default_grace
from search.tune.asha import early_rungs

ROOT = Path(__file__).resolve().parents[2]


def block(name: str) -> str:
    text = (ROOT / asha_page.DOC).read_text()
    start = text.index(f"<!-- table {name} -->")
    return text[start : text.index("<!-- end -->", start)]


def test_the_page_matches_its_json(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert asha_page.main(["--check"]) == 0, capsys.readouterr().out


def test_thrift_totals_and_per_seed_spread_are_the_json_rounded(monkeypatch):
    monkeypatch.chdir(ROOT)
    thrift = json.loads(asha_page.RESULTS.read_text())["thrift"]
    row = next(line for line in block("thrift").splitlines() if line.startswith("| all seeds"))
    cells = [c.strip() for c in row.strip("|").split("|")][1:]
    random = {r["seed"]: r["best_val_balanced_accuracy"] for r in thrift["runs"]["random_full"]}
    for cell, (name, s) in zip(cells, thrift["summary"].items(), strict=True):
        assert cell.startswith(f"{s['epochs_trained']} ({s['epochs_ratio']:.2f}x)"), name
        assert f"mean {s['mean_best']:.4f}" in cell
        if name != "random_full":
            diffs = [r["best_val_balanced_accuracy"] - random[r["seed"]]
                     for r in thrift["runs"][name]]  # fmt: skip
            assert f"per seed {min(diffs):+.4f} to {max(diffs):+.4f}" in cell
    assert f"by {thrift['one_validation_image']:.4f}." in block("thrift")


def test_rung_rows_are_the_efficiency_rows(monkeypatch):
    monkeypatch.chdir(ROOT)
    shown = {}
    for line in block("rungs").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 2 and cells[1].isdigit():
            shown[cells[0], int(cells[1])] = (int(cells[2]), cells[-2])
    for round_, label in asha_page.RUNG_ROUNDS.items():
        rows = asha_page.efficiency_rows(round_, asha_page.RUNG_SETTING)
        assert rows
        for r in rows:
            assert shown[label, r["seed"]] == (r["wall_s"], r["provenance"]["commit"])


def test_a_figure_edited_by_hand_is_caught(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = asha_page.DOC.read_text()
    overhead = block("overhead")
    edited = text.replace(overhead, re.sub(r"\d\.\d", "9.9", overhead, count=1))
    assert edited != text
    assert render_blocks(edited, asha_page.TABLES) == text


def test_the_settings_the_prose_names_are_the_codes():
    prose = re.sub(r"\s+", " ", (ROOT / asha_page.DOC).read_text())
    assert default_epochs(4_708) == 10 and default_epochs(500) == 94
    assert default_grace(10) == 1 and default_grace(94) == 9
    assert all(default_eval_every(e) == default_grace(e) for e in (10, 94, 200))
    assert early_rungs(10, default_grace(10), 3) == [1, 3]
    assert early_rungs(94, default_grace(94), 3) == [9, 27]
    assert "epochs 1 and 3 of PneumoniaMNIST's default 10, epochs 9 and 27 of the 94" in prose
