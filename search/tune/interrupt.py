"""Ctrl-C and SIGTERM as a stop, not as the end of a search.

    stop_on_sigterm()         # once, at the start: SIGTERM is Ctrl-C in every phase
    results = fit(tuner)      # raises Interrupted after a graceful stop

On the first Ctrl-C Tune stops its trials, saves the experiment state and returns from
`fit()` as if the search had ended; left alone, the search would then train the references
and write a report of a half-finished search. `fit` tells the two apart and raises
`Interrupted` (a KeyboardInterrupt), so the command line skips what follows, prints the
`--resume` command and exits 130.

How it knows: Tune installs its own SIGINT handler when `fit()` starts and, on the first
signal, puts back the handler it found (ray/tune/tune.py, `_setup_signal_catching`). `fit`
installs `_second_signal` before calling Tune; finding it back in place afterwards means Tune
caught a signal. A second Ctrl-C then reaches `_second_signal` and leaves at once. SIGTERM
(a scheduler, `kill`) is routed to whatever SIGINT does at that moment, so it stops the same
way instead of killing the driver before Tune saves its state.
"""

from __future__ import annotations

import os
import signal
import threading

from ray import tune
from ray.tune import ResultGrid


class Interrupted(KeyboardInterrupt):
    """The search was stopped by a signal; its state is saved for --resume."""


def _second_signal(signum, frame) -> None:
    raise KeyboardInterrupt


def _as_sigint(signum, frame) -> None:
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """SIGTERM raises KeyboardInterrupt like Ctrl-C from here on, so a job stopped outside
    `fit` (loading data, starting Ray, writing the report) also exits 130 with the resume
    command; Python's default for SIGTERM ended it with status 15 and no word."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _as_sigint)


def fit(tuner: tune.Tuner) -> ResultGrid:
    """`tuner.fit()`, raising Interrupted if a Ctrl-C or SIGTERM stopped it."""
    if threading.current_thread() is not threading.main_thread():
        return tuner.fit()  # signal handlers can only be set in the main thread
    previous_int = signal.signal(signal.SIGINT, _second_signal)
    previous_term = signal.signal(signal.SIGTERM, _as_sigint)
    try:
        results = tuner.fit()
        tune_catches = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER", "0") == "0"
        if tune_catches and signal.getsignal(signal.SIGINT) is _second_signal:
            raise Interrupted
        return results
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
