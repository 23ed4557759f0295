"""MODEL_CARD.md: what the answer is, what it was measured on, and where it may fail.

    write_model_card(experiment, model_card(report.scored, data, settings))  # compute_report's

After Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019), cut to what a finished
search knows: intended use, the data and its class counts, the members' configs, test metrics
with 95% bootstrap intervals over the test images (search.stats.intervals), operating points,
calibration, the validation-to-test gap, and plain limitations. Written for two classes and
more; operating points only for two.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from search.answer.rules import Scored, one_image
from search.experiment.layout import (
    BEST,
    BOARD,
    CALIBRATION_PNG,
    EXPORT_DESCRIPTION,
    EXPORTS,
    MODEL_CARD,
    TEST_METRICS,
)
from search.settings import SearchSettings
from search.stats.adapt import false_alarm_words, p_words
from search.stats.intervals import (
    balanced_accuracy,
    decisions,
    interval,
    roc_auc,
    sensitivity,
    specificity,
)
from trainable.data import Data
from trainable.files import write_text

SHOWN_KNOBS = ("loss", "sampler", "sampler_power", "weight_power", "gamma", "alpha",
               "aug_strength", "minority_aug", "lr", "weight_decay", "batch_size", "epochs",
               "model", "seed")  # fmt: skip


def metric_rows(probs: np.ndarray, labels: np.ndarray, threshold: float | None) -> list[str]:
    """Markdown rows: each test metric with its interval."""
    if probs.shape[1] == 2:
        said = decisions(probs, threshold)
        metrics = {
            "balanced accuracy": (balanced_accuracy, said),
            "sensitivity": (sensitivity, said),
            "specificity": (specificity, said),
            "ROC-AUC": (roc_auc, probs[:, 1]),
        }
        rows = []
        for name, (statistic, outputs) in metrics.items():
            low, high = interval(statistic, labels, outputs)
            value = float(statistic(labels, outputs))
            rows.append(f"| {name} | {value:.4f} | {low:.4f} - {high:.4f} |")
        return rows
    said = probs.argmax(1)
    value = balanced_accuracy_score(labels, said)  # no interval: many classes, few images each
    return [f"| balanced accuracy | {value:.4f} | - |"]


def model_card(
    scored: dict[str, Scored],
    data: Data,
    settings: SearchSettings,
    finding: dict | None = None,
    verdict: dict | None = None,
) -> str:
    """The card's markdown; `finding` (search.answer.findings) comes first when given, `verdict`
    (search.answer.rules.verdict) words each reference's comparison with the answer."""
    answer = scored["answer"].figures
    lines = [
        f"# Model card: {settings.name}",
        "",
        *intended_use(data, settings),
        *finding_section(finding),
        *data_section(data, settings),
        *model_section(answer, data),
        *test_section(scored, data, verdict),
        *operating_section(answer),
        *calibration_section(answer, data),
        *limitations_section(answer, data),
        *files_section(),
    ]
    return "\n".join(lines) + "\n"


def split_counts(data: Data) -> dict[str, np.ndarray]:
    return {
        split: np.bincount(data.split(split)[1], minlength=data.num_classes)
        for split in ("train", "val", "test")
    }


def intended_use(data: Data, settings: SearchSettings) -> list[str]:
    return [
        "## Intended use",
        f"Classifies {data.train_x.shape[-1]} px, {data.train_x.shape[1]}-channel images into "
        f"{', '.join(data.classes)}. Made by an automated search over ways of handling class "
        "imbalance (space `" + settings.space + "`) for research and for evaluation at a "
        "site before any use; not a medical device, and not to be used for a diagnosis "
        "without a clinician and a validation on the site's own images.",
        "",
    ]


def data_section(data: Data, settings: SearchSettings) -> list[str]:
    lines = [
        "## Data",
        f"Source: `{settings.data}`"
        + (
            f", {settings.train_subsample} training images drawn from it"
            if settings.train_subsample
            else ""
        ),  # fmt: skip
        "",
        "| split | " + " | ".join(data.classes) + " |",
        "|---|" + "---:|" * data.num_classes,
    ]
    for split, n in split_counts(data).items():
        lines.append(f"| {split} | " + " | ".join(str(int(c)) for c in n) + " |")
    return [*lines, ""]


def model_section(answer: dict, data: Data) -> list[str]:
    lines = [
        "## The model",
        f"The mean of {len(answer['members'])} networks' log probabilities (softmax again), "
        f"calibrated by a temperature of {answer['temperature']:.3f} fitted on validation; "
        + (
            f"it says `{data.classes[1]}` when that probability is at least "
            f"{answer['threshold']:.4f} (the cut that maximised balanced accuracy on validation)."
            if answer.get("threshold") is not None
            else "it says the most probable class."
        ),
        "",
        "| member | kind | " + " | ".join(SHOWN_KNOBS) + " |",
        "|---|---|" + "---|" * len(SHOWN_KNOBS),
    ]
    for member in answer["members"]:
        knobs = " | ".join(str(member["config"].get(k, "")) for k in SHOWN_KNOBS)
        lines.append(f"| {member['trial_id']} | {member['kind']} | {knobs} |")
    return [*lines, ""]


def test_section(scored: dict[str, Scored], data: Data, verdict: dict | None) -> list[str]:
    answer = scored["answer"].figures
    lines = [
        f"## Test results ({len(data.test_y)} images, scored once after the search)",
        "",
        "| metric | value | 95% interval |",
        "|---|---:|---|",
        *metric_rows(scored["answer"].test_probs, data.test_y, answer.get("threshold")),
        "",
        f"Validation balanced accuracy {answer['val']['balanced_accuracy']:.4f} (in-sample: "
        "validation chose the answer, so this flatters it); test "
        f"{answer['test']['balanced_accuracy']:.4f} (gap {answer['val_test_gap']:+.4f}).",
    ]
    for name in ("baseline", "seed_recipe"):
        if name in scored:
            ref = scored[name].figures["test"]
            lines.append(
                f"The {name.replace('_', ' ')} config trained the same way: test balanced "
                f"accuracy {ref['balanced_accuracy']:.4f}, ROC-AUC {ref['roc_auc']:.4f}"
                + comparison_words((verdict or {}).get(name))
            )
    return [*lines, ""]


def operating_section(answer: dict) -> list[str]:
    points = answer.get("operating_points")
    if not points:
        return []
    lines = [
        "## Operating points (cut chosen on validation, applied to test)",
        "",
        "| sensitivity wanted | cut | validation sens / spec | test sens / spec |",
        "|---|---:|---|---|",
    ]
    for level, v in points["val"].items():
        t = points["test"][level]
        lines.append(
            f"| {level} | {v['cut']:.4f} | {v['sensitivity']:.3f} / {v['specificity']:.3f} "
            f"| {t['sensitivity']:.3f} / {t['specificity']:.3f} |"
        )
    return [*lines, ""]


def calibration_section(answer: dict, data: Data) -> list[str]:
    c, counts = answer["calibration"], split_counts(data)
    return [
        "## Calibration (top-label ECE, 10 bins; Brier)",
        f"Validation ECE {c['val']['ece_uncalibrated']:.3f} before the temperature, "
        f"{c['val']['ece']:.3f} after; test {c['test']['ece_uncalibrated']:.3f} -> "
        f"{c['test']['ece']:.3f} (Brier {c['test']['brier']:.3f})"
        + (
            f"; the {data.classes[1]} probability's own ECE (what the reliability diagram "
            f"draws) validation {c['val']['ece_positive']:.3f}, test "
            f"{c['test']['ece_positive']:.3f}. It can be off in either direction: class "
            "weights or oversampling pull it towards the rarer class, and a split whose class "
            "mix differs from validation's moves it too (the test split's "
            f"{data.classes[1]} share is {counts['test'][1] / counts['test'].sum():.1%}, "
            f"validation's {counts['val'][1] / counts['val'].sum():.1%}); one temperature "
            "cannot undo either, and the tuned cut allows for the first"
            if "ece_positive" in c["val"]
            else ""
        )
        + (
            ". On test the temperature made the top-label ECE worse, as it can under a shift"
            if c["test"]["ece"] > c["test"]["ece_uncalibrated"]
            else ""
        )
        + f". {CALIBRATION_PNG} shows the reliability diagrams.",
        "",
    ]


def limitations_section(answer: dict, data: Data) -> list[str]:
    return [
        "## Limitations",
        "- Every choice (configs, members, cut, temperature) was made on one validation "
        f"split of {len(data.val_y)} images; one image of its smallest class moves balanced "
        f"accuracy by {one_image(data.val_y, data.num_classes):.4f}.",
        "- A new acquisition (scanner, site, population) can move the cut: the models may "
        "still rank images well (ROC-AUC) while the validation-tuned cut lands in the wrong "
        "place. Check the operating point on labelled images from the site before use.",
        "- Probabilities are calibrated for images like the validation split's; under a "
        "shift they are not.",
        *shift_lines(answer),
        "- The test split was read once, after every choice; but if the product's defaults "
        "were chosen on it (PneumoniaMNIST's shipped test split was a development set for "
        "them), its figures are development figures, not a held-out estimate.",
        f"- Trained at {data.train_x.shape[-1]} px; finer findings may need more resolution.",
        "",
    ]


def files_section() -> list[str]:
    return [
        "## Files",
        f"- `{BEST}`, `{TEST_METRICS}`, `{BOARD}`: the answer and every trial.",
        "- `python -m search.predict <this folder> IMAGES --out predictions.csv`: apply it.",
        f"- `python -m search.export <this folder>`: one file (`{EXPORTS['pt2']}`, "
        f"`{EXPORT_DESCRIPTION}`) that loads with torch alone.",
    ]


def finding_section(finding: dict | None) -> list[str]:
    """'What worked': the technique finding's sentence, what the answer is, and the families."""
    if not finding:
        return []
    lines = ["## What worked", finding["sentence"], "", finding["answer_is"], ""]
    lines += [
        "| family | trials | best validation | vs plain training (validation, 95%) | its test |",
        "|---|---:|---:|---|---:|",
    ]
    for f in finding["families"]:
        m = f["vs_plain"]
        versus = f"{m[0]:+.4f} ({m[1]:+.4f} to {m[2]:+.4f})" if m else "-"
        test = f"{f['test']:.4f}" if f["test"] is not None else "-"
        early = "" if f.get("complete", True) else " (stopped early)"
        lines.append(f"| {f['name']} | {f['trials']} | {f['val']:.4f}{early} | {versus} | {test} |")
    return [*lines, ""]


def comparison_words(v: dict | None) -> str:
    """The answer against one reference on test, with what the interval counts."""
    if not v or not v.get("test_margin_interval_images"):
        return "."
    if v.get("test_margin_interval"):
        low, high = v["test_margin_interval"]
        counts = "over test images and training seeds"
    else:
        low, high = v["test_margin_interval_images"]
        counts = "over test images only"
    return (
        f"; the answer minus it {v['test_margin']:+.4f} (95% interval {counts} {low:+.4f} to "
        f"{high:+.4f}: {v['on_test']})."
    )


def write_model_card(experiment: Path, text: str) -> None:
    """MODEL_CARD.md, whole or absent (written beside, then moved into place)."""
    write_text(experiment / MODEL_CARD, text)


def shift_lines(answer: dict) -> list[str]:
    """What the shift test said of the test split (its images against validation's, no label
    read), where the report ran it."""
    adapted = answer.get("adapted")
    if not adapted:
        return []
    if adapted["shifted"]:
        return [
            f"- The test images differ from validation's beyond a change of class mix (shift "
            f"test {p_words(adapted['shift_p_value'])}; {false_alarm_words()}): the test figures "
            "above are at the validation-tuned cut, on images unlike validation's."
        ]
    return [f"- The shift test found no shift between validation and test "
            f"({p_words(adapted['shift_p_value'])})."]  # fmt: skip
