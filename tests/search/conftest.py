"""A finished search shared by the tests that read one (test_run, test_predict)."""

import contextlib
import io
from pathlib import Path

import pytest
from datasets import PNEUMONIAMNIST

from search.run import main

SMALL_SEARCH_TRAIN_IMAGES = 300


@pytest.fixture(scope="session")
def small_search(tmp_path_factory) -> tuple[Path, str]:
    """One finished search on 300 real PneumoniaMNIST training images (validation and test
    whole; 5 trials of 3 epochs, ASHA): its experiment folder and what it printed."""
    storage = tmp_path_factory.mktemp("search")
    flags = (
        f"--data {PNEUMONIAMNIST} --train-subsample {SMALL_SEARCH_TRAIN_IMAGES} --storage "
        f"{storage} --space full --name small --num-samples 5 --epochs 3 --grace-period 1 --seed 1"
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(flags.split()) == 0
    return storage / "small", printed.getvalue()
