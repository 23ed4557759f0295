"""Named search spaces: define-by-run functions of an optuna.Trial.

    from spaces import SPACES, SEED_POINTS
    config = SPACES["focal"](trial)   # knobs for trainable.config.TrainConfig

Ray Tune pickles a define-by-run space by reference, so the functions live in an importable
module (`spaces.catalog`), never in `__main__`.
"""

from spaces.catalog import SEED_POINTS, SPACES, describe_spaces

__all__ = ["SEED_POINTS", "SPACES", "describe_spaces"]
