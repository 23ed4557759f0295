"""Any command line ends in a run or in one `error:` line with exit code 2 (hypothesis).

Both commands get arbitrary flags with arbitrary values, then a `--data` that does not exist
(and the search a `--storage` in a temporary folder), so no example trains: each must end at
its first refusal, a `UserError` or argparse's, and never in a traceback.
"""

import contextlib
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search import run as search_run
from spaces import SPACES
from trainable import train as train_cli
from trainable.config import TrainConfig, UserError

pytestmark = pytest.mark.integration  # the installed commands in their own processes

EDGES = st.sampled_from(["0", "1", "-1", "", "nan", "1e309", "0.5", "a/b", "..", "a\0b", *SPACES])
VALUES = st.one_of(
    EDGES,
    EDGES,  # twice: edge values half the time
    st.integers(-(2**40), 2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(max_size=12),
)
SEARCH_FLAGS = [
    "--space", "--size", "--train-subsample", "--num-samples", "--epochs", "--max-concurrent",
    "--cpus-per-trial", "--gpus-per-trial", "--sampler", "--scheduler", "--grace-period",
    "--objective", "--confirm", "--max-failures", "--seed", "--name", "--address",
]  # fmt: skip
SEARCH_SWITCHES = ["--resume", "--verbose", "--list-spaces"]
SEARCH_FLAGS += ["--channels", "--val-fraction", "--patient-pattern"]
TRAIN_FLAGS = [
    "--config", "--epochs", "--seed", "--size", "--channels", "--train-subsample",
    "--val-fraction", "--patient-pattern",
]  # fmt: skip
TRAIN_SWITCHES = ["--evaluate-test", "--resume"]


def command_lines(
    flags: list[str], switches: list[str], valid_start: list[str] = ()
) -> st.SearchStrategy[list[str]]:
    """Flags with values in any order; half of them after `valid_start`, so that the checks
    behind the first one (a known space, say) are reached too."""
    pair = st.tuples(st.sampled_from(flags), VALUES).map(list)
    switch = st.sampled_from(switches).map(lambda s: [s])
    rest = st.lists(st.one_of(pair, pair, switch), max_size=6).map(lambda parts: sum(parts, []))
    start = st.sampled_from([[], list(valid_start)])
    return st.tuples(start, rest).map(lambda t: t[0] + t[1])


def outcome(main, argv: list[str]) -> tuple[int, str]:
    """main(argv)'s exit code and what it wrote to stderr."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse
            code = e.code
    return code, err.getvalue()


def assert_ends_in_one_error_line(code: int, err: str) -> None:
    assert code == 2, err
    assert sum("error:" in line for line in err.splitlines()) == 1, err
    assert "Traceback" not in err, err


@settings(max_examples=150, deadline=None)
@given(command_lines(SEARCH_FLAGS, SEARCH_SWITCHES, ["--space", "focal"]))
def test_any_search_command_line_ends_in_one_error_line(argv):
    with tempfile.TemporaryDirectory() as tmp:
        fixed = ["--data", str(Path(tmp) / "missing.npz"), "--storage", tmp]
        code, err = outcome(search_run.main, argv + fixed)
    if "--list-spaces" in argv and code == 0:
        return  # it lists the spaces and does nothing else
    assert_ends_in_one_error_line(code, err)


@settings(max_examples=150, deadline=None)
@given(command_lines(TRAIN_FLAGS, TRAIN_SWITCHES, ["--config", "{}"]))
def test_any_train_command_line_ends_in_one_error_line(argv):
    with tempfile.TemporaryDirectory() as tmp:
        fixed = ["--data", str(Path(tmp) / "missing.npz"), "--out", str(Path(tmp) / "run")]
        assert_ends_in_one_error_line(*outcome(train_cli.main, argv + fixed))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
KNOBS = st.dictionaries(st.sampled_from(list(TrainConfig().to_dict())), JSON, max_size=6)


@settings(max_examples=300, deadline=None)
@given(KNOBS)
def test_any_config_is_a_valid_train_config_or_one_user_error(knobs):
    try:
        cfg = TrainConfig.from_dict(knobs)
    except UserError:
        return
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg  # what it accepted round-trips


def test_installed_entry_points_are_the_four_commands(tmp_path):
    """`pip install -e .` puts imbalance-search, -train, -predict and -export beside python;
    one is run (each start imports torch: about 10 s on the 2-core machine)."""
    scripts = Path(sys.executable).parent
    for command, module in (
        ("imbalance-search", "search.run"),
        ("imbalance-train", "trainable.train"),
        ("imbalance-predict", "search.predict"),
        ("imbalance-export", "search.export"),
    ):
        assert f"from {module} import main" in (scripts / command).read_text()
    missing, out = str(tmp_path / "missing.npz"), str(tmp_path / "run")
    done = subprocess.run(
        [str(scripts / "imbalance-train"), "--data", missing, "--out", out],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: data not found")
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown), pytest.raises(SystemExit):
        search_run.main(["--help"])
    assert "(default: pneumoniamnist)" in shown.getvalue()


HELP_THEN_LIST_HEAVY_IMPORTS = """
import runpy, sys
sys.argv = ["prog", "--help"]
try:
    runpy.run_module("{module}", run_name="__main__")
except SystemExit:
    pass
print(sorted(name for name in ("torch", "ray", "sklearn", "imblearn") if name in sys.modules))
"""


@pytest.mark.parametrize(
    "module", ["search.run", "trainable.train", "search.predict", "search.export"]
)
def test_help_answers_without_importing_torch_or_ray(module):
    """Every command reads its flags before importing torch and Ray (seconds each), so --help
    and a bad flag answer at once."""
    code = HELP_THEN_LIST_HEAVY_IMPORTS.format(module=module)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "(default: " in done.stdout  # the help itself, with its defaults
    assert done.stdout.strip().splitlines()[-1] == "[]"


def option_entries(help_text: str) -> dict[str, str]:
    """--help's options section: each option's first line (its flags) -> its whole entry."""
    entries: dict[str, str] = {}
    current = None
    for line in help_text.split("options:")[1].splitlines():
        if line.startswith("  -"):
            current = line.split("  ")[1].strip()
            entries[current] = line
        elif current:
            entries[current] += " " + line.strip()
    return entries


@pytest.mark.parametrize(
    "command", ["imbalance-search", "imbalance-train", "imbalance-predict", "imbalance-export"]
)
def test_the_installed_commands_help_names_itself_and_every_default(command):
    done = subprocess.run(
        [str(Path(sys.executable).parent / command), "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {command} ")
    for flags, entry in option_entries(done.stdout).items():
        if flags.startswith("-h") or flags.split(",")[-1].strip().count(" ") == 0:
            continue  # --help and bare switches have no value
        assert "default" in entry or "required" in entry, entry
