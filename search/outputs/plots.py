"""Pictures of a finished search: PNG files, and the answer's curves in TensorBoard.

- roc_pr.png: ROC and precision-recall curves of the answer (the mean of its members in logit space,
  search/answer/rules.py), validation and test, beside the references' test curves, with the
  answer's tuned threshold and 0.5 marked, axes named by class;
- knobs.png: the objective against each knob, one dot per scored trial (stopped trials hollow;
  errored trials have no score and are counted in the title), the references as lines;
- importances.png: Optuna's parameter importances for every trial's best-epoch score;
- history.png, learning_curves.png: Optuna's optimisation history and every trial's
  validation score by epoch, the references' scores as lines;
- calibration.png: reliability diagrams (scikit-learn's CalibrationDisplay, 10 bins) of the
  answer's calibrated probabilities on validation and test, beside the references' on test;
- confusion.png: the answer's test decisions at its tuned cut, counts and rates;
- answer/ (TensorBoard run): the answer's PR curves, ROC as a figure, test confusion matrix.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import matplotlib

from search.experiment.layout import (
    CALIBRATION_PNG,
    CONFUSION_PNG,
    CURVES_PNG,
    HISTORY_PNG,
    IMPORTANCES_PNG,
    KNOBS_PNG,
    ROC_PR_PNG,
)

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    ConfusionMatrixDisplay,
)
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from trainable.files import replacing  # noqa: E402

# Fewer trials than this and importances are noise (PED-ANOVA compares the top share of trials
# with the rest); a default search has 12.
MIN_TRIALS_FOR_IMPORTANCES = 8
# A reliability point from fewer images than this is drawn hollow: its share can swing by 0.1+
FEW_IN_BIN = 10
Curves = dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (labels, positive-class scores)


def roc_pr_figure(
    curves: Curves, classes: list[str], cuts: dict[str, dict[str, float]] | None = None
) -> plt.Figure:
    """ROC and precision-recall of each named curve, AUC and average precision to three
    digits (two read 0.98 for both 0.9825 and 0.9832), each with a zoomed view of the corner
    where good curves crowd; `cuts` (curve name -> {label: threshold}) marks operating points:
    the answer's tuned cut and 0.5, each reference's tuned cut."""
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    negative, positive = classes[0], classes[1]
    fig, (roc, pr) = plt.subplots(1, 2, figsize=(12, 5.4))
    roc_zoom = roc.inset_axes([0.38, 0.1, 0.45, 0.45], xlim=(0, 0.3), ylim=(0.7, 1.0))
    pr_zoom = pr.inset_axes([0.1, 0.1, 0.45, 0.45], xlim=(0.7, 1.0), ylim=(0.7, 1.0))
    prevalence, points = None, []
    for i, (name, (labels, scores)) in enumerate(curves.items()):
        style = {"color": f"C{i}", "linewidth": 1.4 if name.startswith("answer") else 1.1}
        style["linestyle"] = "-" if name.startswith("answer") else "--"
        fpr, tpr, _ = roc_curve(labels, scores)
        precision, recall, _ = precision_recall_curve(labels, scores)
        auc, ap = roc_auc_score(labels, scores), average_precision_score(labels, scores)
        for ax in (roc, roc_zoom):
            ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})", drawstyle="steps-post", **style)
        for ax in (pr, pr_zoom):
            ax.plot(recall, precision, label=f"{name} (AP {ap:.3f})", drawstyle="steps-pre",
                    **style)  # fmt: skip
        if name.endswith("test"):
            prevalence = labels.mean()
        for (label, cut), marker in zip((cuts or {}).get(name, {}).items(), "os^", strict=False):
            said = scores >= cut
            x, y = said[labels == 0].mean(), said[labels == 1].mean()
            precise = (labels[said] == 1).mean() if said.any() else 1.0
            # the answer's points on top, large and hollow: a reference's at the same place
            # hid them, and a filled one in front would hide the reference's
            if name.startswith("answer"):
                mark = {"markerfacecolor": "none", "markeredgecolor": f"C{i}",
                        "markeredgewidth": 2, "markersize": 11, "zorder": 6}  # fmt: skip
            else:
                mark = {"color": f"C{i}", "markeredgecolor": "k", "markersize": 6, "zorder": 5}
            for ax in (roc, roc_zoom):
                ax.plot(x, y, marker, label=f"{name} at {label}" if ax is roc else None, **mark)
            for ax in (pr, pr_zoom):
                ax.plot(y, precise, marker, label=f"{name} at {label}" if ax is pr else None,
                        **mark)  # fmt: skip
            points.append((x, y, precise))
    roc.plot([0, 1], [0, 1], color="grey", linewidth=1, linestyle=":", label="chance")
    if prevalence is not None:
        pr.axhline(prevalence, color="grey", linewidth=1, linestyle=":",
                   label=f"chance (test prevalence {prevalence:.3f})")  # fmt: skip
    if points:  # zoom on the operating points, where the choice between models is made
        xs, ys, ps = (np.array(v) for v in zip(*points, strict=True))
        roc_zoom.set_xlim(max(0, xs.min() - 0.05), min(1, xs.max() + 0.05))
        roc_zoom.set_ylim(max(0, ys.min() - 0.03), 1.005)
        pr_zoom.set_xlim(max(0, ys.min() - 0.03), 1.005)
        pr_zoom.set_ylim(max(0, ps.min() - 0.05), min(1.005, ps.max() + 0.05))
    for zoom, ax in ((roc_zoom, roc), (pr_zoom, pr)):
        zoom.tick_params(labelsize=7)
        zoom.set_title("zoomed on the operating points" if points else "zoomed", fontsize=7)
        ax.indicate_inset_zoom(zoom, edgecolor="grey")
    roc.set_xlabel(f"1 - specificity ({negative} called {positive})")
    roc.set_ylabel(f"sensitivity ({positive} found)")
    pr.set_xlabel(f"recall ({positive})")
    pr.set_ylabel(f"precision ({positive})")
    for ax in (roc, pr):
        ax.set_xlim(-0.01, 1.01)
        ax.set_ylim(-0.01, 1.01)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.12), ncol=2)
    roc.set_title(f"ROC, {positive} vs {negative}")
    pr.set_title(f"Precision-recall, {positive}")
    fig.tight_layout()
    return fig


def knobs_figure(
    table: pd.DataFrame,
    objective: str,
    references: dict[str, float] | None = None,
    in_answer: frozenset[str] = frozenset(),
) -> plt.Figure | None:
    """Each search trial's best-epoch score against each knob that varied. None when no trial
    has a score. Errored trials are left out: a NaN score drawn on a log or categorical axis
    makes matplotlib raise a ConversionError. The references' scores (name ->
    score) are horizontal lines on every panel; the trials in `in_answer` (themselves or their
    runs among the answer's models) are ringed."""
    no_scores = pd.Series(False, index=table.index)
    scored = table[objective].notna() if objective in table else no_scores
    errored = int((~scored).sum())
    table = table[scored]
    if table.empty:
        return None
    knobs = [
        c
        for c in table.columns
        if c.startswith("config/") and table.loc[knob_applies(c, table), c].nunique() > 1
    ]
    cols = 3
    rows = max(1, -(-len(knobs) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    finished = table["status"] == "complete"
    for ax, knob in zip(axes.flat, knobs, strict=False):
        applies = knob_applies(knob, table)
        values = table[knob].where(applies)  # sampler_power means nothing without oversampling
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().sum() == values.notna().sum():  # e.g. alpha: floats, None elsewhere
            values = numeric
        if values.dtype == object or categorical(knob.removeprefix("config/")):
            # one column of dots per choice: batch size 64, 128, 256 are choices, not a scale
            choices = sorted(values.dropna().unique(), key=lambda c: natural_order(str(c)))
            x = values.map({c: i for i, c in enumerate(choices)})
            ax.set_xticks(range(len(choices)), [str(c) for c in choices], rotation=20)
        else:
            x = values
            if knob.removeprefix("config/") in ("lr", "weight_decay"):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
        ax.scatter(x[finished & applies], table[objective][finished & applies], label="complete")
        ax.scatter(
            x[~finished & applies],
            table[objective][~finished & applies],
            facecolors="none",
            edgecolors="C1",
            label="stopped",
        )
        chosen = table["trial_id"].isin(in_answer) & applies
        if chosen.any():
            ax.scatter(x[chosen], table[objective][chosen], s=140, facecolors="none",
                       edgecolors="k", linewidths=1.2, label="in the answer")  # fmt: skip
        reference_lines(ax, references)
        label = knob.removeprefix("config/")
        if not applies.all():  # a knob of one sampler or loss: its trials only
            label += f" ({int(applies.sum())} of {len(applies)} trials use it)"
        ax.set_xlabel(label)
        ax.set_ylabel(objective.removeprefix("val_"))
    for ax in list(axes.flat)[len(knobs) :]:
        ax.axis("off")
    if knobs:
        axes.flat[0].legend(fontsize=8)
    title = (
        f"each search trial's {objective} at its best epoch; hollow: stopped early by ASHA, "
        "so scored after fewer epochs"
    )
    if errored:
        title += f"\n{errored} errored trial(s) left out: no score"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def knob_applies(column: str, table: pd.DataFrame) -> pd.Series:
    """The rows whose sampler or loss uses the knob in `column` (config/sampler_power: the
    oversampled trials; config/gamma: the focal ones); every row for any other knob. The
    leaderboard fills each knob's default in, which the trials without it never used."""
    from trainable.config import LOSS_KNOBS, SAMPLER_KNOBS

    knob = column.removeprefix("config/")
    for owner, owned in (("sampler", SAMPLER_KNOBS), ("loss", LOSS_KNOBS)):
        users = [name for name, knobs in owned.items() if knob in knobs]
        if users and f"config/{owner}" in table:
            return table[f"config/{owner}"].isin(users)
    return pd.Series(True, index=table.index)


def reference_lines(ax: plt.Axes, references: dict[str, float] | None) -> None:
    """Each reference's score as a line of its own colour and style, its value in the legend
    (the two often differ by one image: 0.9822 and 0.9810)."""
    styles = (("--", "dimgrey"), (":", "tab:brown"))
    for (name, score), (style, colour) in zip((references or {}).items(), styles, strict=False):
        ax.axhline(score, color=colour, linestyle=style, linewidth=1.2, label=f"{name} {score:.4f}")


def trial_colour(i: int):
    """A colour per trial, 18 before one repeats: tab10's, then Dark2's (tab20's pale halves
    read as their dark ones, and tab10 alone gave trials 1 and 11 one colour)."""
    palette = [*plt.get_cmap("tab10").colors, *plt.get_cmap("Dark2").colors]
    return palette[i % len(palette)]


def natural_order(value: str) -> tuple:
    """Numbers as numbers (64 before 128), then words."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def categorical(knob: str) -> bool:
    """Whether the knob's declared search range is a list of choices (trainable.config)."""
    from trainable.config import KNOB_FIELDS

    return knob in KNOB_FIELDS and isinstance(KNOB_FIELDS[knob].metadata.get("search"), list)


def importances_figure(study: optuna.Study, objective: str = "score") -> plt.Figure | None:
    """Optuna's parameter importances (PED-ANOVA) for the score the search optimises: each
    trial's best epoch, the leaderboard's figure, over every trial that reported one. Not
    over the few trials that finished, as optuna-dashboard's (it leaves pruned trials out: 2 or
    3 of 12 in a default search, so its ranking differs; the figure says so), nor at the
    grace period's epoch, which ranked the learning rate first for learning fast. A stopped
    trial's best came after fewer epochs: the title says that too. None when fewer than
    MIN_TRIALS_FOR_IMPORTANCES trials reported."""
    trials = [t for t in study.trials if t.intermediate_values]
    if len(trials) < MIN_TRIALS_FOR_IMPORTANCES:
        return None
    scored = optuna.create_study(direction=study.direction)
    best = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    for t in trials:
        scored.add_trial(
            optuna.trial.create_trial(
                params=t.params,
                distributions=t.distributions,
                value=best(t.intermediate_values.values()),
            )
        )
    try:
        with warnings.catch_warnings():  # small studies: "importances may be inaccurate"
            warnings.simplefilter("ignore")
            importances = optuna.importance.get_param_importances(scored)
    except (RuntimeError, ValueError):
        return None
    if not importances:
        return None
    finished = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    partial = {
        name: n
        for name in importances
        if (n := sum(name in t.params for t in trials)) < len(trials)
    }
    over = "; ".join(f"{name} over the {n} trials that have it" for name, n in partial.items())
    fig, ax = plt.subplots(figsize=(6.4, 0.4 * len(importances) + 2.2))
    names = list(importances)[::-1]
    ax.barh(names, [importances[n] for n in names])
    ax.set_title(
        f"which knobs moved the search's score\n({objective} at each trial's best epoch)",
        fontsize=9,
    )
    ax.set_xlabel(
        f"importance (Optuna's PED-ANOVA) over all {len(trials)} trials; a stopped trial's "
        "best came\nafter fewer epochs; "
        + (f"{over};\n" if over else "")
        + f"optuna-dashboard ranks the {finished} finished trials only, so it may differ",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def history_figures(
    study: optuna.Study,
    objective: str,
    references: dict[str, float] | None = None,
    roles: dict[str, str] | None = None,
    in_answer: frozenset[str] = frozenset(),
) -> dict[str, plt.Figure]:
    """The study's history (each trial's best-epoch score, as on the leaderboard, by Optuna
    trial number, and the best so far) and its learning curves (each trial's score at every
    epoch it reported), every trial named by its Optuna number, folder and role (`roles`:
    folder -> role), stopped trials hollow and dashed, the answer's trials (`in_answer`:
    folders) thick, the references' scores as lines. Drawn here, not by Optuna's plots: they
    leave pruned trials out of the history (10 of 12) and name curves Trial0.. after no
    folder. Empty before any trial reported."""
    trials = [t for t in study.trials if t.intermediate_values]
    if not trials:
        return {}
    roles = roles or {}
    best = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    history, ax_h = plt.subplots(figsize=(8, 4.6))
    curves, ax_c = plt.subplots(figsize=(9.5, 4.8))
    numbers, scores = [], []
    for i, t in enumerate(trials):
        folder = t.user_attrs.get("folder", "")
        role = roles.get(folder, "search").replace("_", " ")
        stopped = t.state == optuna.trial.TrialState.PRUNED
        chosen = folder in in_answer
        score = best(t.intermediate_values.values())
        numbers.append(t.number)
        scores.append(score)
        colour = trial_colour(i)
        notes = [] if folder.endswith(roles.get(folder, "search")) else [role]  # named already
        notes += ["stopped"] * stopped + ["in the answer"] * chosen
        label = f"#{t.number} {folder}".strip() + (f" ({', '.join(notes)})" if notes else "")
        epochs = sorted(t.intermediate_values)
        ax_c.plot(
            epochs,
            [t.intermediate_values[e] for e in epochs],
            color=colour,
            linestyle="--" if stopped else "-",
            linewidth=2.6 if chosen else 1.2,
            marker="*" if role != "search" else "o",
            markersize=8 if role != "search" else 5,
            markerfacecolor="none" if stopped else colour,  # a one-epoch trial has no line
            label=label,
        )
        ax_h.scatter(
            t.number,
            score,
            s=70 if chosen else 36,
            facecolors="none" if stopped else colour,
            edgecolors=colour,
            marker="*" if role != "search" else "o",
            linewidths=1.5,
            label=label,
            zorder=3,
        )
    order = np.argsort(numbers)
    so_far = np.maximum.accumulate(np.asarray(scores)[order]) if best is max else \
        np.minimum.accumulate(np.asarray(scores)[order])  # fmt: skip
    ax_h.step(np.asarray(numbers)[order], so_far, where="post", color="black", linewidth=1,
              label="best so far")  # fmt: skip
    ax_h.set_title(
        "each trial's score at its best epoch (as on the leaderboard), the best so far;\n"
        "hollow: stopped by ASHA (scored after fewer epochs); star: a reference's start point",
        fontsize=9,
    )
    ax_h.set_xlabel("Optuna trial number")
    ax_c.set_title(
        f"every trial's {objective} by epoch;\ndashed and hollow: stopped by ASHA; thick: in "
        "the answer; star: a reference's start point",
        fontsize=9,
    )
    ax_c.set_xlabel("epoch")
    for ax in (ax_h, ax_c):
        ax.set_ylabel(objective)
        reference_lines(ax, references)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    for fig in (history, curves):
        fig.tight_layout()
    return {HISTORY_PNG: history, CURVES_PNG: curves}


def calibration_figure(curves: Curves, classes: list[str], title: str) -> plt.Figure:
    """Each curve's reliability diagram (the share of positives against the mean predicted
    probability in 10 equal-width bins; the diagonal is perfect calibration) over the images
    in each bin: a bin of 3 images says little, so the answer's counts are drawn beneath and
    every curve's points from fewer than FEW_IN_BIN images are hollow."""
    from sklearn.calibration import calibration_curve

    fig, (ax, counts) = plt.subplots(
        2, 1, figsize=(6, 6.8), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]}
    )
    edges = np.linspace(0, 1, 11)
    ax.plot([0, 1], [0, 1], ":", color="black", label="perfectly calibrated")
    for i, (name, (labels, scores)) in enumerate(curves.items()):
        answer = name.startswith("answer")
        share, mean = calibration_curve(labels, scores, n_bins=10, strategy="uniform")
        style = {"marker": "s"} if answer else {"marker": "o", "linestyle": "--", "alpha": 0.8}
        ax.plot(mean, share, color=f"C{i}", label=name, **style)
        # calibration_curve keeps the non-empty bins in order; its own binning, to match them
        binned = np.bincount(np.searchsorted(edges[1:-1], scores), minlength=10)
        few = binned[binned > 0] < FEW_IN_BIN
        ax.scatter(mean[few], share[few], s=36, facecolors="white", edgecolors=f"C{i}", zorder=3)
        if answer:
            n, _ = np.histogram(scores, bins=edges)
            width = 0.045
            offset = -width / 2 if name.endswith("val") else width / 2
            counts.bar(edges[:-1] + 0.05 + offset, n, width=width, color=f"C{i}", label=name)
    ax.scatter(
        [], [], facecolors="white", edgecolors="grey", label=f"hollow: < {FEW_IN_BIN} images"
    )
    ax.set_ylabel(f"share that is {classes[1]}")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(textwrap.fill(title, 70), fontsize=9)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    counts.set_yscale("log")
    counts.set_ylim(bottom=0.7)  # a bin of one image still shows a bar
    counts.set_ylabel("images per bin")
    counts.set_xlabel(f"mean predicted probability of {classes[1]}")
    counts.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    fig.tight_layout()
    return fig


def write_plots(
    experiment: Path,
    table: pd.DataFrame,
    objective: str,
    curves: Curves | None,
    study: optuna.Study | None,
    classes: list[str] | None = None,
    cuts: dict[str, float] | None = None,
    references: dict[str, float] | None = None,
    calibration_title: str = "",
    in_answer: frozenset[str] = frozenset(),
    confusion: tuple[np.ndarray, np.ndarray, float | None] | None = None,
    roles: dict[str, str] | None = None,
) -> list[Path]:
    """The report's PNGs; `confusion` is the answer's (test labels, test decisions, its cut)."""
    written = []
    figures = {KNOBS_PNG: knobs_figure(table, objective, references, in_answer)}
    if confusion is not None and classes:
        labels, said, cut = confusion
        figures[CONFUSION_PNG] = confusion_figure(labels, said, classes, cut)
    if curves:
        figures[ROC_PR_PNG] = roc_pr_figure(curves, classes, cuts)
        figures[CALIBRATION_PNG] = calibration_figure(curves, classes, calibration_title)
    if study is not None:
        figures[IMPORTANCES_PNG] = importances_figure(study, objective)
        figures |= history_figures(study, objective, references, roles, in_answer)
    for name, fig in figures.items():
        if fig is None:
            continue
        with replacing(experiment / name) as tmp:  # a figure is whole or as it was
            fig.savefig(tmp, format="png", dpi=110)
        plt.close(fig)
        written.append(experiment / name)
    return written


def write_tensorboard(
    folder: Path,
    curves: Curves,
    test_pred: np.ndarray | None,
    classes: list[str],
    cut: float | None = None,
    reference_runs: dict[str, tuple[Path, tuple[np.ndarray, np.ndarray]]] | None = None,
    roc_pr: plt.Figure | None = None,
) -> None:
    """The answer's PR curves ('answer val', 'answer test'), ROC and test confusion matrix
    as a TensorBoard run; each reference's test PR curve in its own run (`reference_runs`:
    name -> (its trial folder, its test curve)), under the same tag, so the PR Curves tab
    lays them over the answer's."""
    with SummaryWriter(str(folder)) as writer:
        for name, (labels, scores) in curves.items():
            split = name.split()[-1]
            writer.add_pr_curve(f"{split}/pr_curve", labels, scores, global_step=0)
        # roc_pr.png's figure where the report drew it (the references' curves and cuts too)
        writer.add_figure("roc_pr", roc_pr or roc_pr_figure(curves, classes), global_step=0)
        if test_pred is not None:
            figure = confusion_figure(curves["answer test"][0], test_pred, classes, cut)
            writer.add_figure("test/confusion_matrix", figure, global_step=0)
    for run, (labels, scores) in (reference_runs or {}).values():
        for earlier in run.glob("events.out.tfevents.*.pr_curve"):  # a --resume reports again
            earlier.unlink()
        with SummaryWriter(str(run), filename_suffix=".pr_curve") as writer:
            writer.add_pr_curve("test/pr_curve", labels, scores, global_step=0)


def confusion_figure(
    labels: np.ndarray, predicted: np.ndarray, classes: list[str], cut: float | None = None
) -> plt.Figure:
    """The answer's test confusion matrix, rows the true class: each cell's count and its
    share of that class (the diagonal: sensitivity and specificity for two classes), the cut
    in the title."""
    display = ConfusionMatrixDisplay.from_predictions(labels, predicted, display_labels=classes)
    matrix = display.confusion_matrix
    shares = matrix / matrix.sum(axis=1, keepdims=True).clip(min=1)
    for (i, j), text in np.ndenumerate(display.text_):
        text.set_text(f"{matrix[i, j]}\n({shares[i, j]:.1%} of {classes[i]})")
        text.set_fontsize(9)
    at = f"its validation cut {cut:.4f}" if cut is not None else "the most probable class"
    display.ax_.set_title(f"the answer on the {len(labels)} test images, at {at}", fontsize=9)
    display.figure_.tight_layout()
    return display.figure_
