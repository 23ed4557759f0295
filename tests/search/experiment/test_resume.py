"""SIGKILL a running search, then --resume it: every trial done once, the study intact.

The kill lands at three points, each recognised by the line the search has just printed:
start-up (the Tuner exists, no trial has run), mid-trial (one trial done, the next running),
and the report stage (the search is over, the reference trials are training). One experiment
takes all three in turn, each resume killed at the next point, so every kill but the first
lands on a resumed search (one chain, not three searches: CI has 20 minutes).
"""

import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

import optuna
import pandas as pd
import pytest
from processes import descendants, kill_all

pytestmark = pytest.mark.integration  # searches in their own processes

TRIALS = 3


def command(storage) -> list[str]:
    flags = f"--space focal --data synthetic --storage {storage} --name killed"
    flags += f" --num-samples {TRIALS} --epochs 2 --scheduler none --max-concurrent 1"
    return [sys.executable, "-m", "search.run", *flags.split()]


KILL_POINTS = {
    "start-up": "space focal:",
    "mid-trial": f"trial 1/{TRIALS} done",
    "report": "search took",
}


def start_until(
    storage, marker: str, argv: list[str] | None = None
) -> tuple[subprocess.Popen, list[int]]:
    """Start the search (or `argv`) and read its output until it prints `marker` (or 240 s
    pass); return it still running, with the processes it has started."""
    proc = subprocess.Popen(
        argv or command(storage),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    for line in proc.stdout:
        if marker in line or time.monotonic() > deadline:
            break
    time.sleep(1)
    return proc, descendants(proc.pid)


def stopped(proc: subprocess.Popen, family: list[int], signal_it) -> str:
    """`signal_it(pid)`, then wait for the search to end; what it printed since."""
    try:
        signal_it(proc.pid)
        rest, _ = proc.communicate(timeout=120)
    finally:
        kill_all(family + descendants(proc.pid))
    return rest


def resume(storage, resume_command: list[str]) -> pd.DataFrame:
    """Run the resume to its end; the experiment's leaderboard."""
    resumed = subprocess.run(
        resume_command, capture_output=True, text=True, timeout=400, start_new_session=True
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    return pd.read_csv(storage / "killed" / "leaderboard.csv")


def study_states(experiment) -> list[str]:
    study = optuna.load_study(study_name="killed", storage=f"sqlite:///{experiment / 'optuna.db'}")
    return [t.state.name for t in study.trials]


@pytest.mark.slow
def test_sigkill_at_each_point_then_resume_finishes_every_trial_once(tmp_path):
    argv = command(tmp_path)
    for moment in KILL_POINTS:  # the first run, then each resume, killed at the next point
        proc, family = start_until(tmp_path, KILL_POINTS[moment], argv)
        try:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            kill_all(family + descendants(proc.pid))
        assert proc.returncode == -signal.SIGKILL, moment
        assert not (tmp_path / "killed" / "leaderboard.csv").exists()  # it died mid-search
        argv = [*command(tmp_path), "--resume"]

    board = resume(tmp_path, argv)
    search_rows = board[board["optuna_trial"].notna()]  # the references' start points too
    assert len(search_rows) == TRIALS and search_rows["trial_id"].is_unique
    assert (search_rows["status"] == "complete").all()
    references = board[board["role"].isin(["baseline", "seed_recipe"])]
    assert sorted(references["role"]) == ["baseline", "seed_recipe"]
    assert set(board["role"]) <= {"search", "baseline", "seed_recipe", "member_seed"}
    assert (references["epochs_run"] == 2).all()
    # roles follow the configs, whatever order the restored result grid hands them back in
    by_role = references.set_index("role")
    assert by_role.loc["baseline", "config/aug_strength"] == 0.0
    assert by_role.loc["seed_recipe", "config/sampler"] == "oversample"
    states = study_states(tmp_path / "killed")
    assert states.count("COMPLETE") == TRIALS
    # a config asked for after Tune's last snapshot is asked again; the stale copy is FAIL:
    # at most one per kill that landed inside the search (start-up and mid-trial)
    assert set(states) <= {"COMPLETE", "FAIL"} and states.count("FAIL") <= 2


def interrupted(proc, family, signal_it, experiment) -> str:
    """Stop the search with `signal_it`; assert it saved its state, skipped the report and
    said how to resume; the hint line."""
    rest = stopped(proc, family, signal_it)
    assert proc.returncode == 130, rest[-2000:]
    hint = [line for line in rest.splitlines() if line.startswith("interrupted; continue with:")]
    assert len(hint) == 1 and hint[0].endswith(" --resume") and "--name killed" in hint[0]
    # no references trained, no report written for a half-finished search
    assert "reference baseline:" not in rest and "training the reference" not in rest
    assert not (experiment / "leaderboard.csv").exists()
    return hint[0]


@pytest.mark.slow
def test_a_stop_signal_saves_state_skips_the_report_and_says_how_to_resume(tmp_path):
    experiment = tmp_path / "killed"
    # Ctrl-C in a terminal: SIGINT to the process group
    proc, family = start_until(tmp_path, KILL_POINTS["mid-trial"])
    hint = interrupted(proc, family, lambda pid: os.killpg(pid, signal.SIGINT), experiment)

    # the printed command, as a user would paste it, stopped once it has finished a trial of
    # its own as a scheduler stops a job (timeout, kill -- -PGID): SIGTERM to the whole process
    # group, Ray's processes included. They died with it, and the driver waited a minute for
    # its GCS and exited 1 without a resume line; now the driver alone gets it
    printed = shlex.split(hint.removeprefix("interrupted; continue with: python "))
    proc, family = start_until(tmp_path, f"/{TRIALS} done:", [sys.executable, *printed])
    began = time.monotonic()
    interrupted(proc, family, lambda pid: os.killpg(pid, signal.SIGTERM), experiment)
    assert time.monotonic() - began < 30

    # a copy of the experiment elsewhere resumes its own study; the original is left
    before = study_states(experiment)
    copy = tmp_path / "copy"
    shutil.copytree(experiment, copy / "killed")
    bare = ["--storage", str(copy), "--name", "killed", "--resume"]
    board = resume(copy, [sys.executable, "-m", "search.run", *bare])
    assert study_states(copy / "killed").count("COMPLETE") == TRIALS
    assert study_states(experiment) == before
    search_rows = board[board["optuna_trial"].notna()]  # the references' start points too
    assert len(search_rows) == TRIALS and (search_rows["status"] == "complete").all()


@pytest.mark.slow
def test_sigterm_outside_tunes_loop_is_ctrl_c_before_and_after_ray_starts(tmp_path):
    # Python's default for SIGTERM ended the job with status 15 and no word, and ray.init puts
    # in a handler of its own; in-process, because a signal timed to land inside ray.init from
    # outside is a race (it once arrived in Ray's own handler and was lost)
    import ray

    from search import job
    from search.run import interrupted_line
    from search.settings import SearchSettings
    from search.tune.interrupt import stop_on_sigterm

    previous = signal.getsignal(signal.SIGTERM)
    settings = SearchSettings(space="focal", data="synthetic", storage=str(tmp_path), name="x")
    try:
        stop_on_sigterm()
        with pytest.raises(KeyboardInterrupt):  # reading the data: no Ray yet
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        ray.shutdown()
        job.start_ray(settings)
        with pytest.raises(KeyboardInterrupt):  # Ray started, Tune's loop not yet
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    finally:
        ray.shutdown()
        signal.signal(signal.SIGTERM, previous)
    # nothing saved yet: the same command starts it again, not --resume
    assert interrupted_line([], settings) == (
        "interrupted before the search began; run the same command again"
    )
