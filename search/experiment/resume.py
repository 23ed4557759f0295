"""--resume, in one place: what a resumed search checks before it writes anything, and how it
picks up each part where it stopped.

    settings = resumed_settings(flags, given)    # the record's settings win (manifest)
    check_resume(settings, experiment)           # there is one, intact; or there is none
    record_or_check(settings, experiment, data)  # search.json written, or checked against data
    tuner = restore_or_build(settings, experiment, trainable, build)   # the search's Tuner

The reruns (references, members, confirm) restore themselves the same way in
search.tune.reruns.run_configs; a moved or copied experiment resumes where it now is
(search.experiment.relocate); the wave decisions repeat from the same results (search.job).
"""

from __future__ import annotations

import search.tune.quiet_ray  # noqa: F401  (before Ray is imported)

# isort: split
from collections.abc import Callable
from pathlib import Path

import sqlalchemy
from ray import tune

from search.experiment.intact import check_intact
from search.experiment.manifest import check_same_data, write_manifest
from search.experiment.relocate import resuming_at
from search.settings import SearchSettings
from trainable.data import Data
from trainable.errors import UserError


def started(settings: SearchSettings) -> bool:
    """Whether the search has saved a state that --resume can continue."""
    return tune.Tuner.can_restore(settings.tune_path)


def check_resume(settings: SearchSettings, experiment: Path) -> None:
    """--resume of an experiment that is there and whole (every file it reads), or a new
    search where none is: refused in one line otherwise, before anything is written."""
    tune_path = settings.tune_path
    exists = started(settings)
    if settings.resume and not exists:
        raise UserError(f"--resume: no experiment at {tune_path}; check --name and --storage")
    if not settings.resume and exists:
        raise UserError(
            f"{tune_path} already holds an experiment; add --resume to continue "
            "it or pick another --name"
        )
    if settings.resume:
        own_folders = Path(tune_path).resolve() == experiment.resolve()
        check_intact(experiment, settings.name, tune_files=own_folders)


def record_or_check(settings: SearchSettings, experiment: Path, data: Data) -> None:
    """A new search records its settings and data (search.json); a resumed one checks that
    the data is what it was made with."""
    if settings.resume:
        check_same_data(experiment, data)
    else:
        write_manifest(experiment, settings, data)


def restore_or_build(
    settings: SearchSettings, experiment: Path, trainable, build: Callable[[], tune.Tuner]
) -> tune.Tuner:
    """The search's Tuner: restored where it stopped (errored trials retried, a moved or
    copied experiment in place), or `build()` for a new search."""
    if not settings.resume:
        return build()
    with resuming_at(experiment, settings.tune_path):
        try:
            return tune.Tuner.restore(settings.tune_path, trainable, resume_errored=True)
        except sqlalchemy.exc.OperationalError as e:  # made before relocate.py existed
            raise UserError(
                f"cannot open the Optuna study this experiment was made with ({e.orig}); "
                "it predates movable experiments: resume it where it was made"
            ) from None
