"""The trainable under a real Ray Tune run: reports, checkpoints, resume after a crash."""

import sys
from pathlib import Path

import search.tune.quiet_ray  # noqa: F401  (before Ray is imported)

# isort: split
import pytest
import ray
from ray import cloudpickle, tune

from trainable.checkpoint import CHECKPOINT_FILE, load_checkpoint
from trainable.data import load_data
from trainable.ray_trainable import train_trial

pytestmark = pytest.mark.integration  # Ray

OBJECTIVE = "val_balanced_accuracy"


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def crash_once(config: dict, data, marker: str) -> None:
    """train_trial, but the first attempt dies when it is about to report epoch 2, after epoch
    1's report and checkpoint; the second attempt writes the epochs it reports to
    <marker>.resumed, so the test sees where it began whether or not Ray delivered the dead
    attempt's last row (it lost it in some runs, racing the crash)."""
    real_report = tune.report
    if not Path(marker).exists():
        reports = []

        def crash_at_second_report(metrics, checkpoint=None):
            if reports:
                Path(marker).touch()
                raise RuntimeError("injected crash after epoch 1")
            reports.append(metrics["epoch"])
            real_report(metrics, checkpoint=checkpoint)

        tune.report = crash_at_second_report  # this worker process only, and it dies next
    else:

        def record_and_report(metrics, checkpoint=None):
            with open(f"{marker}.resumed", "a") as f:
                f.write(f"{metrics['epoch']}\n")
            real_report(metrics, checkpoint=checkpoint)

        tune.report = record_and_report
    train_trial(config, data)


# Ray ships functions defined in a test module by value, since workers cannot import tests.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def fit(trainable, storage: Path, param_space: dict, max_failures: int = 0):
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        param_space=param_space,
        tune_config=tune.TuneConfig(metric=OBJECTIVE, mode="max"),
        run_config=tune.RunConfig(
            storage_path=str(storage),
            name="test",
            failure_config=tune.FailureConfig(max_failures=max_failures),
        ),
    )
    return tuner.fit()


def test_trials_report_metrics_and_checkpoints(ray_local, tmp_path):
    data = load_data("synthetic")
    results = fit(
        tune.with_parameters(train_trial, data=data),
        tmp_path,
        {"epochs": 2, "loss": tune.grid_search(["ce", "focal"])},
    )
    assert results.num_errors == 0 and len(results) == 2
    for result in results:
        assert result.metrics["epoch"] == 2
        assert 0.5 < result.metrics[OBJECTIVE] <= 1.0
        with result.checkpoint.as_directory() as folder:
            state = load_checkpoint(Path(folder) / CHECKPOINT_FILE)
        assert state["epoch"] == 2
        assert state["threshold"] == result.metrics["val_threshold"]
        assert state["config"]["loss"] == result.config["loss"]


def test_a_crashed_trial_resumes_from_its_checkpoint(ray_local, tmp_path):
    data = load_data("synthetic")
    marker = str(tmp_path / "crashed")
    results = fit(
        tune.with_parameters(crash_once, data=data, marker=marker),
        tmp_path,
        {"epochs": 3},
        max_failures=1,
    )
    assert Path(marker).exists()  # the first attempt did crash
    assert results.num_errors == 0
    resumed = Path(f"{marker}.resumed").read_text().split()
    assert resumed == ["2", "3"]  # the second attempt began at epoch 2, from the checkpoint
    epochs = results[0].metrics_dataframe["epoch"].tolist()
    assert epochs[-2:] == [2, 3] and epochs in ([1, 2, 3], [2, 3])  # nothing repeated
