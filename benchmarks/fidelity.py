"""Selection fidelity: which validation score, and which answer procedure, predicts test?

    python -m benchmarks.fidelity train --setting small500 --folds 3    # 17 min on 2 CPU cores
    python -m benchmarks.fidelity train --setting kermany64 --folds 3 --workers 8 --threads 1
    python -m benchmarks.fidelity analyse --out results/fidelity        # tables, fidelity.json

On one H200, 8 workers, the 81 trainings of --folds 3 took 147 s (kermany64), 85 s
(pneumoniamnist) and 32 s (small500); docs/answer-rule.md has the commands behind its tables.

`train` draws a fixed, seeded set of configs from the `full` space (Optuna's RandomSampler,
saved to <out>/configs.json so every setting and machine trains the same ones), adds the two
references, trains each to its full budget and records, per epoch, the pneumonia probability
each model gives every validation and test image; at the last epoch also on shifted
validation copies (MedMNIST-C severities 3 and 5, the current `robust` battery), on
horizontally flipped images (test-time augmentation), and on test copies with one MedMNIST-C
family applied to every image (`test_<family><severity>`, a site whose scanner differs).
With --folds K each config is also trained on K-1 reshuffled train/validation carves
(patient-grouped for folders), the material for cross-validation and reshuffled-holdout
scores.

`analyse` computes every candidate score and answer procedure from those files, so a new
candidate costs no training: Spearman correlation with test balanced accuracy, regret of the
config it picks among all of them, and, over many random 12-config "searches", the answer's
mean test balanced accuracy and how often it beats each reference. This is the one place that
reads test splits before the end, to choose the method; nothing here feeds a search.

Settings: pneumoniamnist (28 px npz), small500 (its training split cut to 500 images,
stratified, seed 0), kermany64 (the chest_xray folder at 64 px, patient-grouped carve); and
the first two without shift (`_iid`: the test split replaced by held-out training images).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np

from trainable.files import replacing, write_text

DATA_DIR = Path(os.environ.get("IMBALANCE_DATA_DIR", Path(__file__).parents[2] / "shared/data"))
SETTINGS = {
    "pneumoniamnist": {"source": "pneumoniamnist/pneumoniamnist.npz"},
    "small500": {"source": "pneumoniamnist/pneumoniamnist.npz", "train_subsample": 500},
    "kermany64": {"source": "chest_xray", "size": 64},
    # No shift: the test split replaced by images held out of the training split (same
    # acquisition), to tell what holds under shift from what holds everywhere.
    "pneumoniamnist_iid": {"source": "pneumoniamnist/pneumoniamnist.npz", "iid_test": True},
    "small500_iid": {
        "source": "pneumoniamnist/pneumoniamnist.npz",
        "iid_test": True,
        "train_subsample": 500,
    },
}
SEVERITIES = (3, 5)


# --- training and recording ---------------------------------------------------------------


def draw_configs(n: int, seed: int, epochs: int) -> dict[str, dict]:
    """n configs from the `full` space by Optuna's RandomSampler, plus the references and the
    trainable's defaults; names, not positions, tie results to configs."""
    import optuna

    from search.answer.references import REFERENCES
    from spaces import SPACES
    from trainable.config import TrainConfig

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    configs = {}
    for i in range(n):
        trial = study.ask()
        fixed = SPACES["full"](trial)
        configs[f"c{i:02d}"] = {**trial.params, **fixed}
        study.tell(trial, 0.0)
    configs |= {name: dict(knobs) for name, knobs in REFERENCES.items()}
    configs["default"] = {}
    return {
        name: TrainConfig.from_dict({**knobs, "epochs": epochs, "seed": seed}).to_dict()
        for name, knobs in configs.items()
    }


@cache
def setting_data(setting: str, fold: int):
    """The setting's data; fold 0 is its own split, fold f > 0 a reshuffled carve."""
    from trainable.data import load_data, subsample_train

    spec = SETTINGS[setting]
    source = str(DATA_DIR / spec["source"])
    data = load_data(
        source,
        size=spec.get("size"),
        seed=fold if Path(source).is_dir() else 0,  # a folder is carved with this seed
    )
    if spec.get("iid_test"):
        data = held_out_test(data)
    if spec.get("train_subsample"):
        data = subsample_train(data, spec["train_subsample"], seed=0)
    if fold and not Path(source).is_dir():
        data = reshuffle(data, fold)
    return data


def held_out_test(data):
    """Replace the test split by as many training images, stratified (seed 0)."""
    from sklearn.model_selection import train_test_split

    from trainable.data import Data

    fit, test = train_test_split(
        np.arange(len(data.train_y)),
        test_size=len(data.test_y),
        stratify=data.train_y,
        random_state=0,
    )
    x, y = data.train_x, data.train_y
    return Data(x[fit], y[fit], data.val_x, data.val_y, x[test], y[test], data.classes)


def reshuffle(data, seed: int):
    """Pool train and validation and carve a validation split of the same size and class mix
    again (PneumoniaMNIST's validation split is itself a random 10% of Kermany's training)."""
    from sklearn.model_selection import train_test_split

    from trainable.data import Data

    x = np.concatenate([data.train_x, data.val_x])
    y = np.concatenate([data.train_y, data.val_y])
    fit, val = train_test_split(
        np.arange(len(y)), test_size=len(data.val_y), stratify=y, random_state=seed
    )
    return Data(x[fit], y[fit], x[val], y[val], data.test_x, data.test_y, data.classes)


def train_one(setting: str, name: str, config: dict, fold: int, out: Path, threads: int) -> str:
    """Train one config on one fold and save its probabilities as <out>/<name>_f<fold>.npz."""
    import torch

    from trainable.config import TrainConfig
    from trainable.inference import predict
    from trainable.loop import train
    from trainable.models import make_model, pick_device
    from trainable.robustness import (
        SITE_CORRUPTIONS,
        corrupt_site,
        corrupt_validation,
        perturb_validation,
    )

    target = out / f"{name}_f{fold}.npz"
    if target.exists():
        return f"{setting} {name} fold {fold}: done before"
    torch.set_num_threads(threads)
    started = time.perf_counter()
    data = setting_data(setting, fold)
    cfg = TrainConfig.from_dict(config)
    device = pick_device(cfg.device)
    model = make_model(cfg.model, data.train_x.shape[1], data.num_classes, data.train_x.shape[-1])
    model = model.to(device, memory_format=torch.channels_last)
    per_epoch: dict[str, list] = {"val": [], "test": [], "val_loss": []}
    last: dict[str, np.ndarray] = {}

    def p1(images: np.ndarray, state: dict) -> np.ndarray:
        probs, _ = predict(model, images, state["pixel_mean"], state["pixel_std"], device)
        return probs[:, 1].astype(np.float32)

    def record(metrics: dict, state_fn) -> None:
        state = state_fn()
        model.load_state_dict(state["model"])
        per_epoch["val"].append(p1(data.val_x, state))
        per_epoch["val_loss"].append(metrics["val_loss"])
        if fold == 0:
            per_epoch["test"].append(p1(data.test_x, state))
        if metrics["epoch"] == cfg.epochs:
            last["val_robust"] = p1(perturb_validation(data.val_x), state)
            for s in SEVERITIES:
                last[f"val_shift{s}"] = p1(corrupt_validation(data.val_x, s), state)
            last["val_flip"] = p1(np.ascontiguousarray(data.val_x[..., ::-1]), state)
            if fold == 0:
                last["test_flip"] = p1(np.ascontiguousarray(data.test_x[..., ::-1]), state)
                for family in SITE_CORRUPTIONS:  # one scanner's shift on every test image
                    for s in SEVERITIES:
                        site = corrupt_site(data.test_x, family, s)
                        last[f"test_{family}{s}"] = p1(site, state)

    train(cfg, data, record)
    arrays = {k: np.array(v) for k, v in per_epoch.items() if v} | last
    arrays |= {"val_y": data.val_y, "test_y": data.test_y}
    out.mkdir(parents=True, exist_ok=True)
    with replacing(target) as tmp, tmp.open("wb") as f:
        np.savez_compressed(f, **arrays)
    return f"{setting} {name} fold {fold}: {time.perf_counter() - started:.1f}s on {device}"


def run_training(args: argparse.Namespace) -> None:
    out = args.out / args.setting
    configs_file = args.out / "configs.json"
    if configs_file.exists():
        configs = json.loads(configs_file.read_text())
    else:
        configs = draw_configs(args.configs, args.seed, args.epochs)
        configs_file.parent.mkdir(parents=True, exist_ok=True)
        write_text(configs_file, json.dumps(configs, indent=1) + "\n")
    jobs = [(name, cfg, fold) for fold in range(args.folds) for name, cfg in configs.items()]
    print(f"{args.setting}: {len(configs)} configs x {args.folds} fold(s) -> {out}", flush=True)
    started = time.perf_counter()
    if args.workers == 1:
        for name, cfg, fold in jobs:
            print(train_one(args.setting, name, cfg, fold, out, args.threads), flush=True)
    else:
        import multiprocessing

        setting_data(args.setting, 0)  # decode a folder once, into the cache workers read
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.workers, mp_context=context) as pool:
            futures = [
                pool.submit(train_one, args.setting, name, cfg, fold, out, args.threads)
                for name, cfg, fold in jobs
            ]
            for f in futures:
                print(f.result(), flush=True)
    provenance = out / "provenance.json"
    write_text(
        provenance, json.dumps(provenance_of(time.perf_counter() - started, args), indent=1) + "\n"
    )


def provenance_of(seconds: float, args: argparse.Namespace) -> dict:
    from benchmarks.provenance import provenance

    return {**provenance(), "seconds": round(seconds, 1), "workers": args.workers}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fidelity", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the configs of one setting and record them")
    t.add_argument("--setting", choices=tuple(SETTINGS), required=True)
    t.add_argument("--configs", type=int, default=24, help="configs drawn from `full`")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--seed", type=int, default=0, help="config draw and training seed")
    t.add_argument("--folds", type=int, default=1, help="1 + reshuffled carves per config")
    t.add_argument("--workers", type=int, default=1, help="configs trained at once")
    t.add_argument("--threads", type=int, default=2, help="torch threads per worker")
    t.add_argument("--out", type=Path, default=Path("results/fidelity"))
    a = sub.add_parser("analyse", help="scores and procedures from the recorded files")
    a.add_argument(
        "--out", type=Path, action="append", help="run folder(s); default results/fidelity"
    )
    a.add_argument("--subsets", type=int, default=300, help="random searches per setting")
    a.add_argument("--trials", type=int, default=12, help="configs per random search")
    a.add_argument("--json", type=Path, default=Path("benchmarks/fidelity.json"))
    args = p.parse_args(argv)
    if args.command == "train":
        run_training(args)
    else:
        from benchmarks.fidelity_analysis import analyse

        analyse(args.out or [Path("results/fidelity")], args.subsets, args.trials, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
