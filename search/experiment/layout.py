"""Every file and folder name in an experiment, defined once: the writers and the readers
(predict, export, the checks) import them from here. Nothing heavy is imported:
`search.predict` must not load Optuna or Ray to read them.

    results/NAME/
      search.json  best.json  test_metrics.json  leaderboard.csv  answer_val_scores.npz
      MODEL_CARD.md  optuna.db  *.png  trial_<id>_<technique>/  references/  members/  answer/
"""

# What the search writes
MANIFEST = "search.json"  # the settings and the data a search was started with
SHAPE = ("settings", "data")  # what a search.json holds, each an object
BEST = "best.json"  # the answer: its members, cut and temperature
TEST_METRICS = "test_metrics.json"  # every figure the report quotes, test split included
BOARD = "leaderboard.csv"  # one row per trained model: scores, role, in_answer
VAL_SCORES = "answer_val_scores.npz"  # the answer's calibrated validation scores and labels
MODEL_CARD = "MODEL_CARD.md"
STUDY = "optuna.db"  # the Optuna study (search.experiment.relocate opens it where it is)
LOCK = ".lock"  # held while a job runs in the folder
CONFIRM_BOARD = "confirm.csv"  # --confirm: one row per retrained config
CONFIRM = "confirm.json"  # --confirm: each rank's mean over its new seeds
ANSWER_RUN = "answer"  # TensorBoard's run of the answer's curves and finding
# The report's figures
KNOBS_PNG = "knobs.png"
HISTORY_PNG = "history.png"
CURVES_PNG = "learning_curves.png"
CONFUSION_PNG = "confusion.png"
ROC_PR_PNG = "roc_pr.png"
CALIBRATION_PNG = "calibration.png"
IMPORTANCES_PNG = "importances.png"
FIGURES = (KNOBS_PNG, HISTORY_PNG, CURVES_PNG, CONFUSION_PNG, ROC_PR_PNG, CALIBRATION_PNG,
           IMPORTANCES_PNG)  # fmt: skip
# What `imbalance-export` writes, by default into the experiment: the model and its description
EXPORTS = {"pt2": "answer.pt2", "onnx": "answer.onnx"}
EXPORT_DESCRIPTION = "answer.json"  # beside the model, and inside it

# The phases' Tune experiments, beside the search's trials
REFERENCE_RUNS = "references"  # the baseline and the seed recipe, trained beside the search
MEMBERS = "members"  # the answer's runs; later waves in members_2/, members_3/, ...
CONFIRM_RUNS = "confirm"  # --confirm's retrained configs


def members_wave(i: int) -> str:
    """The folder of the members' wave i (0-based): members, members_2, ..."""
    return MEMBERS if i == 0 else f"{MEMBERS}_{i + 1}"


PHASES = (REFERENCE_RUNS, MEMBERS, f"{MEMBERS}_*", CONFIRM_RUNS)  # globs of the phases' folders

# Tune's own files, as Ray 2.60 names them
TUNER = "tuner.pkl"
EXPERIMENT_STATE = "experiment_state"  # the prefix of Tune's JSON state; the others are pickles
# the tuner, the experiment's state, its search algorithm's (pickles, whatever the name says)
SEARCH_STATES = (
    TUNER,
    f"{EXPERIMENT_STATE}-*.json",
    "searcher-state-*.pkl",
    "search_gen_state-*.json",
)
PHASE_STATES = (TUNER, f"{EXPERIMENT_STATE}-*.json", "basic-variant-state-*.json")
# A trial's folder: its config (JSON and pickle), its reports (JSON lines and CSV)
PARAMS_JSON, PARAMS_PKL = "params.json", "params.pkl"
RESULTS, PROGRESS = "result.json", "progress.csv"
