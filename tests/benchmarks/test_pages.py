"""benchmarks/pages.py's shared pieces: one provenance wording for every page."""

from pathlib import Path

from benchmarks.pages import (
    by_setting,
    entry_words,
    figures,
    provenance_words,
    rows_provenance_words,
    shown,
    spread,
)

ROOT = Path(__file__).resolve().parents[2]
RECORD = {"date": "2026-01-02 03:04", "commit": "abc1234", "uncommitted_changes": False,
          "cores": 2, "gpu": None}  # fmt: skip


def test_provenance_words_name_commit_changes_date_cores_and_a_gpu_only_where_recorded():
    assert provenance_words(RECORD) == "commit abc1234, 2026-01-02 03:04, 2 CPU cores"
    dirty = {**RECORD, "uncommitted_changes": True, "gpu": "NVIDIA H100, 81559 MiB"}
    assert provenance_words(dirty) == (
        "commit abc1234 with uncommitted changes, 2026-01-02 03:04, 2 CPU cores, "
        "GPU NVIDIA H100, 81559 MiB"
    )
    assert provenance_words({}).startswith("no provenance record")
    assert provenance_words(None) == provenance_words({})


def test_rows_name_their_commits_and_which_rows_had_uncommitted_changes():
    rows = [RECORD, {**RECORD, "commit": "def5678", "uncommitted_changes": True}]
    assert rows_provenance_words(rows) == (
        "commits abc1234, def5678; 1 of 2 rows with uncommitted changes; 2 CPU cores"
    )
    assert rows_provenance_words(rows, ["seed 0", "seed 1"]) == (
        "commits abc1234, def5678; seed 1 with uncommitted changes; 2 CPU cores"
    )
    assert rows_provenance_words([RECORD]) == "commit abc1234; 2 CPU cores"


def test_figures_name_each_source_as_the_page_shows_it():
    path = ROOT / "benchmarks/results.json"
    assert shown(path) == "`benchmarks/results.json`"
    entry = {"date": "2026-01-02", "figure": 1.0}
    assert figures(entry_words(path, "memory", entry)) == (
        "Figures: `benchmarks/results.json`, `memory` (2026-01-02; no provenance record: "
        "commit, versions and machine not recorded)."
    )
    assert entry_words(path, "x", {"provenance": RECORD}).endswith(f"({provenance_words(RECORD)})")


def test_by_setting_and_spread():
    searches = {"a-seed0": {"v": 1}, "b_iid-seed0": {"v": 2}, "a-seed1": {"v": 3}}
    assert by_setting(searches) == {"a": [{"v": 1}, {"v": 3}], "b_iid": [{"v": 2}]}
    assert spread([0.1, 0.2, 0.3]) == "0.200 (0.100 to 0.300)"
    assert spread([1, 3], 0, between="-") == "2 (1-3)"
    assert spread([-0.01, 0.03], 4, signed=True) == "+0.0100 (-0.0100 to +0.0300)"
