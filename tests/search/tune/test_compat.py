"""The private corners of Ray Tune the search relies on, held to what they are for."""

import errno
import json
from pathlib import Path

import pyarrow.fs
import pytest
from ray.train._internal import storage

from search.tune.compat import atomic_local_uploads


def test_tunes_state_copied_into_a_full_disk_leaves_the_earlier_copy_whole(tmp_path, monkeypatch):
    staging, experiment = tmp_path / "staging", tmp_path / "experiment"
    staging.mkdir()
    experiment.mkdir()
    state = "experiment_state-2026-12-06_10-00-00.json"
    (experiment / state).write_text(json.dumps({"trial_data": ["a"]}))  # the last good copy
    (staging / state).write_text(json.dumps({"trial_data": ["a", "b"]}))
    atomic_local_uploads()
    copy = pyarrow.fs.copy_files

    def full_disk(source, destination, **kwargs):  # pyarrow writes, then the disk is full
        copy(source, destination, **kwargs)
        for written in Path(destination).rglob("*"):
            if written.is_file():
                written.write_text(written.read_text()[:10])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pyarrow.fs, "copy_files", full_disk)
    with pytest.raises(OSError, match="No space left"):
        storage._upload_to_fs_path(str(staging), pyarrow.fs.LocalFileSystem(), str(experiment))
    assert json.loads((experiment / state).read_text()) == {"trial_data": ["a"]}  # whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["experiment", "staging"]  # no debris
    monkeypatch.undo()
    storage._upload_to_fs_path(str(staging), pyarrow.fs.LocalFileSystem(), str(experiment))
    assert json.loads((experiment / state).read_text()) == {"trial_data": ["a", "b"]}
