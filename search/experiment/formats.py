"""The JSON files a search and its commands write, each with its format version, each read
through one typed reader here. Nothing heavy is imported: predict and export read them too.

    write_record(experiment / BEST, {"answer": {...}, ...})   # stamped, whole or as it was
    best = read_best(experiment)            # Best: members, cut, temperature, sensitivity cuts
    report = read_test_metrics(experiment)  # TestMetrics: verdict, finding, each model's figures
    manifest = read_manifest(experiment)    # Manifest: settings, data, preprocessing; or None

Files: search.json (experiment.manifest writes it), best.json, test_metrics.json and
confirm.json (outputs.report), an export's answer.json (export) and predict's <out>.adapt.json.
A file without `format_version` was written before it was recorded and reads as version 0; one
of a newer version than FORMAT_VERSION is refused in one line (a newer imbalance-search wrote
it): fields may have changed meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.experiment.damage import check_json, damaged
from search.experiment.layout import BEST, MANIFEST, SHAPE, TEST_METRICS
from trainable.errors import UserError
from trainable.files import write_json

FORMAT_VERSION = 1  # raised when a field of any of these files changes meaning or goes
VERSION_KEY = "format_version"


def stamped(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with this code's format version first."""
    return {VERSION_KEY: FORMAT_VERSION, **record}


def write_record(path: Path, record: dict[str, Any]) -> None:
    """One of the JSON files above, stamped and written atomically."""
    write_json(path, stamped(record))


def read_record(path: Path, shape: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON object (an object under each key of `shape`) of a format this code reads; a
    missing, cut or foreign file is a UserError naming it."""
    record = check_json(path, shape)
    version = record.get(VERSION_KEY, 0)
    if not isinstance(version, int) or version < 0:
        raise damaged(path, f"format_version {version!r} is not a version")
    if version > FORMAT_VERSION:
        raise UserError(
            f"{path} is of format {version}, newer than this imbalance-search reads "
            f"({FORMAT_VERSION}); upgrade it (pip install -U imbalance-search)"
        )
    return record


@dataclass(frozen=True)
class Best:
    """best.json's answer: what predict, export and --adapt need."""

    members: list[dict]  # each with `checkpoint`, relative to the experiment
    threshold: float | None  # the tuned cut; None for more than two classes
    temperature: float
    sensitivity_cuts: dict[str, float]  # level -> cut, chosen on validation


def read_best(experiment: Path) -> Best:
    path = experiment / BEST
    if not path.exists():
        raise UserError(f"{path} not found: give the folder of a finished search (results/NAME)")
    answer = read_record(path, shape=("answer",))["answer"]
    members, threshold = answer.get("members"), answer.get("threshold", 0.5)
    temperature = answer.get("temperature", 1.0)  # 1.0: searches before calibration
    cuts = answer.get("sensitivity_cuts", {})
    if not (
        isinstance(members, list)
        and members
        and all(isinstance(m, dict) and isinstance(m.get("checkpoint"), str) for m in members)
        and (threshold is None or is_number(threshold))
    ):
        raise damaged(path, "no members with checkpoints, or no cut")
    if not (is_number(temperature) and temperature > 0):
        raise damaged(path, f"temperature {temperature!r} is not a positive number")
    if not (isinstance(cuts, dict) and all(is_number(c) for c in cuts.values())):
        raise damaged(path, "sensitivity_cuts is not a level -> cut object")
    return Best(
        members=members, threshold=threshold, temperature=temperature, sensitivity_cuts=cuts
    )


def is_number(value: Any) -> bool:
    """A JSON number: int or float, and not a bool (JSON's true is no cut)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Manifest:
    """search.json: the settings and the data a search began with."""

    settings: dict[str, Any]  # SearchSettings as a dict, the budget filled in
    data: dict[str, Any]  # classes, counts, image_shape, fingerprint
    preprocessing: dict[str, Any] | None  # channels, size, resize; None before it was recorded
    versions: dict[str, str]


def read_manifest(experiment: Path) -> Manifest | None:
    """The experiment's search.json; None where there is none (nothing began there)."""
    path = experiment / MANIFEST
    if not path.exists():
        return None
    record = read_record(path, shape=SHAPE)
    return Manifest(
        settings=record["settings"],
        data=record["data"],
        preprocessing=record.get("preprocessing"),
        versions=record.get("versions", {}),
    )


@dataclass(frozen=True)
class TestMetrics:
    """test_metrics.json: every figure the report quotes."""

    objective: str
    verdict: dict[str, Any] | None
    technique_finding: dict[str, Any] | None
    models: dict[str, dict[str, Any]]  # answer, best_trial, baseline, seed_recipe -> figures


def read_test_metrics(experiment: Path) -> TestMetrics:
    path = experiment / TEST_METRICS
    if not path.exists():
        raise UserError(f"{path} not found: give the folder of a finished search (results/NAME)")
    record = read_record(path, shape=("answer",))
    meta = (VERSION_KEY, "objective", "verdict", "technique_finding")
    return TestMetrics(
        objective=record.get("objective", "val_balanced_accuracy"),
        verdict=record.get("verdict"),
        technique_finding=record.get("technique_finding"),
        models={k: v for k, v in record.items() if k not in meta and isinstance(v, dict)},
    )
