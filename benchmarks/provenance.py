"""Where a benchmark figure came from, saved beside it (airbench's habit).

    from benchmarks.provenance import provenance
    results["throughput"] = {**figures, "provenance": provenance()}

The commit (and whether the tree had uncommitted changes), the command, the library versions
and the hardware: enough to tell two figures apart months later.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def provenance() -> dict:
    import torch

    gpu = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu = f"{props.name}, {props.total_memory / 2**20:.0f} MiB"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        # code only: a benchmark that records row by row has changed its own JSON by its
        # second row, which says nothing of the code that computed it
        "uncommitted_changes": bool(
            _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)*.json")
        ),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "python": platform.python_version(),
        "versions": {p: _version(p) for p in ("torch", "torchvision", "ray", "optuna")},
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
    }
