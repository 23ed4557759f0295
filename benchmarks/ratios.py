"""The search where imbalance is severe: PneumoniaMNIST with its minority class cut.

    python -m benchmarks.ratios run --ratio 10 30 100 shipped --seed 0 1 2   # hours on 2 cores
    python -m benchmarks.ratios analyse       # benchmarks/ratios.json from what run saved

The training split first gives up 624 images (stratified, seed 0), the no-shift test: the
same acquisition as training and validation, unlike the shipped test split (Kermany's test
folder, another acquisition). What is left keeps every pneumonia image and as many normal
images as the ratio allows (1:10, 1:30, 1:100; `shipped` keeps them all, 1:2.9), the same
permutation for every ratio so a rarer carve is a subset of a commoner one. Validation and the
shipped test split are untouched.

On each carve, for each seed: the `full` space's default search, run as a user runs it
(`python -m search.run --space full`, its own process); then every model it trained (its
trials' best checkpoints, the members' runs) and its answer scored on the shipped test and on
the no-shift test; then two ensembles of as many models as the answer holds, one of the
baseline's config and one of the seed recipe's, each model a new training seed, trained here
as the search trains a trial (best validation epoch, the same mean of logits, temperature and
validation-tuned cut as the answer). So the search is measured against the references and
against as much ensembling of them, on images validation never chose on.

`run` keeps everything under results/ratios/ (never the repository) and can be stopped and
started again: a finished step is not redone. `analyse` reads it back.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.fidelity import DATA_DIR
from search.experiment.formats import read_best, read_manifest
from search.experiment.layout import BOARD, TEST_METRICS
from trainable.files import replacing, write_text

OUT = Path("results/ratios")
FIGURES = Path("benchmarks/ratios.json")
SOURCE = DATA_DIR / "pneumoniamnist/pneumoniamnist.npz"
RATIOS = ("10", "30", "100", "shipped")
REFERENCES = ("baseline", "seed_recipe")
ENSEMBLE_SEED0 = 1000  # ensemble models train with seeds 1000 + 10 * search seed + k


def carve(ratio: str, out: Path) -> tuple[Path, Path]:
    """The carve's npz (train cut to the ratio, validation, shipped test) and its no-shift
    test's npz, written once."""
    from trainable.data import load_data

    search_npz, no_shift_npz = out / "data" / f"r{ratio}.npz", out / "data" / "no_shift.npz"
    if search_npz.exists() and no_shift_npz.exists():
        return search_npz, no_shift_npz
    from benchmarks.fidelity import held_out_test

    shipped = load_data(str(SOURCE))
    held = held_out_test(shipped)  # its test split: 624 held-out training images
    train_x, train_y = held.train_x, held.train_y
    keep = np.flatnonzero(train_y != 0)
    normal = np.random.default_rng(0).permutation(np.flatnonzero(train_y == 0))
    n_normal = len(normal) if ratio == "shipped" else round(len(keep) / int(ratio))
    keep = np.sort(np.concatenate([keep, normal[:n_normal]]))
    arrays = {
        "train_images": train_x[keep, 0],
        "train_labels": train_y[keep, None],
        "val_images": shipped.val_x[:, 0],
        "val_labels": shipped.val_y[:, None],
        "test_images": shipped.test_x[:, 0],
        "test_labels": shipped.test_y[:, None],
    }
    search_npz.parent.mkdir(parents=True, exist_ok=True)
    save_npz(search_npz, arrays)
    save_npz(no_shift_npz, {"images": held.test_x[:, 0], "labels": held.test_y})
    return search_npz, no_shift_npz


def save_npz(path: Path, arrays: dict) -> None:
    with replacing(path) as tmp, tmp.open("wb") as f:
        np.savez_compressed(f, **arrays)


def run_search(ratio: str, seed: int, out: Path) -> Path:
    """The full space's default search on the carve, as its own process."""
    search_npz, _ = carve(ratio, out)
    name = f"r{ratio}-seed{seed}"
    experiment = out / "searches" / name
    if (experiment / TEST_METRICS).exists():
        return experiment
    log = out / "logs" / f"{name}.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "search.run", "--space", "full", "--data", str(search_npz),
        "--seed", str(seed), "--storage", str(out / "searches"), "--name", name,
    ]  # fmt: skip
    started = time.monotonic()
    with log.open("w") as console:
        done = subprocess.run(command, stdout=console, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"error: the search {name} failed (exit {done.returncode}); see {log}")
    write_text((experiment / "wall_s.txt"), f"{time.monotonic() - started:.0f}\n")
    return experiment


def best_state(folder: Path, best_epoch: int) -> dict:
    """The checkpoint of the trial's best epoch (Tune keeps the best two)."""
    from trainable.checkpoint import CHECKPOINT_FILE, load_checkpoint

    states = [load_checkpoint(p) for p in sorted(folder.glob(f"checkpoint_*/{CHECKPOINT_FILE}"))]
    found = [s for s in states if s["epoch"] == best_epoch]
    if not found:
        raise SystemExit(f"error: no checkpoint of epoch {best_epoch} in {folder}")
    return found[0]


def score_search(experiment: Path, no_shift_npz: Path) -> None:
    """Every model the search trained and its answer, on validation, the shipped test and the
    no-shift test: positive-class probabilities in scores.npz, the rows in models.json."""
    target = experiment / "scores.npz"
    if target.exists():
        return
    from search.deploy.answer import answer_probabilities, load_answer
    from trainable.data import load_data

    data = load_data(str(carve_of(experiment)))
    no_shift = np.load(no_shift_npz)
    x_no_shift = no_shift["images"][:, None]
    arrays = {"val_y": data.val_y, "test_y": data.test_y, "no_shift_y": no_shift["labels"]}
    with (experiment / BOARD).open() as f:
        rows = list(csv.DictReader(f))
    folders = {p.name: p for p in experiment.rglob("trial_*") if p.is_dir()}
    models = []
    for row in rows:
        if not row["best_epoch"]:
            continue  # a trial that never reported
        state = best_state(folders[row["trial_id"]], int(row["best_epoch"]))
        key = row["trial_id"]
        for split, x in (("val", data.val_x), ("test", data.test_x), ("no_shift", x_no_shift)):
            arrays[f"{key}/{split}"] = _predict(state, x, data)[:, 1].astype(np.float32)
        models.append(
            {
                "trial_id": key,
                "optuna_trial": row["optuna_trial"],
                "role": row["role"],
                "status": row["status"],
                "val_score": float(row["val_balanced_accuracy"]),
                "threshold": state["threshold"],
                "config": state["config"],
            }
        )
    answer = load_answer(experiment)
    for split, x in (("val", data.val_x), ("test", data.test_x), ("no_shift", x_no_shift)):
        arrays[f"answer/{split}"] = answer_probabilities(answer, x)[:, 1].astype(np.float32)
    best = read_best(experiment)
    summary = {
        "models": models,
        "answer": {
            "threshold": answer.threshold,
            "members": [m["trial_id"] for m in best.members],
            "member_kinds": [m["kind"] for m in best.members],
        },
    }
    write_text(experiment / "models.json", json.dumps(summary, indent=1) + "\n")
    save_npz(target, arrays)


def _predict(state: dict, images: np.ndarray, data) -> np.ndarray:
    from trainable.inference import model_from_state, predict
    from trainable.models import pick_device

    device = pick_device("auto")
    shape = data.val_x.shape
    model = model_from_state(state, shape[1], data.num_classes, shape[-1], device)
    return predict(model, images, state["pixel_mean"], state["pixel_std"], device)[0]


def carve_of(experiment: Path) -> Path:
    return Path(read_manifest(experiment).settings["data"])


def train_member(config: dict, carve_npz: str, no_shift_npz: str, target: str) -> str:
    """One model of a reference's ensemble, trained as a search trial is (its best validation
    epoch kept); its positive-class probabilities on every split saved to `target`."""
    import torch

    from trainable.config import TrainConfig
    from trainable.data import load_data
    from trainable.inference import predict
    from trainable.loop import train
    from trainable.models import pick_device

    if Path(target).exists():
        return f"{target}: done before"
    torch.set_num_threads(1)
    started = time.perf_counter()
    data = load_data(carve_npz)
    x_no_shift = np.load(no_shift_npz)["images"][:, None]
    cfg = TrainConfig.from_dict(config)
    device = pick_device(cfg.device)
    best: dict = {"score": -1.0}

    def record(metrics: dict, state_fn) -> None:
        if "val_balanced_accuracy" not in metrics:
            return
        score = metrics["val_balanced_accuracy"]
        if score > best["score"]:
            best.update(score=score, epoch=metrics["epoch"], state=state_fn())

    model = train(cfg, data, record, robust_score=False)
    state = best["state"]
    model.load_state_dict(state["model"])
    arrays = {"epoch": best["epoch"], "threshold": state["threshold"]}
    for split, x in (("val", data.val_x), ("test", data.test_x), ("no_shift", x_no_shift)):
        probs, _ = predict(model, x, state["pixel_mean"], state["pixel_std"], device)
        arrays[split] = probs[:, 1].astype(np.float32)
    save_npz(Path(target), arrays)
    return f"{target}: {time.perf_counter() - started:.0f}s"


def train_ensembles(experiment: Path, ratio: str, seed: int, out: Path) -> None:
    """As many new seeds of each reference's config as the answer holds models."""
    models = json.loads((experiment / "models.json").read_text())
    size = len(models["answer"]["members"])
    configs = {m["role"]: m["config"] for m in models["models"] if m["role"] in REFERENCES}
    search_npz, no_shift_npz = carve(ratio, out)
    jobs = []
    for name in REFERENCES:
        for k in range(size):
            new_seed = ENSEMBLE_SEED0 + 10 * seed + k
            target = out / "ensembles" / f"r{ratio}-seed{seed}" / f"{name}-{new_seed}.npz"
            if not target.exists():
                config = {**configs[name], "seed": new_seed}
                jobs.append((config, str(search_npz), str(no_shift_npz), str(target)))
    if not jobs:
        return
    (out / "ensembles" / f"r{ratio}-seed{seed}").mkdir(parents=True, exist_ok=True)
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        for line in pool.map(train_member, *zip(*jobs, strict=True)):
            print(line, flush=True)


def run(args: argparse.Namespace) -> None:
    for seed in args.seed:
        for ratio in args.ratio:
            started = time.monotonic()
            experiment = run_search(ratio, seed, args.out)
            _, no_shift_npz = carve(ratio, args.out)
            score_search(experiment, no_shift_npz)
            train_ensembles(experiment, ratio, seed, args.out)
            print(f"r{ratio} seed {seed}: {time.monotonic() - started:.0f}s", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("run", help="searches, scores and ensembles (resumable)")
    r.add_argument("--ratio", nargs="+", default=list(RATIOS), choices=RATIOS)
    r.add_argument("--seed", nargs="+", type=int, default=[0, 1, 2])
    r.add_argument("--out", type=Path, default=OUT)
    a = commands.add_parser("analyse", help=f"{FIGURES} from what run saved")
    a.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.command == "run":
        run(args)
    else:
        from benchmarks.ratios_analysis import analyse

        analyse(args.out, FIGURES)


if __name__ == "__main__":
    main()
