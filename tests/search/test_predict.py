"""Applying a finished search's answer to image files, as a user with new X-rays would."""

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from datasets import PNEUMONIAMNIST
from PIL import Image

from search.answer.rules import average
from search.predict import Answer
from search.predict import main as predict
from search.stats.calibration import scale
from trainable.checkpoint import CHECKPOINT_FILE, load_checkpoint
from trainable.config import UserError
from trainable.data import load_data
from trainable.inference import predict_checkpoint
from trainable.metrics import evaluate

pytestmark = pytest.mark.integration  # a finished search on real data


@pytest.fixture
def experiment(small_search) -> Path:
    """A finished search on real PneumoniaMNIST images (tests/search/conftest.py)."""
    return small_search[0]


def write_test_split(folder: Path) -> tuple[list[Path], np.ndarray]:
    """The test split's images as PNG files in nested class folders, as a site might keep them."""
    data = load_data(str(PNEUMONIAMNIST))
    paths = []
    for i, (image, label) in enumerate(zip(data.test_x[:, 0], data.test_y, strict=True)):
        path = folder / data.classes[label] / f"batch{i % 3}" / f"image{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths, data.test_y


def read_rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def answer_scores(experiment: Path, split: str = "test", calibrated: bool = True) -> np.ndarray:
    """The answer's probabilities computed the report's way, from best.json."""
    data = load_data(str(PNEUMONIAMNIST))
    answer = json.loads((experiment / "best.json").read_text())["answer"]
    states = [
        load_checkpoint(experiment / m["checkpoint"] / CHECKPOINT_FILE) for m in answer["members"]
    ]
    mean = average([predict_checkpoint(state, data, split) for state in states])
    return scale(mean, answer["temperature"]) if calibrated else mean


@pytest.mark.slow
def test_predicting_the_test_images_as_files_repeats_the_reports_test_scores(experiment, tmp_path):
    paths, labels = write_test_split(tmp_path / "site")
    out = tmp_path / "predictions.csv"
    assert predict([str(experiment), str(tmp_path / "site"), "--out", str(out)]) == 0

    rows = {row["image"]: row for row in read_rows(out)}
    assert len(rows) == len(paths)  # nested folders read whole
    scores = np.array([float(rows[str(p)]["p_pneumonia"]) for p in paths])
    np.testing.assert_allclose(scores, answer_scores(experiment)[:, 1], atol=1e-6)

    report = json.loads((experiment / "test_metrics.json").read_text())["answer"]
    said = np.array([rows[str(p)]["decision"] == "pneumonia" for p in paths])
    normal, pneumonia = labels == 0, labels == 1
    assert report["confusion"]["test"]["matrix"] == [
        [int((~said[normal]).sum()), int(said[normal].sum())],
        [int((~said[pneumonia]).sum()), int(said[pneumonia].sum())],
    ]
    assert evaluate(np.stack([1 - scores, scores], 1), labels, report["threshold"])[
        "balanced_accuracy"
    ] == pytest.approx(report["test"]["balanced_accuracy"])
    for level, point in report["operating_points"]["test"].items():
        said_at = np.array(
            [rows[str(p)][f"decision_at_sensitivity_{level}"] == "pneumonia" for p in paths]
        )
        assert said_at[pneumonia].mean() == pytest.approx(point["sensitivity"])


@pytest.mark.slow
def test_a_copied_experiment_predicts_after_the_original_is_gone(experiment, tmp_path):
    image = tmp_path / "one.png"
    Image.fromarray(load_data(str(PNEUMONIAMNIST)).test_x[0, 0]).save(image)
    before, after = tmp_path / "before.csv", tmp_path / "after.csv"
    assert predict([str(experiment), str(image), "--out", str(before)]) == 0
    copy = tmp_path / "moved" / "small"
    shutil.copytree(experiment, copy)
    hidden = experiment.with_name("hidden")
    experiment.rename(hidden)  # the original gone while the copy predicts
    try:
        assert predict([str(copy), str(image), "--out", str(after)]) == 0
    finally:
        hidden.rename(experiment)
    assert read_rows(before) == read_rows(after)


@pytest.mark.slow
def test_unreadable_images_get_a_row_with_the_reason(experiment, tmp_path, capsys):
    good, broken = tmp_path / "good.jpeg", tmp_path / "broken.png"
    Image.fromarray(load_data(str(PNEUMONIAMNIST)).test_x[0, 0]).save(good)
    broken.write_bytes(b"not a picture")
    out = tmp_path / "predictions.csv"
    assert predict([str(experiment), str(good), str(broken), "--out", str(out)]) == 0
    rows = {row["image"]: row for row in read_rows(out)}
    assert rows[str(good)]["error"] == "" and rows[str(good)]["decision"] in ("normal", "pneumonia")
    assert "cannot decode image" in rows[str(broken)]["error"]
    assert rows[str(broken)]["p_pneumonia"] == ""
    assert "1 images scored, 1 unreadable" in capsys.readouterr().out


@pytest.mark.slow
def test_image_names_that_are_not_utf8_are_scored_and_written_escaped(experiment, tmp_path):
    # the CSV's writer raised on a Latin-1 name after every image was scored, losing them all
    folder = os.fsencode(tmp_path / "site")
    os.mkdir(folder)
    image = load_data(str(PNEUMONIAMNIST)).test_x[0, 0]
    Image.fromarray(image).save(os.fsdecode(folder + b"/radiograf\xeda.png"))
    out = tmp_path / "predictions.csv"
    assert predict([str(experiment), os.fsdecode(folder), "--out", str(out)]) == 0
    (row,) = read_rows(out)
    assert row["image"] == f"{tmp_path / 'site'}/radiograf\\xeda.png" and row["error"] == ""
    assert row["decision"] in ("normal", "pneumonia")


@pytest.mark.slow
def test_a_folder_that_cannot_be_read_is_a_row_not_a_silence(experiment, tmp_path, monkeypatch,
                                                             capsys):  # fmt: skip
    site, locked = tmp_path / "site", tmp_path / "site" / "locked"
    locked.mkdir(parents=True)
    image = load_data(str(PNEUMONIAMNIST)).test_x[0, 0]
    Image.fromarray(image).save(site / "a.png")
    Image.fromarray(image).save(locked / "b.png")
    listing = os.scandir

    def refused(path="."):  # what the system answers a user without read permission
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return listing(path)

    monkeypatch.setattr(os, "scandir", refused)
    out = tmp_path / "predictions.csv"
    assert predict([str(experiment), str(site), "--out", str(out)]) == 0
    rows = {row["image"]: row for row in read_rows(out)}
    assert rows[str(site / "a.png")]["error"] == ""
    assert rows[str(locked)]["error"] == "cannot be read (Permission denied); not scored"
    assert "1 images scored, 1 unreadable" in capsys.readouterr().out


def test_a_folder_that_is_not_an_experiment_is_refused_in_one_line(tmp_path, capsys):
    assert predict([str(tmp_path), str(tmp_path), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "best.json not found" in err
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.slow
def test_calibration_moves_no_decision(experiment):
    """The temperature changes what the probabilities say, not which side of the cut an
    image falls: balanced accuracy of the raw mean at its own tuned cut is the report's."""
    report = json.loads((experiment / "test_metrics.json").read_text())["answer"]
    data = load_data(str(PNEUMONIAMNIST))
    raw_val = evaluate(answer_scores(experiment, "val", calibrated=False), data.val_y)
    raw_test = evaluate(
        answer_scores(experiment, calibrated=False), data.test_y, raw_val["threshold"]
    )
    assert raw_val["balanced_accuracy"] == pytest.approx(report["val"]["balanced_accuracy"])
    assert raw_test["balanced_accuracy"] == pytest.approx(report["test"]["balanced_accuracy"])
    assert report["temperature"] != pytest.approx(1.0)  # the scaling did something


@pytest.mark.slow
def test_adapting_to_the_test_images_repeats_the_reports_second_figure(experiment, tmp_path):
    paths, labels = write_test_split(tmp_path / "site")
    out = tmp_path / "adapted.csv"
    assert predict([str(experiment), str(tmp_path / "site"), "--out", str(out), "--adapt"]) == 0
    reason = json.loads(out.with_suffix(".adapt.json").read_text())
    report = json.loads((experiment / "test_metrics.json").read_text())["answer"]["adapted"]
    assert reason["shift_p_value"] == pytest.approx(report["shift_p_value"])
    assert reason["shifted"] == report["shifted"] and reason["cut"] == pytest.approx(report["cut"])
    rows = {row["image"]: row for row in read_rows(out)}
    said = np.array([rows[str(p)]["decision_adapted"] == "pneumonia" for p in paths])
    scores = np.array([float(rows[str(p)]["p_pneumonia"]) for p in paths])
    np.testing.assert_array_equal(said, scores >= reason["cut"])
    recall = [(~said[labels == 0]).mean(), said[labels == 1].mean()]
    assert np.mean(recall) == pytest.approx(report["test"]["balanced_accuracy"])


@pytest.mark.slow
def test_adapting_to_a_handful_of_images_is_refused(experiment, tmp_path, capsys):
    image = tmp_path / "one.png"
    Image.fromarray(load_data(str(PNEUMONIAMNIST)).test_x[0, 0]).save(image)
    out = tmp_path / "p.csv"
    assert predict([str(experiment), str(image), "--out", str(out), "--adapt"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--adapt needs at least 250 images" in err


@pytest.mark.slow
def test_adapt_refuses_before_loading_a_model(experiment, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "site"
    folder.mkdir()
    for i, image in enumerate(load_data(str(PNEUMONIAMNIST)).test_x[:41, 0]):
        Image.fromarray(image).save(folder / f"{i}.png")

    def never(*args):
        raise AssertionError("the answer was loaded before --adapt refused")

    monkeypatch.setattr("search.predict.load_answer", never)
    assert predict([str(experiment), str(folder), "--out", str(tmp_path / "p.csv"), "--adapt"]) == 2
    assert "got 41" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.slow
def test_the_answer_as_a_library_call_gives_the_reports_probabilities(experiment, tmp_path):
    from search.deploy.answer import load_answer

    answer = load_answer(experiment)
    reported = answer_scores(experiment)
    data = load_data(str(PNEUMONIAMNIST))
    np.testing.assert_allclose(answer.predict_proba(data.test_x), reported, atol=1e-6)
    paths, _ = write_test_split(tmp_path / "site")
    from_files = answer.predict_proba(paths[:50], device="cpu", batch_size=7)
    np.testing.assert_allclose(from_files, reported[:50], atol=1e-6)
    cut = json.loads((experiment / "best.json").read_text())["answer"]["threshold"]
    said = answer.predict(from_files)
    assert said == [data.classes[int(p >= cut)] for p in from_files[:, 1]]
    # the command line with the same device and batch size says the same, and the cut
    out = tmp_path / "p.csv"
    flags = ["--device", "cpu", "--batch-size", "7", "--out", str(out)]
    assert predict([str(experiment), *map(str, paths[:50]), *flags]) == 0
    rows = read_rows(out)
    assert [r["decision"] for r in rows] == said
    assert {float(r["cut"]) for r in rows} == {cut}


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


@pytest.mark.slow
def test_an_out_that_would_destroy_is_refused_before_any_work(experiment, tmp_path, capsys):
    image = tmp_path / "scan.png"
    Image.fromarray(load_data(str(PNEUMONIAMNIST)).test_x[0, 0]).save(image)
    before = image.read_bytes()
    best = (experiment / "best.json").read_bytes()
    (tmp_path / "a_folder").mkdir()
    for out, says in (
        (image, "must end in .csv"),
        (tmp_path / "scan.csv", None),  # fine: a new file beside the image
        (experiment / "leaderboard.csv", "would overwrite a file of the experiment"),
        (tmp_path / "scores.json", "must end in .csv"),
        (tmp_path / "missing" / "p.csv", "does not exist; create it first"),
        (tmp_path / "a_folder", "is a folder"),
    ):
        code = predict([str(experiment), str(image), "--out", str(out)])
        if says is None:
            assert code == 0
            capsys.readouterr()
            continue
        assert code == 2 and says in one_error_line(capsys)
    assert image.read_bytes() == before and (experiment / "best.json").read_bytes() == best
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.slow
def test_an_input_named_as_the_csv_is_refused(experiment, tmp_path, capsys):
    odd = tmp_path / "scan.csv"  # a CSV given as an input: refused as --out
    odd.write_text("not an image")
    assert predict([str(experiment), str(odd), "--out", str(odd)]) == 2
    assert "is one of the input images" in one_error_line(capsys)
    assert odd.read_text() == "not an image"


@pytest.mark.slow
def test_a_damaged_experiment_is_refused_in_one_line_naming_the_file(experiment, tmp_path, capsys):
    image = tmp_path / "scan.png"
    Image.fromarray(load_data(str(PNEUMONIAMNIST)).test_x[0, 0]).save(image)
    member = json.loads((experiment / "best.json").read_text())["answer"]["members"][0]
    checkpoint = Path(member["checkpoint"]) / CHECKPOINT_FILE

    def damage_best(copy):
        (copy / "best.json").write_text("")

    def cut_manifest(copy):
        text = (copy / "search.json").read_text()
        (copy / "search.json").write_text(text[: len(text) // 2])

    def image_as_checkpoint(copy):
        shutil.copy(image, copy / checkpoint)

    def another_models_weights(copy):
        state = load_checkpoint(copy / checkpoint)
        state["model"].pop(next(iter(state["model"])))
        import torch

        torch.save(state, copy / checkpoint)

    for damage, names in (
        (damage_best, "best.json"),
        (cut_manifest, "search.json"),
        (image_as_checkpoint, CHECKPOINT_FILE),
        (another_models_weights, CHECKPOINT_FILE),
    ):
        copy = tmp_path / damage.__name__
        shutil.copytree(experiment, copy)
        damage(copy)
        out = tmp_path / f"{damage.__name__}.csv"
        assert predict([str(copy), str(image), "--out", str(out)]) == 2
        err = one_error_line(capsys)
        assert names in err and "is damaged" in err, err
        assert not out.exists()


@pytest.mark.slow
def test_cut_validation_scores_are_named_when_adapting(experiment, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(experiment, copy)
    scores = copy / "answer_val_scores.npz"
    scores.write_bytes(scores.read_bytes()[:100])
    paths, _ = write_test_split(tmp_path / "site")
    out = tmp_path / "p.csv"
    assert predict([str(copy), str(tmp_path / "site"), "--out", str(out), "--adapt"]) == 2
    assert "answer_val_scores.npz is damaged" in one_error_line(capsys)


PREDICT_THEN_LIST_MODULES = """
import sys
from pathlib import Path
import numpy as np
from search.deploy.answer import load_answer
answer = load_answer(Path(sys.argv[1]))
answer.predict_proba(np.zeros((2, answer.channels, answer.size, answer.size), np.uint8))
print(sorted(m for m in ("ray", "optuna") if m in sys.modules))
"""


@pytest.mark.slow
def test_predicting_loads_neither_ray_nor_optuna(experiment):
    import subprocess
    import sys

    code = PREDICT_THEN_LIST_MODULES
    done = subprocess.run(
        [sys.executable, "-c", code, str(experiment)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


REFUSE_THEN_LIST_MODULES = """
import sys
from search.predict import main
code = main([sys.argv[1], sys.argv[2], "--out", sys.argv[3], "--adapt"])
print(code, sorted(m for m in ("torch", "ray", "optuna", "sklearn") if m in sys.modules))
"""


@pytest.mark.slow
def test_adapt_refuses_a_small_site_without_importing_torch(experiment, tmp_path):
    import subprocess
    import sys

    folder = tmp_path / "site"
    folder.mkdir()
    for i, image in enumerate(load_data(str(PNEUMONIAMNIST)).test_x[:41, 0]):
        Image.fromarray(image).save(folder / f"{i}.png")
    done = subprocess.run(
        [sys.executable, "-c", REFUSE_THEN_LIST_MODULES, str(experiment), str(folder),
         str(tmp_path / "p.csv")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.stdout.strip() == "2 []", done.stdout + done.stderr
    assert "got 41" in done.stderr


def test_arrays_of_another_dtype_or_size_are_refused_not_scored():
    classes = ["normal", "pneumonia"]
    answer = Answer([], 1.0, 0.5, {}, classes, channels=1, size=28, resize="bilinear")
    images = np.full((3, 28, 28), 200, dtype=np.uint8)  # as the MedMNIST npz stores them
    assert answer.checked(images).shape == (3, 1, 28, 28)
    # torchvision's float images in 0..1 read as near-black and got confident probabilities
    with pytest.raises(UserError, match="images are float32; this answer takes uint8"):
        answer.checked((images / 255).astype(np.float32))
    with pytest.raises(UserError, match=r"shape \(3, 1, 64, 64\); this answer takes \(N, 1, 28"):
        answer.checked(np.zeros((3, 1, 64, 64), dtype=np.uint8))
