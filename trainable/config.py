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

# Every technique by name, with the knobs (TrainConfig fields) it adds; each knob's default,
# valid range and search range are declared once, on its field below. Plain data without
# torch, so that the config, the spaces and both commands' --help read them without importing
# it (`--help` took 6.5 s when they lived beside the builders). Each builder table
# (losses.LOSSES, sampling.SAMPLERS and BEFORE_TRAINING, models.MODELS) is keyed by these
# names and refuses to import when it is not (`same_names`).
LOSS_KNOBS: dict[str, tuple[str, ...]] = {
    "ce": (),
    "weighted_ce": ("weight_power",),
    "focal": ("gamma", "alpha"),
}
SAMPLER_KNOBS: dict[str, tuple[str, ...]] = {
    "none": (),
    "oversample": ("sampler_power",),
    "undersample": (),
    "smote": (),
    "smote_tomek": (),
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
# The optimisation steps' arithmetic; validation and every later prediction stay float32.
PRECISIONS = ("auto", "bf16", "fp32")

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


def knob(
    default: Any,
    *,
    valid: tuple[float, float] | None = None,
    choices=None,
    search: tuple[float, float] | list | None = None,
    log: bool = False,
) -> Any:
    """A config field with its default and what it accepts, declared together: a numeric
    range (both ends included; None always passes) or a tuple of names; and where the
    search spaces try it (spaces.catalog.suggest): a float range (`log`: sampled on a log
    scale) or a list of values to choose from."""
    metadata: dict[str, Any] = {"valid": valid} if valid else {}
    metadata |= {"choices": tuple(choices)} if choices else {}
    metadata |= {"search": search, "log": log} if search is not None else {}
    return dataclasses.field(default=default, metadata=metadata)


def search_range(name: str) -> tuple[float, float] | list:
    """Where the spaces try knob `name`: (low, high) or a list of choices."""
    return KNOB_FIELDS[name].metadata["search"]


@dataclass(frozen=True)
class TrainConfig:
    """Validated on construction (`__post_init__`): `TrainConfig(gamma=-1)` raises
    UserError, as does `dataclasses.replace` into a bad value."""

    # imbalance handling
    sampler: str = knob("none", choices=SAMPLER_KNOBS)
    # oversample: 0 = natural draws, 1 = fully balanced draws
    sampler_power: float = knob(1.0, valid=(0.0, 1.0), search=(0.0, 1.0))
    loss: str = knob("ce", choices=LOSS_KNOBS)
    # weighted_ce: class weight (N / n_c) ** weight_power
    weight_power: float = knob(1.0, valid=(0.0, 2.0), search=(0.0, 1.5))
    # focal: focusing parameter; 0 = alpha-weighted cross-entropy
    gamma: float = knob(2.0, valid=(0.0, 10.0), search=(0.0, 5.0))
    # focal: alpha_t of minority classes, 1 - alpha for the majority
    alpha: float | None = knob(None, valid=(0.01, 0.99), search=(0.25, 0.9))
    # 0 = identity; 1 = strongest crop/rotate/shift/flip/intensity
    aug_strength: float = knob(0.25, valid=(0.0, 1.0), search=(0.0, 1.0))
    # extra strength for minority samples
    minority_aug: float = knob(0.0, valid=(0.0, 1.0), search=(0.0, 1.0))
    # Beta(mixup, mixup) blends of image pairs and their losses; 0 = off
    mixup: float = knob(0.0, valid=(0.0, 4.0))
    # model and optimisation
    model: str = knob("small_cnn", choices=MODEL_NAMES)
    weights: str | None = None  # resnet18: local state_dict file (never downloaded)
    lr: float = knob(3e-3, valid=(1e-6, 1.0), search=(3e-4, 1e-2), log=True)
    weight_decay: float = knob(1e-4, valid=(0.0, 1.0), search=(1e-6, 1e-2), log=True)
    batch_size: int = knob(128, valid=(2, 4096), search=[64, 128, 256])
    epochs: int = knob(10, valid=(1, MAX_EPOCHS))
    # epochs between validation passes, each one a report and a checkpoint; the last epoch
    # always validates. The search's default is a tenth of the epochs: 9 of 94 on 500 images.
    eval_every: int = knob(1, valid=(1, MAX_EPOCHS))
    schedule: str = knob("onecycle", choices=SCHEDULES)
    seed: int = knob(0, valid=(0, MAX_SEED))
    device: str = knob("auto", choices=DEVICES)
    # auto: bfloat16 autocast on CUDA and on CPUs with bfloat16 instructions (trainable.models.
    # autocast_dtype), float32 elsewhere
    precision: str = knob("auto", choices=PRECISIONS)
    compile: bool = False  # torch.compile the training forward pass (benchmarks/gpu.py)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if "choices" in field.metadata:
                _choice(field.name, value, field.metadata["choices"])
            if "valid" in field.metadata and value is not None:
                _within(field.name, value, *field.metadata["valid"])
        if self.weights is not None and self.model != "resnet18":
            raise UserError("weights= is only for model 'resnet18'")

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
        return cls(**_coerce(cls, raw))

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


KNOB_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _coerce(cls: type, raw: dict[str, Any]) -> dict[str, Any]:
    """Accept ints for floats (JSON has one number type), reject everything else that mistypes."""
    out = {}
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    for key, value in raw.items():
        kind = types[key]
        # bool is an int to Python: `true` would pass as a learning rate of 1.0
        if (
            kind in ("float", "float | None")
            and isinstance(value, int | float)
            and not (isinstance(value, bool))
        ):
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
