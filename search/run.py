"""The search: Ray Tune trials, configs from Optuna's TPE over a named space, ASHA stopping.

    python -m search.run --space focal --data ../shared/data/pneumoniamnist/pneumoniamnist.npz
    python -m search.run --list-spaces
    python -m search.run --space focal --name my-run --resume        # after an interruption
    tensorboard --logdir results/my-run

Optimises validation balanced accuracy at the validation-tuned threshold. Results land in
<storage>/<name>/: Tune's trial folders (TensorBoard events, checkpoints), the Optuna study
(optuna.db, for optuna-dashboard), leaderboard.csv, best.json and test_metrics.json (with
cloud storage the study and the report stay in ./results/<name>/ beside the driver).

The command line only: the job itself is `search.job.search`, imported once the flags are read
(Ray and torch take seconds to import; --help and a bad flag answer at once).
"""

from __future__ import annotations

import argparse
import errno
import shlex
import signal
import sys

import optuna

from search.settings import SCHEDULERS, SEARCH_SAMPLERS, SearchSettings
from spaces import SPACES, describe_spaces
from trainable.cli import (
    HelpWithDefaults,
    OneLineParser,
    add_data_flags,
    command_name,
    help_text,
)
from trainable.config import UserError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return make_parser().parse_args(argv)


def given_flags(argv: list[str] | None) -> dict:
    """Only the flags typed on the command line (no defaults): what --resume checks."""
    p = make_parser()
    unset = object()  # not argparse.SUPPRESS: 3.11 type-converts string defaults (int("==SUP..."))
    p.set_defaults(**dict.fromkeys(vars(p.parse_args([])), unset))
    return {k: v for k, v in vars(p.parse_args(argv)).items() if v is not unset}


def make_parser() -> argparse.ArgumentParser:
    defaults = SearchSettings  # its field defaults are the flags' defaults
    p = OneLineParser(
        prog=command_name("search.run", "imbalance-search"),
        description=help_text(__doc__, "search.run", "imbalance-search", paragraphs=3),
        formatter_class=HelpWithDefaults,
    )
    add_search_flags(p, defaults)
    add_data_flags(p.add_argument_group("the data"), defaults.data)
    add_budget_flags(p, defaults)
    add_running_flags(p, defaults)
    return p


def add_search_flags(p: argparse.ArgumentParser, defaults: type[SearchSettings]) -> None:
    """The space, how Optuna proposes and ASHA stops, what the search optimises."""
    g = p.add_argument_group("what is searched")
    g.add_argument("--space", help=f"one of: {', '.join(SPACES)} (required)")
    g.add_argument("--list-spaces", action="store_true", help="print each space's knobs")
    g.add_argument(
        "--sampler",
        choices=tuple(SEARCH_SAMPLERS),
        default=defaults.sampler,
        help="Optuna sampler; random is the baseline TPE has to beat (benchmarks/run.py)",
    )
    g.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        default=defaults.scheduler,
        help="asha stops weak trials early; none trains every trial in full",
    )
    g.add_argument(
        "--grace-period",
        type=int,
        help="ASHA: epochs every trial gets before it may be stopped (default: a tenth of "
        "--epochs, at least 1; see docs/asha.md)",
    )
    g.add_argument(
        "--objective",
        default=defaults.objective,
        help="val: validation balanced accuracy at the tuned threshold; robust: the same on "
        "perturbed validation images (trainable/robustness.py); spec@sens=L: validation "
        "specificity where sensitivity first reaches L, e.g. spec@sens=0.95 (screening)",
    )
    g.add_argument("--seed", type=int, default=defaults.seed, help="TPE sampler and training seed")


def add_budget_flags(p: argparse.ArgumentParser, defaults: type[SearchSettings]) -> None:
    """Trials, epochs, validation passes and --confirm's retraining."""
    g = p.add_argument_group("how much is trained")
    g.add_argument("--num-samples", type=int, default=defaults.num_samples, help="trials to run")
    g.add_argument(
        "--epochs",
        type=int,
        help="max epochs per trial (default: as many images as 10 epochs of 4,708, at least "
        "10, at most 200)",
    )
    g.add_argument(
        "--eval-every",
        type=int,
        help="epochs between validation passes, each a report and a checkpoint (default: a "
        "tenth of --epochs, at least 1: 1 on PneumoniaMNIST, 9 of 94 on 500 images)",
    )
    g.add_argument(
        "--confirm",
        type=int,
        default=defaults.confirm,
        metavar="K",
        help="retrain the top K configs with 3 new seeds each; report mean and spread",
    )


def add_running_flags(p: argparse.ArgumentParser, defaults: type[SearchSettings]) -> None:
    """Ray's resources, the experiment's name and place, resuming, and logs."""
    g = p.add_argument_group("where and how it runs")
    g.add_argument(
        "--max-concurrent", type=int, default=defaults.max_concurrent, help="trials running at once"
    )
    g.add_argument(
        "--cpus-per-trial",
        type=float,
        default=defaults.cpus_per_trial,
        help="CPUs Ray reserves for each trial",
    )
    g.add_argument(
        "--gpus-per-trial",
        type=float,
        default=defaults.gpus_per_trial,
        help="fractions allowed, e.g. 0.25",
    )
    g.add_argument(
        "--max-failures",
        type=int,
        default=defaults.max_failures,
        help="retries of a crashed trial, from its last checkpoint",
    )
    g.add_argument("--name", help="experiment name (default: <space>-<date>-<time>)")
    g.add_argument("--storage", default=defaults.storage, help="results folder or cloud URI")
    g.add_argument(
        "--address",
        help="an existing Ray cluster, e.g. 'auto' (default: a Ray started for this search)",
    )
    g.add_argument("--resume", action="store_true", help="continue the experiment --name")
    g.add_argument("--verbose", action="store_true", help="show Ray's own logs and tables")


def flag_values(args: argparse.Namespace) -> dict:
    """Every settings flag that has a value (typed or default), by SearchSettings field."""
    return {k: v for k, v in vars(args).items() if k != "list_spaces" and v is not None}


def settings_from(args: argparse.Namespace) -> SearchSettings:
    """The validated settings the flags describe (everything but --list-spaces)."""
    return SearchSettings(**flag_values(args))


def settings_for(args: argparse.Namespace, argv: list[str] | None) -> SearchSettings:
    """The settings a command line asks for: with --resume, the experiment's record (the
    flags typed are checked against it); otherwise the flags."""
    if args.resume:
        from search.experiment.manifest import resumed_settings  # imports torch: not for --help

        return resumed_settings(flag_values(args), given_flags(argv))
    return settings_from(args)


def resume_command(argv: list[str] | None, settings: SearchSettings | None) -> str:
    """The command that continues this search: the same flags, the name made explicit."""
    flags = list(sys.argv[1:] if argv is None else argv)
    if (
        settings is not None
        and "--name" not in flags
        and not any(f.startswith("--name=") for f in flags)
    ):
        flags += ["--name", settings.name]
    if "--resume" not in flags:
        flags.append("--resume")
    return shlex.join(["python", "-m", "search.run", *flags])


def interrupted_line(argv: list[str] | None, settings: SearchSettings | None) -> str:
    """What to do after a stop: resume the search, or, stopped before it saved a state (data
    loading, Ray starting), run the same command again."""
    if settings is not None and not settings.resume:
        from search.experiment.resume import started

        if not started(settings):
            return "interrupted before the search began; run the same command again"
    return f"interrupted; continue with: {resume_command(argv, settings)}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = None
    try:
        if args.list_spaces:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
            print(describe_spaces())
            return 0
        settings = settings_for(args, argv)
        from search import job  # Ray and torch: imported once the flags are known good
        from search.tune.interrupt import stop_on_sigterm

        stop_on_sigterm()
        if not job.search(settings):
            print(
                "error: no trial reported a score, so the search has no answer; each trial "
                "folder's error.txt says why",
                file=sys.stderr,
            )
            return 1
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted_line(argv, settings), file=sys.stderr)
        return 130
    except SystemExit as e:  # SIGTERM while ray.init runs: its handler calls sys.exit(15)
        if e.code != signal.SIGTERM:
            raise
        print(interrupted_line(argv, settings), file=sys.stderr)
        return 130
    except Exception as e:  # a disk that filled while the search ran; anything else raises
        reason = disk_full(e)
        if reason is None or settings is None:
            raise
        print(
            f"error: the disk under {settings.storage} filled up ({reason}); free space "
            f"there, then continue with: {resume_command(argv, settings)}",
            file=sys.stderr,
        )
        return 1
    return 0


def disk_full(error: BaseException) -> str | None:
    """The reason, where `error` or one it came from is a full disk (OSError ENOSPC, SQLite's
    "database or disk is full" through Optuna): 186 lines of Ray, Optuna and SQLAlchemy
    traceback said so before."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC:
            return "No space left on device"
        if "database or disk is full" in str(seen) or "No space left on device" in str(seen):
            return "No space left on device"
        seen = seen.__cause__ or seen.__context__
    return None


if __name__ == "__main__":
    sys.exit(main())
