"""Atomic writes, image listing and names that are not UTF-8."""

import errno
import os
from pathlib import Path

import pytest

from trainable.files import find_images, printable, write_text


def test_a_write_that_fails_leaves_the_earlier_file_whole(tmp_path, monkeypatch):
    board = tmp_path / "leaderboard.csv"
    write_text(board, "trial_id,score\na,0.9\n")
    real = Path.write_text

    def full_disk(self, text, *args, **kwargs):  # the disk fills halfway through the write
        real(self, text[: len(text) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_text(board, "trial_id,score\na,0.9\nb,0.8\n")
    monkeypatch.undo()
    assert board.read_text() == "trial_id,score\na,0.9\n"  # written in place, it was cut
    assert [p.name for p in tmp_path.iterdir()] == ["leaderboard.csv"]  # no partial left


def test_images_are_found_below_a_folder_and_names_are_shown_escaped(tmp_path):
    (tmp_path / "batch" / "deep").mkdir(parents=True)
    for name in ("a.png", "batch/b.JPEG", "batch/deep/c.tif", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    found, unreadable = find_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.png", "batch/b.JPEG", "batch/deep/c.tif"
    ]  # fmt: skip
    assert unreadable == {}
    latin1 = os.fsdecode(b"radiograf\xeda.png")  # Python keeps the byte as a surrogate
    assert printable(latin1) == "radiograf\\xeda.png"
    assert printable("plain.png") == "plain.png"


def test_a_link_loop_lists_each_image_once_and_a_pipe_is_named_not_waited_on(tmp_path):
    (tmp_path / "PNEUMONIA").mkdir()
    (tmp_path / "PNEUMONIA" / "a.png").write_bytes(b"")
    (tmp_path / "PNEUMONIA" / "again").symlink_to(".")  # listed a.png ~40 times
    os.mkfifo(tmp_path / "PNEUMONIA" / "pipe.png")  # reading it waited for ever
    found, unreadable = find_images(tmp_path)
    assert found == [tmp_path / "PNEUMONIA" / "a.png"]
    assert unreadable == {tmp_path / "PNEUMONIA" / "pipe.png": "not a regular file"}
