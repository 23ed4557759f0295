"""cluster.yaml and cluster-onprem.yaml, checked offline with Ray's own schema and cross
checks."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).parents[1]


def load(name: str = "cluster.yaml") -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def test_cluster_yaml_passes_rays_validation():
    config = prepare_config(load())
    validate_config(config)
    nodes = config["available_node_types"]
    assert nodes[config["head_node_type"]]["resources"] == {"CPU": 0}  # no trials on the head
    workers = [n for name, n in nodes.items() if name != config["head_node_type"]]
    assert all(n["min_workers"] == 0 for n in workers)  # idle GPUs cost nothing
    assert config["idle_timeout_minutes"] > 0


def test_the_onprem_file_passes_rays_validation_and_keeps_every_listed_machine():
    raw = load("cluster-onprem.yaml")
    config = prepare_config(raw)
    validate_config(config)
    assert config["provider"]["type"] == "local"
    (workers,) = config["available_node_types"].values()
    # fixed machines: every listed worker started and kept
    assert workers["min_workers"] == workers["max_workers"] == len(raw["provider"]["worker_ips"])


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster-onprem.yaml"])
def test_pinned_ray_matches_the_tested_version(name):
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    (version,) = [line.split("==")[1] for line in lines if line.startswith("ray==")]
    setup = " ".join(load(name)["setup_commands"])
    assert re.findall(r"ray\[[^\]]*\]==([\d.]+)", setup) == [version]
    # this project, at CI's versions
    assert re.search(r"pip install (-q )?-e \. -c constraints\.txt", setup)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "ray[tune]>=2.60,<3" in pyproject["project"]["dependencies"]  # the range holds it


def test_a_typo_is_caught():
    config = load()
    config["available_node_types"]["gpu_1x"]["min_worker"] = 0  # typo of min_workers
    with pytest.raises(Exception, match="min_worker"):
        validate_config(prepare_config(config))
