"""The report's pictures from leaderboard tables, errored trials included."""

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from search.outputs.plots import (
    MIN_TRIALS_FOR_IMPORTANCES,
    calibration_figure,
    confusion_figure,
    history_figures,
    importances_figure,
    knobs_figure,
    roc_pr_figure,
    write_plots,
)

OBJECTIVE = "val_balanced_accuracy"


def leaderboard() -> pd.DataFrame:
    """A leaderboard with an errored trial: two trials scored, one that crashed in its first
    epoch (no score), knobs on a log axis and a categorical one."""
    return pd.DataFrame(
        {
            "trial_id": ["trial_a", "trial_b", "trial_c"],
            "role": ["search"] * 3,
            "status": ["complete", "complete", "error"],
            OBJECTIVE: [0.861, 0.5, np.nan],
            "config/lr": [0.003, 0.00089, 0.0053],
            "config/weight_decay": [1e-4, 4.8e-6, 3.9e-4],
            "config/sampler": ["oversample", "none", "undersample"],
            "config/sampler_power": [0.5, np.nan, np.nan],
            "config/batch_size": [64, 128, 128],
        }
    )


def test_an_errored_trial_is_left_out_of_the_knob_plot_and_counted(tmp_path):
    written = write_plots(tmp_path, leaderboard(), OBJECTIVE, curves=None, study=None)
    assert written == [tmp_path / "knobs.png"] and (tmp_path / "knobs.png").stat().st_size > 0
    fig = knobs_figure(leaderboard(), OBJECTIVE)
    assert "1 errored trial(s) left out" in fig.texts[0].get_text()


def test_no_knob_plot_when_no_trial_has_a_score(tmp_path):
    table = leaderboard().assign(**{OBJECTIVE: np.nan})
    assert knobs_figure(table, OBJECTIVE) is None
    assert write_plots(tmp_path, table, OBJECTIVE, curves=None, study=None) == []


def study_with_pruned_trials(n: int, folders: bool = False) -> optuna.Study:
    """n trials that each report epochs 1-2; all but two stopped there (PRUNED), as ASHA
    leaves a default search. The score rises with lr and ignores weight_decay."""
    study = optuna.create_study(direction="maximize")
    rng = np.random.default_rng(0)
    lr = optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    wd = optuna.distributions.FloatDistribution(1e-6, 1e-3, log=True)
    for i in range(n):
        params = {
            "lr": float(10 ** rng.uniform(-4, -2)),
            "weight_decay": float(rng.uniform(0, 1e-3)),
        }
        score = 0.5 + 20 * params["lr"]
        finished = i < 2
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={"lr": lr, "weight_decay": wd},
                intermediate_values={1: score, 2: score + 0.01, **({3: score} if finished else {})},
                value=score if finished else None,
                state=TrialState.COMPLETE if finished else TrialState.PRUNED,
                user_attrs={"folder": f"trial_{i:02d}"} if folders else {},
            )
        )
    return study


def test_importances_rank_every_trials_best_epoch_score_and_say_why_the_dashboard_differs():
    fig = importances_figure(study_with_pruned_trials(10), "val_balanced_accuracy")
    ax = fig.axes[0]
    assert ax.get_title().startswith("which knobs moved the search's score")
    assert "val_balanced_accuracy at each trial's best epoch" in ax.get_title()
    assert "over all 10 trials" in ax.get_xlabel()
    assert "optuna-dashboard ranks the 2 finished trials only" in ax.get_xlabel()
    assert "trials that have it" not in ax.get_xlabel()  # every trial has lr and weight_decay
    bars = {
        t.get_text(): b.get_width()
        for t, b in zip(fig.axes[0].get_yticklabels(), fig.axes[0].patches, strict=True)
    }
    assert bars["lr"] > bars["weight_decay"]  # the knob the score follows
    # Optuna's own importances would see only the 2 finished trials; too few trials: none
    assert importances_figure(study_with_pruned_trials(MIN_TRIALS_FOR_IMPORTANCES - 1)) is None


def test_roc_names_the_classes_and_marks_the_operating_points():
    labels = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([0.1, 0.3, 0.6, 0.4, 0.8, 0.9])
    curves = {"answer test": (labels, scores), "baseline test": (labels, scores[::-1])}
    cuts = {"answer test": {"tuned 0.35": 0.35, "0.5": 0.5}, "baseline test": {"tuned 0.5": 0.5}}
    fig = roc_pr_figure(curves, ["normal", "pneumonia"], cuts)
    roc = fig.axes[0]
    assert roc.get_ylabel() == "sensitivity (pneumonia found)"
    marks = {line.get_label(): (line.get_xdata()[0], line.get_ydata()[0]) for line in roc.lines}
    assert marks["answer test at 0.5"] == (1 / 3, 2 / 3)  # 0.6 of the normals; 0.8, 0.9
    assert marks["answer test at tuned 0.35"] == (1 / 3, 1.0)
    # the reference's own operating point (scores reversed: 0.6 and 0.4 said pneumonia)
    assert marks["baseline test at tuned 0.5"] == (2 / 3, 1 / 3)
    legend = [t.get_text() for t in roc.get_legend().get_texts()]
    assert "baseline test (AUC 0.111)" in legend  # three digits: 1 of 9 pairs in order
    assert "answer test (AUC 0.889)" in legend
    # precision-recall: the same cuts, and chance at the test split's prevalence (half)
    pr = fig.axes[1]
    marks = {line.get_label(): (line.get_xdata()[0], line.get_ydata()[0]) for line in pr.lines}
    assert marks["answer test at 0.5"] == (2 / 3, 2 / 3)  # 0.6, 0.8, 0.9: two of three right
    assert marks["answer test at tuned 0.35"] == (1.0, 3 / 4)
    chance = [line for line in pr.lines if "chance" in line.get_label().lower()]
    assert len(chance) == 1 and set(chance[0].get_ydata()) == {0.5}
    # each panel has a zoomed view of its operating points, where the curves crowd
    zooms = [ax.child_axes[0] for ax in (roc, pr)]
    assert [z.get_title() for z in zooms] == ["zoomed on the operating points"] * 2
    for zoom in zooms:  # every operating point (a single marker) inside its zoomed view
        (x0, x1), (y0, y1) = zoom.get_xlim(), zoom.get_ylim()
        dots = [line for line in zoom.lines if len(line.get_xdata()) == 1]
        assert dots and all(x0 <= d.get_xdata()[0] <= x1 and y0 <= d.get_ydata()[0] <= y1
                            for d in dots)  # fmt: skip


def test_a_knob_searched_over_choices_is_drawn_as_choices():
    fig = knobs_figure(leaderboard(), OBJECTIVE)
    (panel,) = [ax for ax in fig.axes if ax.get_xlabel() == "batch_size"]
    assert [t.get_text() for t in panel.get_xticklabels()] == ["64", "128"]


def test_a_knob_of_one_sampler_is_drawn_for_the_trials_that_use_it_only():
    # the leaderboard fills sampler_power's default in for trials without oversampling
    table = pd.concat([leaderboard()] * 2, ignore_index=True)
    table["trial_id"] = [f"trial_{i}" for i in range(6)]
    table["status"] = "complete"
    table["config/sampler_power"] = [0.5, 1.0, 1.0, 0.2, 1.0, 1.0]
    fig = knobs_figure(table, OBJECTIVE)
    (panel,) = [ax for ax in fig.axes if ax.get_xlabel().startswith("sampler_power")]
    assert panel.get_xlabel() == "sampler_power (2 of 4 trials use it)"  # 2 errored: no score
    drawn = np.concatenate([c.get_offsets() for c in panel.collections])
    assert sorted(drawn[:, 0]) == [0.2, 0.5]  # the oversampled trials, not four at 1.0


def test_references_are_lines_on_every_knob_panel_and_the_answers_trials_are_ringed():
    refs = {"baseline": 0.7, "seed recipe": 0.8}
    fig = knobs_figure(leaderboard(), OBJECTIVE, refs, in_answer=frozenset({"trial_a"}))
    panels = [ax for ax in fig.axes if ax.get_xlabel()]
    assert all({0.7, 0.8} <= {line.get_ydata()[0] for line in ax.lines} for ax in panels)
    for ax in panels:  # the ring sits on trial_a's score, 0.861, and on no other
        (ring,) = [c for c in ax.collections if c.get_label() == "in the answer"]
        assert list(ring.get_offsets()[:, 1]) == [0.861]
    assert "at its best epoch; hollow: stopped early" in fig.texts[0].get_text()


def test_the_confusion_picture_counts_the_answers_decisions(tmp_path):
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    said = np.array([0, 1, 0, 1, 1, 0, 1])
    fig = confusion_figure(labels, said, ["normal", "pneumonia"], cut=0.4123)
    cells = [t.get_text() for t in fig.axes[0].texts]
    # rows the true class: tn fp / fn tp, each with its share of the class
    assert cells == [
        "2\n(66.7% of normal)",
        "1\n(33.3% of normal)",
        "1\n(25.0% of pneumonia)",
        "3\n(75.0% of pneumonia)",
    ]
    assert "7 test images, at its validation cut 0.4123" in fig.axes[0].get_title()
    table = pd.DataFrame({"trial_id": ["a"], "status": ["complete"], OBJECTIVE: [0.9]})
    written = write_plots(tmp_path, table, OBJECTIVE, None, None, ["normal", "pneumonia"],
                          confusion=(labels, said, 0.4123))  # fmt: skip
    assert tmp_path / "confusion.png" in written


def test_the_history_scores_every_trial_at_its_best_epoch_pruned_ones_too(tmp_path):
    study = study_with_pruned_trials(10)  # 2 finished, 8 stopped after epoch 2
    figures = history_figures(study, OBJECTIVE, {"baseline": 0.55})
    assert set(figures) == {"history.png", "learning_curves.png"}
    history = figures["history.png"].axes[0]
    dots = np.concatenate([c.get_offsets() for c in history.collections])
    assert len(dots) == 10  # Optuna's own history would show the 2 finished trials only
    best_epochs = [max(t.intermediate_values.values()) for t in study.trials]
    assert sorted(dots[:, 1]) == sorted(best_epochs)
    assert any(line.get_label() == "baseline 0.5500" for line in history.get_lines())
    curves = figures["learning_curves.png"].axes[0]
    trials = [line for line in curves.get_lines() if not line.get_label().startswith("baseline")]
    assert [len(line.get_xdata()) for line in trials] == [3, 3] + [2] * 8
    # stopped trials dashed and hollow (a one-epoch trial has no line to dash), each named by
    # its Optuna number and folder as the leaderboard
    assert [line.get_linestyle() for line in trials] == ["-", "-"] + ["--"] * 8
    assert [line.get_markerfacecolor() == "none" for line in trials] == [False] * 2 + [True] * 8
    # no two of a default search's twelve trials share a colour
    twelve = history_figures(study_with_pruned_trials(12), OBJECTIVE)["learning_curves.png"]
    assert len({line.get_color() for line in twelve.axes[0].get_lines()}) == 12
    study = study_with_pruned_trials(10, folders=True)
    figures = history_figures(
        study, OBJECTIVE, roles={"trial_00": "baseline"}, in_answer=frozenset({"trial_01"})
    )
    curves = figures["learning_curves.png"].axes[0]
    labels = [line.get_label() for line in curves.get_lines()]
    assert labels[:3] == [
        "#0 trial_00 (baseline)",
        "#1 trial_01 (search, in the answer)",
        "#2 trial_02 (search, stopped)",
    ]
    assert curves.get_lines()[1].get_linewidth() > curves.get_lines()[2].get_linewidth()
    for name, fig in figures.items():  # they draw
        fig.savefig(tmp_path / name)
    assert history_figures(optuna.create_study(), OBJECTIVE) == {}


def test_a_reliability_point_from_few_images_is_hollow_on_every_curve():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.uniform(0, 0.1, 200), [0.55, 0.58, 0.62], rng.uniform(0.9, 1, 50)])
    labels = (rng.random(len(scores)) < scores).astype(int)
    curves = {"answer val": (labels, scores), "baseline test": (labels[::-1], scores)}
    ax = calibration_figure(curves, ["normal", "pneumonia"], "t").axes[0]
    hollow = [c for c in ax.collections if len(c.get_offsets())]
    # one sparse bin (0.5-0.6: 2 images, 0.6-0.7: 1) per curve, drawn hollow on both curves
    assert [len(c.get_offsets()) for c in hollow] == [2, 2]
    assert any(t.get_text() == "hollow: < 10 images" for t in ax.get_legend().get_texts())
