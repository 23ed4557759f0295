"""Fixed configs trained to the last epoch beside the search: the answer's members that ASHA
stopped early, the reference rows, and --confirm.

    results = run_configs(trainable, configs, storage="/abs/results/NAME", name="references",
                          objective="val_balanced_accuracy", max_concurrent=2)

The search's own scores come from ASHA-shortened trials and one validation split. The report
needs what a user would compare against, trained exactly as long: the plain baseline and the
seed recipe (`references`); the answer's members at their full budget (`members`: the top
trials ASHA stopped, trained again to the last epoch with the same config and seed); and,
with --confirm K, the top K configs retrained with new seeds (`confirm`), because a single
validation score of a few hundred images is noisy. These are ordinary Tune trials (so they
run on the cluster too), in sub-folders of the experiment that TensorBoard shows beside the
search's trials, and `--resume` finishes them like the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ray import tune
from ray.tune import ResultGrid
from ray.tune.search.basic_variant import BasicVariantGenerator

from search.answer.names import member_folder, search_folder, technique_label, trial_folder
from search.answer.references import reference_role, same_config
from search.answer.rules import Member
from search.tune.callbacks import TrialCurves
from search.tune.interrupt import fit
from search.tune.progress import Progress
from trainable.config import TrainConfig


def run_configs(
    trainable,
    configs: list[dict],
    *,
    storage: str,
    name: str,
    objective: str,
    max_concurrent: int,
    runs_after: tuple[int, ...] = (),
    dirname: Callable | None = None,
) -> ResultGrid:
    """Train each config to its last epoch (no early stopping) as experiment storage/name;
    an interrupted one is resumed. `runs_after`: the runs of the job's later phases, for the
    time left its console shows; `dirname(trial)`: each run's folder (trial_<id> if None)."""
    if tune.Tuner.can_restore(f"{storage}/{name}"):
        return fit(tune.Tuner.restore(f"{storage}/{name}", trainable, resume_errored=True))
    # Every point carries every knob; param_space only has to name them for Tune to fill in.
    tuner = tune.Tuner(
        trainable,
        param_space=TrainConfig().to_dict(),
        tune_config=tune.TuneConfig(
            # the generator's own limit: Tune ignores max_concurrent_trials for a generator
            # (a --max-concurrent 1 search trained its two references at once)
            search_alg=BasicVariantGenerator(
                points_to_evaluate=configs, max_concurrent=max_concurrent
            ),
            num_samples=len(configs),
            metric=objective,
            mode="max",
            reuse_actors=True,
            trial_dirname_creator=dirname or trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage,
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=1, checkpoint_score_attribute=objective, checkpoint_score_order="max"
            ),
            callbacks=[  # the report writes the hparams (search/outputs/board.py)
                Progress(
                    len(configs),
                    objective,
                    configs[0]["epochs"],
                    name.removesuffix("s"),
                    concurrency=max_concurrent,
                    runs_after=runs_after,
                ),
                TrialCurves(),
            ],
            verbose=0,
        ),
    )
    return fit(tuner)


def reference_dirname(trial, references: dict[str, dict]) -> str:
    """A reference's folder is its role (references/baseline, references/seed_recipe), so
    TensorBoard's runs and the leaderboard's trial_id say which it is."""
    return reference_role(trial.config, references)


def trial_dirname(trial) -> str:
    """A run's folder: Tune's id and what sets it apart, e.g. trial_e36a1_00000_oversample-focal
    (Tune's default packs every knob in)."""
    return trial_folder(trial.trial_id, technique_label(trial.config))


def search_dirname(trial, start_points: dict[str, dict]) -> str:
    """A search trial's folder: its role where it is a reference's start point."""
    return search_folder(trial.trial_id, trial.config, start_points)


def member_dirname(trial, plan: Sequence[Member]) -> str:
    """A member run's folder: which kind of which search trial, matched to the plan by config
    (every knob and the seed)."""
    member = next((m for m in plan if same_config(m.config, trial.config)), None)
    return member_folder(trial.trial_id, member)
