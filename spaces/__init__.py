"""Named search spaces: define-by-run functions of an optuna.Trial.

    from spaces import SPACES, start_points
    config = SPACES["focal"](trial)   # knobs for trainable.config.TrainConfig
    first = start_points("focal", class_counts=[1214, 3494])   # the references, in its knobs

Ray Tune pickles a define-by-run space by reference, so the functions live in an importable
module (`spaces.catalog`), never in `__main__`.
"""

from spaces.catalog import SPACES, describe_spaces, reference_start_points, start_points

__all__ = ["SPACES", "describe_spaces", "reference_start_points", "start_points"]
