"""Search state pickled in one folder and unpickled inside `resuming_at` another points there."""

import pickle

import optuna
from ray.tune import Experiment

from search.experiment.relocate import ExperimentSearch, experiment_storage, resuming_at
from search.tune.optuna_search import PruningOptunaSearch


def test_the_study_reopens_in_the_folder_it_is_resumed_in(tmp_path):
    made, moved = tmp_path / "made", tmp_path / "moved"
    made.mkdir()
    moved.mkdir()
    study = optuna.create_study(storage=experiment_storage(made), study_name="x")
    study.enqueue_trial({"a": 1})
    frozen = pickle.dumps(study)
    (made / "optuna.db").rename(moved / "optuna.db")  # the experiment moves

    with resuming_at(moved, str(moved)):
        reopened = pickle.loads(frozen)
    assert len(reopened.trials) == 1 and str(moved) in reopened._storage._backend.url
    assert not (made / "optuna.db").exists()  # nothing recreated where it was made


def test_new_trials_after_a_resume_are_made_where_the_experiment_now_is(tmp_path):
    searcher = PruningOptunaSearch(metric="m", mode="max", max_epochs=2)
    generator = ExperimentSearch(searcher)
    generator.add_configurations(
        [Experiment("exp", lambda config: None, storage_path=str(tmp_path / "made"))]
    )
    state = pickle.dumps(generator.get_state())

    with resuming_at(tmp_path / "moved" / "exp", str(tmp_path / "moved" / "exp")):
        generator.set_state(pickle.loads(state))
    storage = generator._experiment.spec["storage"]
    assert storage.experiment_fs_path == str(tmp_path / "moved" / "exp")

    generator.set_state(pickle.loads(state))  # outside a resume: as it was saved
    assert generator._experiment.spec["storage"].experiment_fs_path == str(
        tmp_path / "made" / "exp"
    )
