"""What `ray up cluster.yaml` promises, on one machine: Ray's own fake multi-node autoscaler
("Testing Autoscaling Locally": the `fake_multinode` provider starts each node as real Ray
processes on this machine) given cluster.yaml's own node types, and the search run on it.

The node types keep cluster.yaml's names, min/max workers and explicit resources; the CPUs
and GPUs the AWS launcher would read off each instance type come from INSTANCE_RESOURCES (EC2
is not reachable here), and the GPUs are fake (CUDA_VISIBLE_DEVICES only: trials fall back to
the CPU). Only the idle timeout is shortened. The test stops only the processes it started:
never `ray stop`, which would end every Ray cluster on the machine.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import ray
import yaml
from ray.cluster_utils import Cluster

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
# What the AWS launcher fills a node type's resources with (EC2's instance type table).
INSTANCE_RESOURCES = {
    "m6i.xlarge": {"CPU": 4},
    "g5.xlarge": {"CPU": 4, "GPU": 1},
    "g5.12xlarge": {"CPU": 48, "GPU": 4},
}
FAKE_HEAD_TYPE = "ray.head.default"  # the fake provider's name for the head's type
IDLE_MINUTES = 0.1


def fake_config(cluster_file: Path, gcs_address: str) -> dict:
    """cluster.yaml's node types for the fake provider, resources filled as the launcher would."""
    raw = yaml.safe_load(cluster_file.read_text())
    types = {}
    for name, node_type in raw["available_node_types"].items():
        instance = node_type["node_config"]["InstanceType"]
        assert instance in INSTANCE_RESOURCES, f"add {instance}'s CPUs and GPUs to the table"
        resources = {**INSTANCE_RESOURCES[instance], **node_type.get("resources", {})}
        if name == raw["head_node_type"]:
            types[FAKE_HEAD_TYPE] = {"resources": resources, "node_config": {}, "max_workers": 0}
        else:
            types[name] = {
                "resources": resources,
                "node_config": {},
                "min_workers": node_type.get("min_workers", 0),
                "max_workers": node_type["max_workers"],
            }
    return {
        "cluster_name": "fake-" + raw["cluster_name"],
        "max_workers": raw["max_workers"],
        "upscaling_speed": raw.get("upscaling_speed", 1.0),
        "idle_timeout_minutes": IDLE_MINUTES,
        "provider": {
            "type": "fake_multinode",
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
            "gcs_address": gcs_address,
        },
        "available_node_types": types,
        "head_node_type": FAKE_HEAD_TYPE,
        "auth": {},
        "docker": {},
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


def processes_of(node_id: str) -> list[int]:
    """This machine's processes started for one fake node (their command lines name it)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            continue
        if proc.name.isdigit() and node_id in cmdline:
            pids.append(int(proc.name))
    return pids


def kill_node(node_id: str) -> None:
    for pid in processes_of(node_id):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def autoscaler_events(cluster: Cluster) -> list[tuple[datetime, str, int, str]]:
    """The autoscaler's own account (its monitor.log event summaries): (time, "Adding" or
    "Removing", how many nodes, of which type), with why for removals ("type gpu_1x (idle)")."""
    log = Path(cluster.head_node.get_logs_dir_path()) / "monitor.log"
    events = []
    for line in log.read_text().splitlines():
        found = re.search(
            r"^(\S+ \S+)\s.*:event_summary:(Adding|Removing) (\d+) nodes?(?:\(s\))? of (.*)$", line
        )
        if found:
            stamp, verb, count, what = found.groups()
            events.append(
                (datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f"), verb, int(count), what)
            )
    return events


def gpu_nodes() -> dict[str, dict]:
    """Alive worker nodes with GPUs: node id -> {total, used} GPUs."""
    available = ray._private.state.available_resources_per_node()
    nodes = {}
    for node in ray.nodes():
        total = node["Resources"].get("GPU", 0)
        if node["Alive"] and total:
            free = available.get(node["NodeID"], {}).get("GPU", 0.0)
            nodes[node["NodeID"]] = {"total": total, "used": total - free}
    return nodes


@pytest.fixture
def autoscaling_cluster(tmp_path, monkeypatch):
    if not sys.platform.startswith("linux"):
        pytest.skip("finds each fake node's processes through /proc")
    ip = ray._private.services.get_node_ip_address()
    with socket.socket() as s:  # a free port for the head's GCS, which the config names
        s.bind(("", 0))
        port = s.getsockname()[1]
    settings = fake_config(ROOT / "cluster.yaml", f"{ip}:{port}")
    config = tmp_path / "fake_cluster.json"
    config.write_text(json.dumps(settings))
    monkeypatch.setenv("RAY_FAKE_CLUSTER", "1")  # the monitor's provider refuses without it
    monkeypatch.setenv("AUTOSCALER_UPDATE_INTERVAL_S", "1")
    monkeypatch.setenv("RAY_enable_autoscaler_v2", "0")
    head = settings["available_node_types"][FAKE_HEAD_TYPE]["resources"]
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "gcs_server_port": port,
            "num_cpus": head.get("CPU", 0),
            "autoscaling_config": str(config),
        },
    )
    ray.init(address=cluster.address)
    seen: dict[str, float] = {}  # the test's: each GPU node it saw -> most GPUs in use at once
    yield cluster, seen
    ray.shutdown()
    for node in seen:  # the nodes the autoscaler started outlive the head
        kill_node(node)
    cluster.shutdown()


def test_gpu_workers_come_with_queued_trials_pack_four_survive_a_loss_and_go_when_idle(
    autoscaling_cluster, tmp_path
):
    cluster, seen = autoscaling_cluster
    time.sleep(5)  # several autoscaler rounds: min_workers 0 starts nothing by itself
    assert gpu_nodes() == {}, "GPU workers started before any trial asked for one"

    experiment = tmp_path / "results" / "fake"
    flags = [
        "--space", "focal", "--data", "synthetic", "--storage", str(tmp_path / "results"),
        "--name", "fake", "--num-samples", "4", "--max-concurrent", "4", "--epochs", "4",
        "--scheduler", "none", "--gpus-per-trial", "0.25", "--address", cluster.address,
    ]  # fmt: skip
    killed: list[str] = []
    started, started_at = time.monotonic(), datetime.now()
    first_gpu_node_after = None
    job = subprocess.Popen(
        [sys.executable, "-m", "search.run", *flags],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(job.stdout), daemon=True)
    reader.start()
    while job.poll() is None:
        waited = time.monotonic() - started
        if waited > 480 or (first_gpu_node_after is None and waited > 120):
            job.kill()
            pytest.fail(
                f"no GPU worker in 2 minutes, or no end in 8: can cluster.yaml's node types "
                f"hold a trial of 1 CPU and 0.25 GPU?\n{''.join(output)[-3000:]}"
            )
        nodes = gpu_nodes()
        if nodes and first_gpu_node_after is None:
            first_gpu_node_after = time.monotonic() - started
        for node, use in nodes.items():
            seen[node] = max(seen.get(node, 0.0), use["used"])
        reported = any(
            p.stat().st_size and len(pd.read_csv(p)) >= 1
            for p in experiment.glob("trial_*/progress.csv")
        )
        packed = [n for n, use in nodes.items() if use["used"] >= 1.0 - 1e-9]
        if not killed and reported and packed:
            kill_node(packed[0])  # a worker lost mid-search, four trials on it
            killed.append(packed[0])
        time.sleep(0.5)
    ended = time.monotonic()
    reader.join(timeout=10)
    text = "".join(output)
    assert job.returncode == 0, text[-3000:]

    # GPU workers came only once trials queued for them, and four trials shared one GPU
    assert first_gpu_node_after is not None
    assert any(used >= 1.0 - 1e-9 for used in seen.values()), seen
    # the lost node's trials failed once and resumed from their checkpoints elsewhere
    assert killed
    board = pd.read_csv(experiment / "leaderboard.csv")
    search = board[board["optuna_trial"].notna()]  # the references' start points too
    assert len(search) == 4 and (search["status"] == "complete").all(), board
    failed = [e.parent for e in experiment.glob("trial_*/error.txt")]
    assert failed, "no trial failed with its node"
    for trial in failed:
        assert "Failure # 1" in (trial / "error.txt").read_text()
        assert pd.read_csv(trial / "progress.csv")["epoch"].tolist() == [1, 2, 3, 4]
    assert len(seen) >= 2, "the lost node was not replaced"
    # the report has the form a local run's has
    for name in ("leaderboard.csv", "best.json", "test_metrics.json", "MODEL_CARD.md"):
        assert (experiment / name).is_file(), name
    metrics = json.loads((experiment / "test_metrics.json").read_text())
    models = {"answer", "best_trial", "baseline", "seed_recipe"}
    assert set(metrics) == {"format_version", "objective", "technique_finding", "verdict", *models}
    # idle GPU workers are released after the idle timeout
    idle_deadline = time.monotonic() + 60 * IDLE_MINUTES + 90
    while gpu_nodes() and time.monotonic() < idle_deadline:
        time.sleep(1)
    assert gpu_nodes() == {}, "idle GPU workers were kept past the idle timeout"
    # and the autoscaler's log agrees: nodes added only once the search ran, each removed idle
    # the monitor writes a removal's summary on its next round after Ray sees the node gone
    log_deadline = time.monotonic() + 30
    while True:
        events = autoscaler_events(cluster)
        added = [e for e in events if e[1] == "Adding"]
        removed = [e for e in events if e[1] == "Removing"]
        if sum(e[2] for e in removed) >= sum(e[2] for e in added):
            break
        if time.monotonic() > log_deadline:
            break
        time.sleep(1)
    assert added and all(when > started_at for when, *_ in added), events
    assert sum(e[2] for e in added) >= 2  # the first worker, then one in the lost one's place
    assert sum(e[2] for e in removed) == sum(e[2] for e in added), events
    assert all("(idle)" in what for *_, what in removed), events
    print(
        f"first GPU worker {first_gpu_node_after:.0f} s after the search started; most GPU in "
        f"use per node {seen}; killed {killed}; failed and resumed {[t.name for t in failed]}; "
        f"released {time.monotonic() - ended:.0f} s after the search ended; autoscaler: "
        + "; ".join(f"{when:%H:%M:%S} {verb} {n} {what}" for when, verb, n, what in events)
    )
