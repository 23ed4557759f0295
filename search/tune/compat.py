"""The private corners of Ray Tune and Optuna this package relies on, in one place, checked
against the versions they were written for (constraints.txt pins the tested ones). No other
module reads or overrides a private name of either library.

    tune_compat.decide_held(tune_controller, trial, "CONTINUE")   # or "STOP"
    tune_compat.proposal_number(trial)                            # 0, 1, 2, ... as created
    tune_compat.reported_results(trial)         # a restored trial's results, as reported
    tune_compat.atomic_local_uploads()          # Tune's state copied whole or not at all
    with tune_compat.own_session_for_ray_processes(): ray.init()  # a group signal: the driver's
    class Searcher(tune_compat.OptunaSearchInternals): ...    # the study, its trials, named
    class Curves(tune_compat.TBXLoggerWithoutHparams): ...    # Tune's curves, no hparams
    tune_compat.point_generator_at(search_generator, "/new/storage/NAME")   # a moved experiment
"""

from __future__ import annotations

import copy
import json
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import optuna
import ray
from optuna.storages import RDBStorage
from ray.air.constants import EXPR_RESULT_FILE
from ray.tune.logger import TBXLoggerCallback
from ray.tune.search.optuna import OptunaSearch

WRITTEN_FOR = {"Ray": ("2.60", ray.__version__), "Optuna": ("5.0", optuna.__version__)}

for _library, (_minor, _installed) in WRITTEN_FOR.items():
    if not _installed.startswith(_minor + "."):  # pragma: no cover - another version
        warnings.warn(
            f"search.tune.compat was written for {_library} {_minor}.x and this is "
            f"{_library} {_installed}: run the tests before trusting a search",
            stacklevel=1,
        )


def decide_held(tune_controller, trial, decision: str) -> None:
    """Carry out CONTINUE or STOP for a trial a scheduler held at a report (it answered NOOP):
    what Tune does itself right after a decision, which it has no public call for when the
    decision comes later. A trial whose report's checkpoint is still being saved gets the
    decision cached, as Tune caches its own then, and acted on once the save is processed:
    a train request beside the save could be answered first and leave the trial waiting,
    and a stop would drop the checkpoint."""
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import TrialScheduler

    controller = getattr(tune_controller, "_tune_controller", tune_controller)  # unwrapped
    if trial.status != Trial.RUNNING:
        return
    if trial.is_saving:
        controller._cached_trial_decisions[trial.trial_id] = decision
    elif decision == TrialScheduler.CONTINUE:
        controller._schedule_trial_train(trial)
    else:
        controller.stop_trial(trial)


def proposal_number(trial) -> int | None:
    """The order in which the searcher made a trial: Tune's experiment tag starts with its
    counter ("3_lr=0.003,..."), which a restored experiment keeps; None where it does not."""
    head = str(getattr(trial, "experiment_tag", "")).split("_", 1)[0]
    return int(head) if head.isdigit() else None


@contextmanager
def own_session_for_ray_processes() -> Iterator[None]:
    """Ray's head processes (GCS, raylet, their agents and the trial workers they fork) start
    in a session of their own while this is open (`ray.init`), not in the driver's process
    group. A scheduler's stop (`timeout`, `kill -- -PGID`) signals the whole group: Ray's
    processes died with the driver's SIGTERM, and the driver, left without its GCS, waited a
    minute and exited 1 with no resume line. Outside the group, the driver alone gets the
    signal, stops its trials through Tune, saves and exits 130; `ray.shutdown()` (and the
    kernel's parent-death signal Ray sets on Linux) still ends them. Ray starts them through
    `ray._private.services.ConsolePopen`, a Popen with no hook for this."""
    from ray._private import services

    plain = services.ConsolePopen

    class OwnSession(plain):
        def __init__(self, *args, **kwargs):
            if sys.platform != "win32":
                kwargs.setdefault("start_new_session", True)
            super().__init__(*args, **kwargs)

    services.ConsolePopen = OwnSession
    try:
        yield
    finally:
        services.ConsolePopen = plain


def reported_results(trial) -> list[dict]:
    """Every result a trial reported before the job stopped, in order: Tune's `result.json`
    (one JSON object per line) in the trial's folder, where its logger writes it (the driver's
    copy), else on the experiment's storage (a cloud URI). [] where neither can be read; a last
    line cut short by the stop is left out. Tune restores a trial's last result only."""
    lines: list[str] = []
    try:  # a trial Tune has not given a folder yet raises RuntimeError here
        local = Path(trial.local_path or "", EXPR_RESULT_FILE)
        if local.is_file():
            lines = local.read_text().splitlines()
        else:
            storage = trial.storage
            path = f"{storage.trial_fs_path}/{EXPR_RESULT_FILE}"
            with storage.storage_filesystem.open_input_stream(path) as stream:
                lines = stream.read().decode().splitlines()
    except (OSError, RuntimeError, UnicodeDecodeError):
        return []
    results = []
    for line in lines:
        try:
            results.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return results


def atomic_local_uploads() -> None:
    """Tune's copies of the experiment's state into a local storage folder (experiment_state,
    the searcher's state, tuner.pkl: the files --resume reads) land whole or not at all: each
    is copied beside its place, then renamed into it. Ray copies them in place
    (`ray.train._internal.storage._pyarrow_fs_copy_files`, pyarrow's copy_files), so a disk
    that filled during a search cut one short, and the resume that should have finished the
    job after space was freed refused it as damaged. In this process (the driver) only;
    cloud storage is left as Ray does it."""
    import os
    import shutil

    import pyarrow.fs
    from ray.train._internal import storage

    from trainable.files import replacing

    plain = storage._pyarrow_fs_copy_files
    if getattr(plain, "atomic", False):
        return

    def copy_files(source, destination, source_filesystem=None, destination_filesystem=None,
                   **kwargs):  # fmt: skip
        local = destination_filesystem is None or isinstance(
            destination_filesystem, pyarrow.fs.LocalFileSystem
        )
        if not local:
            return plain(source, destination, source_filesystem=source_filesystem,
                         destination_filesystem=destination_filesystem, **kwargs)  # fmt: skip
        final = Path(destination)
        if not final.is_dir():  # one file: a state file, whole or as it was
            with replacing(final) as beside:
                plain(source, str(beside), source_filesystem=source_filesystem,
                      destination_filesystem=destination_filesystem, **kwargs)  # fmt: skip
            return None
        # a folder's upload (Ray made the folder, pyarrow fills it): copied into a hidden
        # folder beside it, then each file renamed into place
        beside = final.with_name(f".{final.name}.upload-{os.getpid()}")
        try:
            beside.mkdir(exist_ok=True)
            plain(source, str(beside), source_filesystem=source_filesystem,
                  destination_filesystem=destination_filesystem, **kwargs)  # fmt: skip
            for copied in sorted(p for p in beside.rglob("*") if p.is_file()):
                target = final / copied.relative_to(beside)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(copied, target)
        finally:
            shutil.rmtree(beside, ignore_errors=True)

    copy_files.atomic = True
    storage._pyarrow_fs_copy_files = copy_files


class TBXLoggerWithoutHparams(TBXLoggerCallback):
    """Tune's TensorBoard logger without the hparams it writes when a trial ends (from its last
    epoch, every trial marked finished): search.outputs.board writes them from the leaderboard.
    Tune has no option for it; `_try_log_hparams` is where it writes them."""

    def _try_log_hparams(self, trial, result) -> None:
        pass


class OptunaSearchInternals(OptunaSearch):
    """Tune's OptunaSearch with the parts search.tune.optuna_search needs under public names:
    the study, the Optuna trial behind a Tune trial, the Tune trials already told, a hook once
    the study exists, and failing the trials a stop left RUNNING."""

    @property
    def study(self) -> optuna.Study:
        return self._ot_study

    def optuna_trial(self, trial_id: str) -> optuna.Trial | None:
        """The Optuna trial Tune's `trial_id` was proposed as; None before it is proposed."""
        return self._ot_trials.get(trial_id)

    @property
    def told(self) -> set[str]:
        """Tune trial ids whose outcome the study has been told (Tune's own bookkeeping)."""
        return self._completed_trials

    def _setup_study(self, mode) -> None:
        super()._setup_study(mode)
        self.study_ready()

    def study_ready(self) -> None:
        """Called once the study exists, new or loaded from its storage."""

    def fail_untracked_running(self) -> list[int]:
        """Mark FAIL the study's RUNNING trials this searcher does not track (proposed just
        before a stop, after Tune last saved the searcher) and return their numbers: they
        would stay RUNNING forever. `_trial_id` is the storage key of both Trial and
        FrozenTrial; Optuna has no public one."""
        from optuna.trial import TrialState

        tracked = {trial._trial_id for trial in self._ot_trials.values()}
        storage = self._ot_study._storage
        failed = []
        for trial in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial._trial_id not in tracked:
                storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
                failed.append(trial.number)
        return failed


def point_generator_at(generator, tune_path: str) -> None:
    """Point a restored SearchGenerator's Experiment (which its new trials are made from) at
    `tune_path` (<storage>/<name>). Tune moves the trials it restores to the new place
    (TuneController._restore_trials) but not that Experiment, so trials started after a
    resume wrote their checkpoints where the experiment was made."""
    from ray.train._internal.storage import get_fs_and_path

    parent, _, name = tune_path.rstrip("/").rpartition("/")
    storage = copy.copy(generator._experiment.storage)
    storage.storage_filesystem, storage.storage_fs_path = get_fs_and_path(parent)
    storage.experiment_dir_name = name
    generator._experiment.storage = storage
    generator._experiment.spec["storage"] = storage


class RDBStorageReopened(RDBStorage):
    """Optuna's RDBStorage, which pickles its URL and reconnects to it when unpickled, with a
    say in where: `reopen_at(url)` returns the URL to connect to (the same one here). Optuna
    has no option for it; `__setstate__`'s "url" key is where RDBStorage 5.0 keeps it."""

    def __setstate__(self, state: dict) -> None:
        super().__setstate__({**state, "url": self.reopen_at(state["url"])})

    def reopen_at(self, url: str) -> str:
        return url
