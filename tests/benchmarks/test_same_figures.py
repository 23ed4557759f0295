"""Two runs of one search compared figure by figure, their trial ids and paths aside."""

import json

import pandas as pd

from benchmarks.same_figures import main


def experiment(folder, trial_ids, score=0.9, checkpoint="trial_a/checkpoint_000003"):
    folder.mkdir()
    pd.DataFrame(
        {
            "trial_id": trial_ids,
            "role": ["search", "member_seed"],
            "val_balanced_accuracy": [score, 0.8],
            "run_time_s": [10.0, 12.5],
            "peak_rss_mb": [900.0, 950.0],
            "config/seed": [0, 1],
        }
    ).to_csv(folder / "leaderboard.csv", index=False)
    member = {"trial_id": trial_ids[0], "search_trial": trial_ids[0], "checkpoint": checkpoint}
    answer = {"members": [member | {"config": {"seed": 0}}], "val": {"balanced_accuracy": score}}
    (folder / "best.json").write_text(json.dumps({"answer": answer}))
    # the technique finding names each family's best model by its folder
    finding = {"families": [{"best": f"{trial_ids[0]}_natural-focal", "val": score}]}
    report = {"answer": answer | {"test": {}}, "technique_finding": finding}
    (folder / "test_metrics.json").write_text(json.dumps(report))
    return folder


def test_new_trial_ids_paths_and_times_are_the_same_figures(tmp_path, capsys):
    a = experiment(tmp_path / "a", ["trial_a1", "trial_b2_00000"])
    b = experiment(tmp_path / "b", ["trial_c3", "trial_d4_00000"], checkpoint="elsewhere/ckpt")
    pd.read_csv(b / "leaderboard.csv").assign(run_time_s=99.0).to_csv(
        b / "leaderboard.csv", index=False
    )
    assert main([str(a), str(b)]) == 0
    assert capsys.readouterr().out.count("same figures") == 3


def test_one_figure_moved_is_a_difference(tmp_path, capsys):
    a = experiment(tmp_path / "a", ["trial_a", "trial_b"])
    b = experiment(tmp_path / "b", ["trial_a", "trial_b"], score=0.9000001)
    assert main([str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "leaderboard.csv: DIFFERS" in out and "best.json: DIFFERS" in out
