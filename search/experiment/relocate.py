"""A moved or copied experiment resumes where it now is, not where it was made.

    tuner = tune.Tuner(..., tune_config=tune.TuneConfig(
        search_alg=ExperimentSearch(ConcurrencyLimiter(PruningOptunaSearch(
            ..., storage=experiment_storage(folder)), max_concurrent=2)), ...))
    with resuming_at(folder, tune_path):       # around Tuner.restore and tuner.fit
        ...

Tune pickles the search algorithm into the experiment (tuner.pkl, search_gen_state-*.json) and
two things in it keep the absolute path of the place the experiment was made:
- optuna's RDBStorage pickles its URL, so the resumed study would be the original's (or a
  sqlalchemy traceback when that is gone);
- Tune's SearchGenerator keeps the Experiment its new trials are made from; Tune moves the
  trials it restores to the new place (TuneController._restore_trials, ray 2.60) but not that
  Experiment, so trials started after a resume wrote their checkpoints into the original.
Both are pointed at the new place while `resuming_at` is active. Written here because neither
library has an option for it (search.tune.compat touches what Tune's own restore sets).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ray.tune.search import SearchGenerator

from search.experiment.layout import STUDY
from search.tune.compat import RDBStorageReopened, point_generator_at


@dataclass(frozen=True)
class Place:
    folder: Path  # the experiment folder holding the Optuna study
    tune_path: str  # <storage>/<name> as Tune sees it (a local path or a cloud URI)


_resuming: Place | None = None  # set only inside `resuming_at`


@contextmanager
def resuming_at(folder: Path, tune_path: str) -> Iterator[None]:
    """Search state unpickled in this block (by Tuner.restore, and when fit starts) points at
    `folder` and `tune_path`, wherever the experiment was made."""
    global _resuming
    _resuming = Place(Path(folder), tune_path)
    try:
        yield
    finally:
        _resuming = None


def study_url(folder: Path) -> str:
    return f"sqlite:///{Path(folder).resolve() / STUDY}"


class ExperimentStorage(RDBStorageReopened):
    """The experiment's SQLite study, reopened in the experiment's folder when unpickled."""

    def reopen_at(self, url: str) -> str:
        return study_url(_resuming.folder) if _resuming is not None else url


def experiment_storage(folder: Path) -> ExperimentStorage:
    return ExperimentStorage(study_url(folder))


class ExperimentSearch(SearchGenerator):
    """Tune's SearchGenerator, whose trials after a resume go where the experiment now is."""

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        if _resuming is not None:
            point_generator_at(self, _resuming.tune_path)
