"""The search on a simulated multi-node Ray cluster (ray.cluster_utils.Cluster, one machine).

Two worker nodes of 1 CPU and 1 fake GPU each, a head that runs no trials: trials asking for
1 CPU and half a GPU can only run two at a time by landing on different nodes. Fake GPUs only
set CUDA_VISIBLE_DEVICES, so the trainable must fall back to the CPU.
"""

import threading
import time

import optuna
import pandas as pd
import pytest
import ray
from ray.cluster_utils import Cluster

from search.run import main

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [c.add_node(num_cpus=1, num_gpus=1) for _ in range(2)]
    c.wait_for_nodes()
    yield c, workers
    if ray.is_initialized():
        ray.shutdown()
    c.shutdown()


def search(c: Cluster, storage, name: str) -> int:
    flags = f"--space focal --data synthetic --storage {storage} --name {name} --num-samples 4"
    flags += f" --epochs 3 --scheduler none --gpus-per-trial 0.5 --address {c.address}"
    return main(flags.split())


def intervals(experiment) -> list[tuple[float, float]]:
    spans = []
    for progress in experiment.glob("trial_*/progress.csv"):
        history = pd.read_csv(progress)
        start = history["timestamp"].iloc[0] - history["time_this_iter_s"].iloc[0]
        spans.append((start, history["timestamp"].iloc[-1]))
    return spans


def finished_once(experiment, name: str) -> None:
    board = pd.read_csv(experiment / "leaderboard.csv")
    trials = board[board["optuna_trial"].notna()]  # the references' start points too
    assert len(trials) == 4 and trials["trial_id"].is_unique
    assert (trials["status"] == "complete").all() and (trials["epochs_run"] == 3).all()
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{experiment}/optuna.db")
    assert sum(t.state.is_finished() for t in study.trials) == 4


def test_fractional_gpu_trials_run_on_two_nodes_at_once(cluster, tmp_path, capsys):
    c, _ = cluster
    assert search(c, tmp_path, "spread") == 0
    # which cluster it joined is said (joining another than the one meant went on silently)
    joined = f"joined the Ray cluster at {c.address}: 3 node(s), 2 CPUs, 2 GPUs"  # a CPU-less head
    assert joined in capsys.readouterr().out
    spans = intervals(tmp_path / "spread")
    overlapping = any(
        a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :]
    )
    assert overlapping  # two trials at once: one per 1-CPU node
    finished_once(tmp_path / "spread", "spread")


def test_a_node_lost_mid_search_loses_no_trial(cluster, tmp_path):
    c, workers = cluster
    experiment = tmp_path / "lost"
    removed = threading.Event()

    def remove_a_node_once_a_trial_has_reported():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if any(
                len(pd.read_csv(p)) >= 1
                for p in experiment.glob("trial_*/progress.csv")
                if p.stat().st_size
            ):
                c.remove_node(workers[0])
                removed.set()
                return
            time.sleep(0.5)

    killer = threading.Thread(target=remove_a_node_once_a_trial_has_reported, daemon=True)
    killer.start()
    assert search(c, tmp_path, "lost") == 0
    killer.join(timeout=10)
    assert removed.is_set()
    finished_once(experiment, "lost")
    # the trial on the lost node failed once and resumed from its checkpoint on the other node
    failed = [e.parent for e in experiment.glob("trial_*/error.txt")]
    assert len(failed) >= 1
    for trial in failed:
        assert "Failure # 1" in (trial / "error.txt").read_text()
        assert pd.read_csv(trial / "progress.csv")["epoch"].tolist() == [1, 2, 3]
