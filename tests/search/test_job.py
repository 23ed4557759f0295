"""Starting Ray for a search on this machine."""

import socket
from types import SimpleNamespace

from search.job import member_slots
from search.settings import SearchSettings
from search.tune.preflight import local_address


def test_a_recorded_cluster_that_no_longer_answers_gets_a_new_local_one(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    recorded = tmp_path / "ray_current_cluster"
    assert local_address(recorded) is None  # nothing recorded: Ray starts one itself
    with socket.socket() as closed:  # a port nothing listens on any more
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    recorded.write_text(f"127.0.0.1:{port}")
    assert local_address(recorded, timeout_s=1) == "local"
    assert "does not answer; starting a new one" in capsys.readouterr().out


def test_a_recorded_cluster_that_answers_is_joined(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with socket.socket() as listening:  # a running head node, as far as a connect can tell
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        recorded = tmp_path / "ray_current_cluster"
        recorded.write_text(f"127.0.0.1:{listening.getsockname()[1]}")
        assert local_address(recorded, timeout_s=1) is None
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")  # `ray job submit` sets it: Ray's call
    assert local_address(recorded, timeout_s=1) is None


def test_members_on_cpus_share_the_searchs_cpus_all_at_once():
    default = SearchSettings(space="focal")  # 2 trials at a time, 1 CPU each
    assert member_slots(default, 2) == (2, {"cpu": 1.0, "gpu": 0.0})
    # 3 runs: not 2 waves with a CPU idle in the second, but 3 at once on the same 2 CPUs
    assert member_slots(default, 3) == (3, {"cpu": 2 / 3, "gpu": 0.0})
    on_gpus = SearchSettings(space="focal", gpus_per_trial=0.5)
    assert member_slots(on_gpus, 5) == (2, {"cpu": 1.0, "gpu": 0.5})  # GPU memory: keep slots


def test_a_reference_the_search_trained_from_its_start_point_is_not_trained_again():
    from search.answer.rules import Trial
    from search.job import started_references

    point = {"gamma": 0.0, "alpha": 0.5, "sampler": "none", "aug_strength": 0.0}
    config = {**point, "lr": 3e-3, "seed": 0, "epochs": 10}
    search = [
        Trial("trial_a", 0.97, {**config, "alpha": 0.6}, complete=True),
        Trial("trial_b", 0.98, config, complete=True),
    ]
    found = started_references(search, {"baseline": point, "seed_recipe": {"alpha": 0.63}})
    assert list(found) == ["baseline"]  # no trial holds the recipe's point: trained by the job
    assert (found["baseline"].trial, found["baseline"].kind) == ("trial_b", "baseline")
    # a start point that did not run the full budget (it errored) is no reference
    broken = [Trial("trial_b", None, config, complete=False, errored=True)]
    assert started_references(broken, {"baseline": point}) == {}


def test_confirm_retrains_the_top_configs_under_its_own_folder_for_the_searchs_objective(
    monkeypatch, tmp_path
):
    # run_configs' arguments are keywords: a stray one passed in place moved the objective
    import search.job as job_module
    from search.answer.rules import Trial

    asked = {}

    def run_configs(trainable, configs, **given):
        asked.update(given, configs=configs)
        return "grid"

    monkeypatch.setattr(job_module, "run_configs", run_configs)
    monkeypatch.setattr(job_module, "trial_records", lambda grid, objective, epochs: [])
    monkeypatch.setattr(job_module, "compute_confirm", lambda *args: None)
    monkeypatch.setattr(job_module, "write_confirm", lambda *args: "confirmed")
    settings = SearchSettings(space="focal", data="synthetic", confirm=1, storage=str(tmp_path))
    job = SimpleNamespace(settings=settings, trainable=None, experiment=tmp_path, data=None)
    trial = Trial("trial_a", 0.9, {"loss": "focal", "gamma": 2.0, "seed": 0}, complete=True)
    job_module.confirm_phase(job, [trial])
    assert asked["name"] == "confirm" and asked["objective"] == settings.metric
    assert asked["max_concurrent"] == settings.max_concurrent
    assert len(asked["configs"]) == 3  # the top config, three new seeds
