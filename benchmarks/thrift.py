"""Search thrift: what TPE + ASHA spends and finds against random search with no early stopping.

    python -m benchmarks.run --only thrift     # 3 seeds, grace periods 1 and 3

Every search is the product's own (`search.job.build_tuner`), differing only in --sampler,
--scheduler and --grace-period: same space, same trial budget, same seed point, one trial at a
time with 2 CPUs so that a seed repeats exactly on CPU. Compute is counted in epochs trained;
the score is the best validation balanced accuracy any trial reached at any epoch (a trial's
leaderboard score; the answer itself is a mean of models, search/answer/rules.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ray import tune

from search.job import build_tuner
from search.settings import SearchSettings
from trainable.data import Data
from trainable.ray_trainable import train_trial


def search_cost(
    data: Data,
    sampler: str,
    scheduler: str,
    grace: int,
    seed: int,
    trials: int,
    epochs: int,
    space: str,
    storage: Path,
) -> dict:
    """Run one search; return the epochs it trained and the best score it reached."""
    settings = SearchSettings(
        space=space,
        sampler=sampler,
        scheduler=scheduler,
        grace_period=grace,
        seed=seed,
        num_samples=trials,
        epochs=epochs,
        max_concurrent=1,
        cpus_per_trial=2,
        name=f"{sampler}-{scheduler}{grace}-seed{seed}",
        storage=str(storage),
    )
    experiment = settings.report_dir
    experiment.mkdir(parents=True, exist_ok=True)
    trainable = tune.with_resources(tune.with_parameters(train_trial, data=data), {"cpu": 2})
    counts = np.bincount(data.train_y, minlength=data.num_classes).tolist()
    results = build_tuner(settings, trainable, experiment, counts).fit()
    objective = settings.metric
    histories = [r.metrics_dataframe for r in results if r.metrics_dataframe is not None]
    return {
        "epochs_trained": int(sum(len(h) for h in histories)),
        "best_val_balanced_accuracy": float(max(h[objective].max() for h in histories)),
        "trials": len(histories),
    }


def compare_searches(
    data: Data,
    seeds: list[int],
    trials: int,
    epochs: int,
    graces: list[int],
    storage: Path,
    space: str = "focal",
) -> dict:
    """Random search without early stopping, then TPE + ASHA with each grace period, for every
    seed; then per search the total epochs, their ratio to random's and the mean best score."""
    searches = {"random_full": ("random", "none", 1)}
    searches |= {f"tpe_asha_grace{g}": ("tpe", "asha", g) for g in graces}
    runs = {name: [] for name in searches}
    for seed in seeds:
        for name, (sampler, scheduler, grace) in searches.items():
            cost = search_cost(
                data, sampler, scheduler, grace, seed, trials, epochs, space, storage
            )
            runs[name].append({"seed": seed, **cost})
            print(
                f"   seed {seed} {name}: {cost['epochs_trained']} epochs, best val balanced "
                f"accuracy {cost['best_val_balanced_accuracy']:.4f}",
                flush=True,
            )
    random_epochs = sum(r["epochs_trained"] for r in runs["random_full"])
    random_best = np.mean([r["best_val_balanced_accuracy"] for r in runs["random_full"]])
    summary = {}
    for name, rows in runs.items():
        mean_best = float(np.mean([r["best_val_balanced_accuracy"] for r in rows]))
        summary[name] = {
            "epochs_trained": sum(r["epochs_trained"] for r in rows),
            "epochs_ratio": sum(r["epochs_trained"] for r in rows) / random_epochs,
            "mean_best": mean_best,
            "mean_best_difference": mean_best - float(random_best),
        }
    return {
        "space": space,
        "seeds": seeds,
        "trials": trials,
        "epochs": epochs,
        "runs": runs,
        "summary": summary,
        # One validation image of the smaller class moves balanced accuracy by 1 / (2 n_min):
        # smaller differences are noise, not a better or worse search.
        "one_validation_image": 1 / (2 * int(np.bincount(data.val_y).min())),
    }
