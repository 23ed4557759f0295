"""The answer exported as one file, loaded where only torch is installed."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from datasets import PNEUMONIAMNIST

from search.export import EXTRA_FILE
from search.export import main as export
from search.predict import answer_probabilities, load_answer
from trainable.data import load_data

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
    assert EXTRA_FILE == "answer.json"


def test_exporting_a_folder_that_is_not_an_experiment_is_one_line(tmp_path, capsys):
    assert export([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "best.json not found" in err
    assert not (tmp_path / "answer.pt2").exists()
