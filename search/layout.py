"""The names of an experiment's files that readers outside the search need (predict, export,
the checks), in a module that imports nothing heavy: `search.predict` must not load Optuna or
Ray to read them.
"""

MANIFEST = "search.json"  # the settings and the data a search was started with
SHAPE = ("settings", "data")  # what a search.json holds, each an object
BEST = "best.json"  # the answer: its members, cut and temperature
BOARD = "leaderboard.csv"  # one row per trained model: scores, role, in_answer
VAL_SCORES = "answer_val_scores.npz"  # the answer's calibrated validation scores and labels
