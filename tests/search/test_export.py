"""The answer exported as one file, loaded where only torch is installed."""

import errno
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import PNEUMONIAMNIST

from search.deploy.answer import answer_probabilities, load_answer
from search.experiment.formats import FORMAT_VERSION
from search.export import main as export
from search.export import write_beside
from trainable.data import load_data
from trainable.errors import UserError

pytestmark = pytest.mark.integration  # a finished search on real data, a torch-only process

# A fresh interpreter that imports torch and nothing of ours: the deployment machine.
LOAD_WITH_TORCH_ALONE = """
import sys, torch
files = {"answer.json": ""}
model = torch.export.load(sys.argv[1], extra_files=files).module()
probs = model(torch.load(sys.argv[2]))
torch.save(probs, sys.argv[3])
ours = [m for m in sys.modules if m.split(".")[0] in ("search", "trainable", "spaces", "ray")]
assert not ours, ours
print(files["answer.json"])
"""


@pytest.mark.slow
def test_the_exported_answer_gives_the_experiments_probabilities_in_a_torch_only_process(
    small_search, tmp_path
):
    experiment = small_search[0]
    out = tmp_path / "site" / "answer.pt2"
    out.parent.mkdir()
    assert export([str(experiment), "--out", str(out)]) == 0
    images = load_data(str(PNEUMONIAMNIST)).test_x[:200]
    torch.save(torch.from_numpy(images), tmp_path / "images.pt")
    done = subprocess.run(
        [sys.executable, "-c", LOAD_WITH_TORCH_ALONE, str(out), str(tmp_path / "images.pt"),
         str(tmp_path / "probs.pt")],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    exported = torch.load(tmp_path / "probs.pt").numpy()
    answer = load_answer(experiment)
    np.testing.assert_allclose(exported, answer_probabilities(answer, images), atol=1e-5)

    described = json.loads(done.stdout)  # the description travels inside the file ...
    assert described == json.loads(out.with_suffix(".json").read_text())  # ... and beside it
    assert described["classes"] == ["normal", "pneumonia"]
    assert described["input"] | {} == {
        "dtype": "uint8", "layout": "N, C, H, W", "channels": 1, "size": 28,
        "resize": "torch_bilinear_antialias",
    }  # fmt: skip
    assert described["threshold"] == pytest.approx(answer.threshold)
    assert described["format_version"] == FORMAT_VERSION  # read through experiment.formats


def test_exporting_a_folder_that_is_not_an_experiment_is_one_line(tmp_path, capsys):
    assert export([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "best.json not found" in err
    assert not (tmp_path / "answer.pt2").exists()


# A fresh interpreter with onnxruntime and nothing of ours (nor torch): another runtime.
LOAD_WITH_ONNXRUNTIME = """
import json, sys, numpy as np, onnx, onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1])
np.save(sys.argv[3], session.run(None, {"images": np.load(sys.argv[2])})[0])
ours = [m for m in sys.modules if m.split(".")[0] in ("search", "trainable", "torch", "ray")]
assert not ours, ours
print({p.key: p.value for p in onnx.load(sys.argv[1]).metadata_props}["answer.json"])
"""


@pytest.mark.slow
def test_the_answer_as_onnx_gives_the_experiments_probabilities_in_onnxruntime(
    small_search, tmp_path, capfd
):
    experiment = small_search[0]
    out = tmp_path / "answer.onnx"
    assert export([str(experiment), "--format", "onnx", "--out", str(out)]) == 0
    printed = capfd.readouterr()
    assert printed.err == "" and printed.out.count("\n") == 1  # no exporter chatter
    images = load_data(str(PNEUMONIAMNIST)).test_x[:200]
    np.save(tmp_path / "images.npy", images)
    done = subprocess.run(
        [sys.executable, "-c", LOAD_WITH_ONNXRUNTIME, str(out), str(tmp_path / "images.npy"),
         str(tmp_path / "probs.npy")],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = load_answer(experiment)
    expected = answer_probabilities(answer, images)
    np.testing.assert_allclose(np.load(tmp_path / "probs.npy"), expected, atol=1e-5)
    assert json.loads(done.stdout) == json.loads(out.with_suffix(".json").read_text())


def test_the_help_shows_every_default_and_imports_no_torch():
    code = (
        "import sys, contextlib, io\n"
        "from search.export import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()) as f:\n"
        "    main(['--help'])\n"
        "assert 'torch' not in sys.modules, 'torch imported for --help'\n"
        "print(f.getvalue())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "usage: python -m search.export" in done.stdout  # run as -c: not the script
    assert "(default: pt2)" in done.stdout and "default: EXPERIMENT/answer.pt2" in done.stdout


@pytest.mark.slow
def test_an_export_that_would_overwrite_the_model_or_the_experiment_is_refused(
    small_search, tmp_path, capsys
):
    experiment = small_search[0]
    best = (experiment / "best.json").read_bytes()
    for flags, says in (
        (["--out", str(tmp_path / "answer.json")], "must end in .pt2"),  # its description
        (["--out", str(experiment / "best.pt2")], "would overwrite a file of the experiment"),
        (["--format", "onnx", "--out", str(tmp_path / "a.pt2")], "must end in .onnx"),
        (["--out", str(tmp_path / "missing" / "answer.pt2")], "does not exist"),
    ):
        assert export([str(experiment), *flags]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err, err
    assert (experiment / "best.json").read_bytes() == best
    assert not list(tmp_path.rglob("*.tmp*"))


def test_an_export_onto_a_full_disk_is_one_line_and_the_earlier_export_stays_whole(
    tmp_path, monkeypatch
):
    # torch's own writer aborted the process in C++ (exit 134) and left a temporary file
    out = tmp_path / "answer.pt2"
    write_beside(out, b"the earlier model", '{"members": 3}\n')
    real = Path.write_text

    def full_disk(self, data):
        if ".json." in self.name:  # the model fitted, its description did not
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(UserError, match=r"cannot write .*answer.pt2 \(No space left on device\)"):
        write_beside(out, b"a newer model", '{"members": 5}\n')
    monkeypatch.undo()
    assert out.read_bytes() == b"the earlier model"  # model and description go in together
    assert (tmp_path / "answer.json").read_text() == '{"members": 3}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answer.json", "answer.pt2"]
