"""The console's summary of a finished search, from the report (search.answer.report.Report).

    print(format_summary(report))

The technique finding first (search.answer.findings: which technique helped, by how much, and what
the answer's configs are), then the answer, its test figures with intervals, the verdict
against each reference (over test images and training seeds), with a warning where
validation cannot tell the answer from a reference, then
every scored model on both splits, the operating points, the cut adapted to the test images,
calibration, and the answer's members with their knobs.
"""

from __future__ import annotations

from search.answer.references import REFERENCES
from search.answer.report import Report
from search.experiment.layout import CALIBRATION_PNG
from search.stats.adapt import false_alarm_words, p_words

SUMMARY_METRICS = (
    "balanced_accuracy",
    "robust_balanced_accuracy",
    "balanced_accuracy_05",
    "sensitivity",
    "specificity",
    "roc_auc",
)

# What trained each member of the answer, in words, in the order the summary lists them.
MEMBER_WORDS = {
    "search": "search trial(s)",
    "full_run": "trial(s) ASHA stopped, trained in full",
    "new_seed": "new seed(s) of good trials",
    "baseline": "the baseline",
    "seed_recipe": "the seed recipe",
}


def format_summary(report: Report) -> str:
    """What the console shows when the search ends: the verdict, each model's figures on both
    splits, the operating points, the adapted cut, calibration and the answer's members."""
    table = report.table
    # the search's trials: an Optuna number each, the references' start points among them
    numbered = table["optuna_trial"].notna() if "optuna_trial" in table else table["role"] == ""
    search = table[(table["role"] == "search") | numbered]
    counts = search["status"].value_counts().to_dict()
    starts = sorted(r.replace("_", " ") for r in search.loc[search["role"] != "search", "role"])
    among = f" (the start points of {' and '.join(starts)} among them)" if starts else ""
    lines = [f"trials {len(search)}{among}: " + ", ".join(f"{n} {s}" for s, n in counts.items())]
    if counts.get("error"):
        lines.append(
            f"warning: {counts['error']} trial(s) errored (each one's error.txt, in its trial "
            "folder, says why); the answer is built from the others"
        )
    if not report.scored:
        return "\n".join(lines + ["no trial reported a metric"])
    figures = {name: scored.figures for name, scored in report.scored.items()}
    lines = finding_lines(report.finding) + verdict_lines(figures, report.verdict) + lines
    names = {
        "balanced_accuracy": "bal_acc",
        "robust_balanced_accuracy": "robust",
        "balanced_accuracy_05": "bal_acc@0.5",
    }
    lines.append(f"{'':<24}" + "".join(f"{names.get(m, m):>13}" for m in SUMMARY_METRICS))
    for name, scored in figures.items():
        for split in ("val", "test"):
            cells = "".join(
                f"{scored[split][m]:>13.4f}" if m in scored[split] else f"{'-':>13}"
                for m in SUMMARY_METRICS
            )
            lines.append(f"{name.replace('_', ' ') + '  ' + split:<24}{cells}")
    lines.append(
        "val figures are in-sample: validation chose each model's epoch and cut, and the "
        "answer's trials, members and temperature; test is read once, after"
    )
    best_id = figures.get("best_trial", {}).get("trial_id")
    for name in (n for n in REFERENCES if n in figures):
        if best_id and figures[name].get("trial_id") == best_id:
            lines.append(f"the best trial is {name.replace('_', ' ')}'s start point: one model")
    lines += operating_lines(figures)
    answer = figures["answer"]
    if answer.get("adapted"):
        a = answer["adapted"]
        moved = (
            f"shifted ({p_words(a['shift_p_value'])}; at that threshold {false_alarm_words()}). "
            f"predict --adapt would cut at {a['cut']:.4f}, read off the images' own scores; "
            f"scored with the test labels afterwards, that cut gives balanced accuracy "
            f"{a['test']['balanced_accuracy']:.4f}: a second figure, not the answer's"
            if a["shifted"]
            else f"no shift detected ({p_words(a['shift_p_value'])}, above the threshold): the "
            "tuned cut stands"
        )
        lines.append(
            f"the test images against validation (the test: no label read): {moved} "
            f"(the answer's figures above are at the validation-tuned cut "
            f"{answer['threshold']:.4f})"
        )
    c = answer["calibration"]
    lines.append(
        f"calibration: the answer's probabilities scaled by temperature {c['temperature']:.2f} "
        f"(fitted on validation); ECE val {c['val']['ece_uncalibrated']:.3f} -> "
        f"{c['val']['ece']:.3f}, test {c['test']['ece_uncalibrated']:.3f} -> "
        f"{c['test']['ece']:.3f} ({CALIBRATION_PNG})"
        + (
            f"; the positive class's own probability: ECE val {c['val']['ece_positive']:.3f}, "
            f"test {c['test']['ece_positive']:.3f} (class weights pull it; the cut allows for it)"
            if "ece_positive" in c["val"]
            else ""
        )
    )
    lines.append(
        f"objective {report.objective}; the answer's val-test gap "
        f"{answer['val_test_gap']:+.4f} (balanced accuracy at the tuned threshold)"
    )
    for member in answer["members"]:
        shown = [
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in member["config"].items()
            if k not in ("device", "epochs", "compile", "eval_every") and v is not None
        ]
        lines.append(f"  member {member['trial_id']} ({member['kind']}): " + ", ".join(shown))
    return "\n".join(lines)


def operating_lines(scored: dict[str, dict]) -> list[str]:
    """Sensitivity / specificity at each sensitivity level, the cut chosen on validation
    (`scored`: each model's figures, by name)."""
    first = next(iter(scored.values())).get("operating_points")
    if not first:
        return []
    levels = list(first["val"])
    header = "".join(f"{'val sens ' + level:>17}" for level in levels)
    lines = [f"{'sens / spec where':<24}{header}"]
    for name, s in scored.items():
        for split in ("val", "test"):
            cells = "".join(
                f"{p['sensitivity']:>9.3f} / {p['specificity']:.3f}"
                for p in s["operating_points"][split].values()
            )
            lines.append(f"{name.replace('_', ' ') + '  ' + split:<24}{cells}")
    return lines


def test_line(scored: dict) -> str:
    """A model's test figures in one line: the images, balanced accuracy at its cut with the
    sensitivity and specificity there, ROC-AUC; 95% intervals where there are any."""
    test, bounds = scored["test"], scored.get("test_intervals") or {}

    def with_interval(metric: str) -> str:
        low_high = bounds.get(metric)
        shown = f"{test[metric]:.4f}"
        return shown + (f" (95% CI {low_high[0]:.4f}-{low_high[1]:.4f})" if low_high else "")

    cut = (
        f" at the cut {scored['threshold']:.4f} (sensitivity {test['sensitivity']:.3f}, "
        f"specificity {test['specificity']:.3f})"
        if scored.get("threshold") is not None and "specificity" in test
        else ""
    )
    return (
        f"test, {scored['confusion']['test']['images']} images: balanced accuracy "
        f"{with_interval('balanced_accuracy')}{cut}; ROC-AUC {with_interval('roc_auc')}"
    )


def finding_lines(finding: dict | None) -> list[str]:
    """The technique finding (search.answer.findings), first: which technique helped, and what the
    answer is."""
    if not finding:
        return []
    lines = [f"finding: {finding['sentence']}", f"  {finding['answer_is']}"]
    for f in finding["families"]:
        margin = f["vs_plain"]
        versus = (
            f", vs plain training {margin[0]:+.4f} ({margin[1]:+.4f} to {margin[2]:+.4f})"
            if margin
            else ""
        )
        test = f", test {f['test']:.4f}" if f["test"] is not None else ""
        early = "" if f.get("complete", True) else " (all stopped early: fewer epochs)"
        lines.append(
            f"  {f['name']}: {f['trials']} trial(s), best val {f['val']:.4f}{early}{versus}{test}"
        )
    return lines


def verdict_lines(scored: dict[str, dict], verdict: dict) -> list[str]:
    """The headline: what the answer is and whether it beat the references (`scored`: each
    model's figures, by name; `verdict`: search.answer.rules.verdict's)."""
    answer = scored["answer"]
    kinds = [m["kind"] for m in answer["members"]]
    built = ", ".join(
        words if kind in REFERENCES else f"{kinds.count(kind)} {words}"
        for kind, words in MEMBER_WORDS.items()
        if kind in kinds
    )
    lines = [
        f"answer: the mean of {len(kinds)} model(s) in logit space ({built}), each trained for "
        "the full budget and within one validation image of the best of them",
        "  " + test_line(answer),
    ]
    for name, v in ((n, verdict[n]) for n in REFERENCES if n in verdict):
        label = name.replace("_", " ")
        test_word = "no interval for more than two classes: not judged"
        if v.get("test_margin_interval"):
            low, high = v["test_margin_interval"]
            test_word = (
                f"95% CI over test images and training seeds {low:+.4f} to {high:+.4f}: "
                f"{v['on_test']}"
            )
        elif v.get("test_margin_interval_images"):
            low, high = v["test_margin_interval_images"]
            test_word = (
                f"95% CI over test images only {low:+.4f} to {high:+.4f}; {v['on_test']}, "
                "no config was trained with two seeds"
            )
        reaching = v.get("trials_reaching_it")
        reach = (
            f"; {reaching} of {verdict['trials']} trials reached it there"
            if reaching is not None
            else ""
        )
        lines.append(
            f"  vs {label}: test {v['test_margin']:+.4f} ({test_word}), validation "
            f"(in-sample) {v['val_margin']:+.4f}{reach}"
        )
        if v["val_margin"] < 0:
            lines.append(
                f"  warning: on validation the answer is below the {label}: the search found "
                "nothing better than it (more trials, or another space, may)"
            )
        elif not v["ahead_on_val_in_sample"]:
            lines.append(
                f"  warning: on validation the answer is not ahead of the {label} by more "
                f"than one image ({verdict['one_validation_image']:.4f}); the search found "
                "nothing that validation can tell apart from it"
            )
    spread = verdict.get("seed_spread")
    if spread:
        lines.append(
            f"  seeds: one model's test balanced accuracy moves by sd {spread['sd']:.4f} between "
            f"training seeds ({spread['configs']} config(s) trained more than once, "
            f"{spread['df']} degree(s) of freedom: Student's t widens the intervals above)"
        )
    return lines
