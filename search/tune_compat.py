"""The private corners of Ray Tune this package relies on, in one place, checked against the
versions they were written for (constraints.txt pins the tested ones).

    tune_compat.continue_trial(tune_controller, trial)   # a held trial's next report
"""

from __future__ import annotations

import ray

WRITTEN_FOR = "2.60"  # the Ray minor version these calls were read from

if not ray.__version__.startswith(WRITTEN_FOR):  # pragma: no cover - another Ray
    import warnings

    warnings.warn(
        f"search.tune_compat was written for Ray {WRITTEN_FOR}.x and this is Ray "
        f"{ray.__version__}: run the tests before trusting a search",
        stacklevel=1,
    )


def continue_trial(tune_controller, trial) -> None:
    """Ask a trial held at a report (the scheduler answered NOOP) for its next one: what Tune
    does itself after CONTINUE. Tune has no public call for a decision made later."""
    from ray.tune.experiment import Trial

    if trial.status == Trial.RUNNING:
        tune_controller._schedule_trial_train(trial)
