"""One training trial's knobs as plain data, validated once at the edge.

    >>> cfg = TrainConfig.from_dict({"loss": "focal", "gamma": 2.0, "aug_strength": 0.5})
    >>> cfg.loss, cfg.sampler
    ('focal', 'none')

Every knob the search may turn lives here, so a Ray Tune / Optuna config dict is
exactly `dataclasses.asdict(cfg)` minus what it leaves at the default. Unknown keys
and out-of-range values raise `UserError`, which the command lines print as one line.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from trainable.errors import UserError

__all__ = ["BASELINE", "SEED_RECIPE", "TrainConfig", "UserError"]

# Every technique by name, with the knobs it adds and the ranges the search spaces try them
# in. Plain data without torch, so that the config, the spaces and both commands' --help read
# them without importing it (`--help` took 6.5 s when they lived beside the builders). Each
# builder table (losses.LOSSES, sampling.SAMPLERS and BEFORE_TRAINING, models.MODELS) is keyed
# by these names and refuses to import when it is not (`same_names`).
LOSS_KNOBS: dict[str, dict[str, tuple[float, float]]] = {
    "ce": {},
    "weighted_ce": {"weight_power": (0.0, 1.5)},
    "focal": {"gamma": (0.0, 5.0), "alpha": (0.25, 0.9)},
}
SAMPLER_KNOBS: dict[str, dict[str, tuple[float, float]]] = {
    "none": {},
    "oversample": {"sampler_power": (0.0, 1.0)},
    "undersample": {},
    "smote": {},
    "smote_tomek": {},
}
SYNTHETIC_SAMPLERS = ("smote", "smote_tomek")  # rebuild the training set with pixel blends
MODEL_NAMES = ("small_cnn", "resnet18")
# load_data's default, here for the same reason: the commands' --help shows it. Kermany names:
# person123_bacteria_456.jpeg -> person123, IM-0115-0001.jpeg -> IM-0115,
# NORMAL2-IM-1427-0001.jpeg -> NORMAL2-IM-1427. A name that does not match is its own patient.
DEFAULT_PATIENT_PATTERN = r"^(person\d+|(?:NORMAL2-)?IM-\d+)"

SCHEDULES = ("onecycle", "cosine", "none")
MAX_SEED = 2**32 - 1  # numpy and imbalanced-learn refuse larger seeds
MAX_EPOCHS = 1000
DEVICES = ("auto", "cpu", "cuda")

# No imbalance handling at all: what every answer has to beat.
BASELINE: dict[str, Any] = {"sampler": "none", "loss": "ce", "aug_strength": 0.0}

# The seed guide's recipe: oversample the minority class and weight the loss, then tune
# the decision threshold on validation (always done). Each of the two corrections goes
# half way (power 0.5) so that together they balance the classes about once, not twice.
SEED_RECIPE: dict[str, Any] = {
    "sampler": "oversample",
    "sampler_power": 0.5,
    "loss": "weighted_ce",
    "weight_power": 0.5,
}


@dataclass(frozen=True)
class TrainConfig:
    # imbalance handling
    sampler: str = "none"
    sampler_power: float = 1.0  # oversample: 0 = natural draws, 1 = fully balanced draws
    loss: str = "ce"
    weight_power: float = 1.0  # weighted_ce: class weight (N / n_c) ** weight_power
    gamma: float = 2.0  # focal: focusing parameter; 0 = alpha-weighted cross-entropy
    alpha: float | None = None  # focal: alpha_t of minority classes, 1 - alpha for the majority
    aug_strength: float = 0.25  # 0 = identity; 1 = strongest crop/rotate/shift/flip/intensity
    minority_aug: float = 0.0  # extra strength for minority-class samples
    mixup: float = 0.0  # Beta(mixup, mixup) blends of image pairs and their losses; 0 = off
    # model and optimisation
    model: str = "small_cnn"
    weights: str | None = None  # resnet18: local state_dict file (never downloaded)
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    epochs: int = 10
    # epochs between validation passes, each one a report and a checkpoint; the last epoch
    # always validates. The search's default is a tenth of the epochs: 9 of 94 on 500 images.
    eval_every: int = 1
    schedule: str = "onecycle"
    seed: int = 0
    device: str = "auto"
    compile: bool = False  # torch.compile the training forward pass (benchmarks/gpu.py)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        """Validate a plain dict (from JSON, Tune or Optuna) into a config."""
        if not isinstance(raw, dict):
            raise UserError(f"config must be a JSON object, got {type(raw).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise UserError(
                f"unknown config key(s) {unknown}; known keys: {', '.join(sorted(known))}"
            )
        cfg = cls(**_coerce(cls, raw))
        cfg._check()
        return cfg

    @classmethod
    def from_json(cls, text: str, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """Parse a JSON object (the --config flag); `overrides` win over its keys."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"--config is not valid JSON ({e.msg} at char {e.pos})") from None
        if not isinstance(raw, dict):
            raise UserError('--config must be a JSON object like \'{"loss": "focal"}\'')
        return cls.from_dict({**raw, **(overrides or {})})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def _check(self) -> None:
        _choice("sampler", self.sampler, tuple(SAMPLER_KNOBS))
        _choice("loss", self.loss, tuple(LOSS_KNOBS))
        _choice("model", self.model, MODEL_NAMES)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("device", self.device, DEVICES)
        _within("sampler_power", self.sampler_power, 0.0, 1.0)
        _within("weight_power", self.weight_power, 0.0, 2.0)
        _within("gamma", self.gamma, 0.0, 10.0)
        if self.alpha is not None:
            _within("alpha", self.alpha, 0.01, 0.99)
        _within("aug_strength", self.aug_strength, 0.0, 1.0)
        _within("minority_aug", self.minority_aug, 0.0, 1.0)
        _within("mixup", self.mixup, 0.0, 4.0)
        _within("lr", self.lr, 1e-6, 1.0)
        _within("weight_decay", self.weight_decay, 0.0, 1.0)
        _within("batch_size", self.batch_size, 2, 4096)
        _within("epochs", self.epochs, 1, MAX_EPOCHS)
        _within("eval_every", self.eval_every, 1, MAX_EPOCHS)
        _within("seed", self.seed, 0, MAX_SEED)
        if self.weights is not None and self.model != "resnet18":
            raise UserError("weights= is only for model 'resnet18'")


def _coerce(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    """Accept ints for floats (JSON has one number type), reject everything else that mistypes."""
    out = {}
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    for key, value in raw.items():
        kind = types[key]
        if kind in ("float", "float | None") and isinstance(value, int | float):
            value = float(value)
        ok = {
            "str": isinstance(value, str),
            "str | None": value is None or isinstance(value, str),
            "float": isinstance(value, float),
            "float | None": value is None or isinstance(value, float),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
        }[kind]
        if isinstance(value, bool) and kind != "bool":
            ok = False
        if not ok:
            raise UserError(f"config key {key!r} must be {kind}, got {value!r}")
        out[key] = value
    return out


def _choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        raise UserError(f"{name} must be one of {', '.join(options)}; got {value!r}")


def _within(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise UserError(f"{name} must be in [{low}, {high}]; got {value!r}")


def same_names(kind: str, builders: dict, names) -> None:
    """A builder table names exactly the techniques the config accepts, in the same order."""
    if list(builders) != list(names):
        raise TypeError(f"{kind} builders {list(builders)} differ from the config's {list(names)}")
