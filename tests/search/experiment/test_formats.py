"""The experiment's JSON files: stamped with their format version, read through one typed
reader each, a newer format refused in one line."""

import json

import pytest

from search.experiment.formats import (
    FORMAT_VERSION,
    read_best,
    read_manifest,
    read_record,
    write_record,
)
from trainable.errors import UserError

ANSWER = {"members": [{"checkpoint": "trial_a/checkpoint_000002"}], "threshold": 0.41}


def test_a_written_record_carries_its_version_and_reads_back(tmp_path):
    write_record(tmp_path / "best.json", {"answer": ANSWER | {"temperature": 1.3}})
    assert json.loads((tmp_path / "best.json").read_text())["format_version"] == FORMAT_VERSION
    best = read_best(tmp_path)
    assert best.threshold == 0.41 and best.temperature == 1.3 and best.sensitivity_cuts == {}
    assert best.members[0]["checkpoint"] == "trial_a/checkpoint_000002"


def test_a_file_from_before_versions_reads_as_version_0(tmp_path):
    (tmp_path / "best.json").write_text(json.dumps({"answer": ANSWER}))
    assert read_best(tmp_path).temperature == 1.0  # before calibration was recorded
    assert read_manifest(tmp_path) is None  # no search.json: nothing began here


def test_a_newer_format_is_refused_in_one_line_naming_the_file(tmp_path):
    path = tmp_path / "search.json"
    path.write_text(json.dumps({"format_version": FORMAT_VERSION + 1, "settings": {}, "data": {}}))
    with pytest.raises(UserError, match=r"search.json is of format 2, newer than .* upgrade"):
        read_manifest(tmp_path)
    path.write_text(json.dumps({"format_version": "one", "settings": {}, "data": {}}))
    with pytest.raises(UserError, match="is damaged"):
        read_record(path)


def test_a_best_json_without_members_or_cut_is_damaged_and_a_missing_one_not_found(tmp_path):
    with pytest.raises(UserError, match="not found: give the folder of a finished search"):
        read_best(tmp_path)
    write_record(tmp_path / "best.json", {"answer": {"members": [], "threshold": 0.5}})
    with pytest.raises(UserError, match="no members with checkpoints"):
        read_best(tmp_path)
    for bad, says in (
        ({"threshold": "high"}, "no members with checkpoints, or no cut"),
        ({"threshold": True}, "no members with checkpoints, or no cut"),
        ({"temperature": "hot"}, "temperature 'hot' is not a positive number"),
        ({"sensitivity_cuts": [1]}, "sensitivity_cuts is not a level -> cut object"),
    ):
        write_record(tmp_path / "best.json", {"answer": ANSWER | bad})
        with pytest.raises(UserError, match=says):
            read_best(tmp_path)
