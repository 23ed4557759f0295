"""Fixed configs trained beside the search: each reference's folder is its role, and no more
run at once than asked."""

from itertools import pairwise
from types import SimpleNamespace

import pytest

from search.answer.references import reference_configs
from search.tune.reruns import reference_dirname
from trainable.config import TrainConfig


def test_a_reference_folder_is_named_for_its_role():
    refs = reference_configs(epochs=4, seed=2)
    # a restored result grid may hand the trials back in another order
    for name in reversed(list(refs)):
        run = SimpleNamespace(config=dict(refs[name]), trial_id="9cbce_00001")
        assert reference_dirname(run, references=refs) == name  # TensorBoard's references/<name>


@pytest.mark.integration  # Ray
def test_reruns_train_no_more_at_once_than_asked(tmp_path):
    import pandas as pd
    import ray
    from ray import tune

    from search.tune.reruns import run_configs
    from trainable.data import load_data
    from trainable.ray_trainable import train_trial

    configs = [TrainConfig(epochs=2, seed=s).to_dict() for s in range(3)]
    train = tune.with_parameters(train_trial, data=load_data("synthetic"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        trainable = tune.with_resources(train, {"cpu": 0.5})  # room for four at once
        run_configs(trainable, configs, storage=str(tmp_path), name="one",
                    objective="val_balanced_accuracy", max_concurrent=1)  # fmt: skip
    finally:
        ray.shutdown()
    spans = []
    for progress in (tmp_path / "one").glob("trial_*/progress.csv"):
        history = pd.read_csv(progress)
        start = history["timestamp"].iloc[0] - history["time_this_iter_s"].iloc[0]
        spans.append((start, history["timestamp"].iloc[-1]))
    assert len(spans) == 3
    spans.sort()
    assert all(a[1] <= b[0] + 1 for a, b in pairwise(spans)), spans  # one after another
