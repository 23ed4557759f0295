r"""Train one config from the command line: a line per epoch, metrics.json and a checkpoint.

    python -m trainable.train --data ../shared/data/pneumoniamnist/pneumoniamnist.npz \
        --config '{"loss": "focal", "gamma": 2.0, "aug_strength": 0.5}' --epochs 10 --out runs/x

Add --evaluate-test to score the test split once, at the validation-tuned threshold and at 0.5,
into runs/x/test_metrics.json; --resume continues from runs/x/checkpoint.pt. The loop itself is
`trainable.loop.train`, the one Ray Tune runs too. This module imports torch only once the
flags are read, so --help answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from trainable.cli import (
    HelpWithDefaults,
    OneLineParser,
    add_data_flags,
    command_name,
    data_options,
    help_text,
)
from trainable.config import TrainConfig, UserError


def resumed_config(start: dict, config_json: str | None, overrides: dict) -> TrainConfig:
    """The checkpoint's config; a --config, --epochs or --seed that contradicts it is refused
    (OneCycle's schedule is fixed by the epochs it started with, so it cannot be extended)."""
    recorded = TrainConfig.from_dict(start["config"])
    if config_json is None:
        wanted = TrainConfig.from_dict({**recorded.to_dict(), **overrides})
    else:
        wanted = TrainConfig.from_json(config_json, overrides)
    changed = {
        k: (v, getattr(wanted, k))
        for k, v in recorded.to_dict().items()
        if v != getattr(wanted, k) and k != "device"
    }
    if changed:
        said = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items())
        raise UserError(
            f"--resume with another config ({said}); resume with the flags it was trained "
            "with (or none), or start a new --out"
        )
    return wanted


def earlier_history(metrics_path: Path, epochs_done: int) -> list[dict]:
    if not metrics_path.exists():
        return []
    try:
        history = json.loads(metrics_path.read_text()).get("history", [])
    except (OSError, json.JSONDecodeError, AttributeError):
        return []  # unreadable: the new epochs are still recorded
    return [m for m in history if m.get("epoch", 0) <= epochs_done]


def format_epoch(m: dict, epochs: int) -> str:
    parts = [
        f"epoch {m['epoch']:>3}/{epochs}",
        f"train_loss {m['train_loss']:.4f}",
        f"val_loss {m['val_loss']:.4f}",
        f"bal_acc {m['val_balanced_accuracy']:.4f}",
        f"robust {m['val_robust_balanced_accuracy']:.4f}",
    ]
    if "val_threshold" in m:
        parts += [
            f"(@0.5 {m['val_balanced_accuracy_05']:.4f}, thr {m['val_threshold']:.3f})",
            f"sens {m['val_sensitivity']:.3f} spec {m['val_specificity']:.3f}",
        ]
    parts += [f"auc {m['val_roc_auc']:.4f}", f"{m['epoch_time_s']:.1f}s"]
    return "  ".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun with --resume to continue from the last epoch", file=sys.stderr)
        return 130
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = OneLineParser(
        prog=command_name("trainable.train", "imbalance-train"),
        description=help_text(__doc__, "trainable.train", "imbalance-train", paragraphs=2),
        formatter_class=HelpWithDefaults,
    )
    add_data_flags(p)
    p.add_argument(
        "--config",
        help="JSON object of knobs, docs/training.md (default: every knob at its default; with "
        "--resume, the checkpoint's)",
    )
    p.add_argument(
        "--epochs", type=int, help="overrides the config's epochs (default: the config's)"
    )
    p.add_argument("--seed", type=int, help="overrides the config's seed (default: the config's)")
    p.add_argument(
        "--out", type=Path, required=True, help="folder for metrics and checkpoint (required)"
    )
    p.add_argument(
        "--evaluate-test",
        action="store_true",
        help="after training, score the test split once into test_metrics.json",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    # Here, not at the top: they import torch, which --help should not wait for.
    from trainable.checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
    from trainable.data import load_data
    from trainable.files import write_json
    from trainable.inference import evaluate_checkpoint
    from trainable.loop import train
    from trainable.models import pick_device

    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out} is a file; give a folder (new or existing) for the run")
    checkpoint_path = args.out / CHECKPOINT_FILE
    start = load_checkpoint(checkpoint_path) if args.resume and checkpoint_path.exists() else None
    if args.resume and start is None:
        raise UserError(f"--resume: no checkpoint at {checkpoint_path}; run without --resume")
    if start is None:
        cfg = TrainConfig.from_json(args.config or "{}", overrides)
    else:
        cfg = resumed_config(start, args.config, overrides)
        if start["epoch"] >= cfg.epochs:
            print(f"already finished: {args.out} holds all {cfg.epochs} epochs; nothing to do")
            return
    device = pick_device(cfg.device)
    data = load_data(args.data, **data_options(args))
    if args.evaluate_test and len(data.test_y) == 0:  # refused before training, not after it
        raise UserError(
            f"--evaluate-test: {args.data} has no test split; add a test/ folder (or "
            "test_images to the npz), or train without --evaluate-test"
        )
    print(data.describe())
    print(f"device {device}, config {json.dumps(cfg.to_dict())}", flush=True)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(
            f"cannot create --out {args.out} ({e.strerror or e}); choose another folder"
        ) from None

    # The epochs before a resume, from the metrics.json written after each of them.
    history = earlier_history(args.out / "metrics.json", start["epoch"]) if start else []

    def summary() -> dict:
        final = history[-1] if history else {}
        return {
            "data": args.data,
            "classes": data.classes,
            "config": cfg.to_dict(),
            "epochs_run": final.get("epoch", 0),
            "threshold": final.get("val_threshold"),
            "val": {k.removeprefix("val_"): v for k, v in final.items() if k.startswith("val_")},
            "history": history,
        }

    def report(metrics: dict, state: Callable[[], dict]) -> None:
        history.append(metrics)
        print(format_epoch(metrics, cfg.epochs), flush=True)
        save_checkpoint(state(), checkpoint_path)
        write_json(args.out / "metrics.json", summary())  # an interrupted run keeps its epochs

    train(cfg, data, report, start)
    threshold = summary()["threshold"]
    print(f"wrote {args.out / 'metrics.json'}")
    if args.evaluate_test:
        test = evaluate_checkpoint(load_checkpoint(checkpoint_path), data, "test")
        write_json(args.out / "test_metrics.json", {"threshold": threshold, "test": test})
        print("test  " + "  ".join(f"{k} {v:.4f}" for k, v in test.items()))
        print(f"wrote {args.out / 'test_metrics.json'}")


if __name__ == "__main__":
    sys.exit(main())
