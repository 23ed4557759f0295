"""Before any trial runs: the results folder is writable, the cluster answers, and it has
the CPUs and GPUs a trial asks for; then Ray started or joined.

    check_writable(Path("./results/focal-x"))
    start_ray(settings)          # ray.init, then check_cpus / check_gpus against its nodes

Each refusal is one UserError line naming the fix; an autoscaling cluster (--address) may
still add what is missing, so there it is a note and the trials wait.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path

import ray

from search.settings import SearchSettings
from search.tune.compat import own_session_for_ray_processes
from search.tune.interrupt import stop_on_sigterm
from trainable.config import UserError

RAY_TEMP = Path(os.environ.get("RAY_TMPDIR", tempfile.gettempdir())) / "ray"


def check_writable(folder: Path) -> None:
    """Refuse a results folder we cannot create or write, before any trial runs (and without
    creating anything yet)."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is a file")
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as e:
        raise UserError(
            f"cannot write results under {folder} ({e}); choose another --storage"
        ) from None


def check_reachable(address: str) -> None:
    """Fail fast on host:port with nothing listening; ray.init would retry for minutes."""
    if address == "auto":
        return  # Ray finds the local cluster itself and fails at once when there is none
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as e:
        raise UserError(
            f"cannot reach a Ray cluster at {address!r} ({e}); start one with "
            "'ray up cluster.yaml' or leave out --address"
        ) from None


def local_address(cluster_file: Path, timeout_s: float = 5.0) -> str | None:
    """What ray.init should be given without --address: None (Ray's own choice: RAY_ADDRESS,
    else the cluster this machine last started, else a new one), or "local" when the cluster
    recorded in Ray's `ray_current_cluster` file no longer answers. A cluster killed without
    `ray stop` leaves that file behind, and ray.init then tried to reach it for 13 minutes."""
    if os.environ.get("RAY_ADDRESS") or not cluster_file.exists():
        return None
    recorded = cluster_file.read_text().strip()
    host, _, port = recorded.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except (OSError, ValueError):
        print(
            f"note: the Ray cluster recorded in {cluster_file} ({recorded}) does not answer; "
            "starting a new one on this machine",
            flush=True,
        )
        return "local"
    return None


def start_ray(settings: SearchSettings) -> None:
    level = logging.INFO if settings.verbose else logging.ERROR
    address, verbose = settings.address, settings.verbose
    if address:
        check_reachable(address)
    try:
        if address:
            ray.init(address=address, logging_level=level, log_to_driver=verbose)
        else:
            with own_session_for_ray_processes():  # a stop to the group is the driver's
                ray.init(
                    address=local_address(RAY_TEMP / "ray_current_cluster"),
                    include_dashboard=False,
                    logging_level=level,
                    log_to_driver=verbose,
                )
    except (ConnectionError, RuntimeError) as e:
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(
            f"cannot reach a Ray cluster at {address!r} ({first_line}); start "
            "one with 'ray up cluster.yaml' or leave out --address"
        ) from None
    stop_on_sigterm()  # ray.init set its own handler, which exits 15 without a word
    if not verbose:  # a failed trial is one console line (search.tune.progress), its error.txt
        logging.getLogger("ray.tune").setLevel(logging.CRITICAL)  # the traceback, not 60 lines
    if address:  # joining a cluster that is not the one meant went on without a word
        print(cluster_line(), flush=True)
    check_cpus(settings.cpus_per_trial, autoscaling=bool(address))
    if settings.gpus_per_trial > 0:
        check_gpus(settings.gpus_per_trial, autoscaling=bool(address))


def cluster_line() -> str:
    """Which Ray cluster the search joined, and what it holds."""
    alive = [n for n in ray.nodes() if n["Alive"]]
    cpus = sum(n["Resources"].get("CPU", 0) for n in alive)
    gpus = sum(n["Resources"].get("GPU", 0) for n in alive)
    where = ray.get_runtime_context().gcs_address
    return f"joined the Ray cluster at {where}: {len(alive)} node(s), {cpus:g} CPUs, {gpus:g} GPUs"


def check_cpus(per_trial: float, autoscaling: bool) -> None:
    """Tune waits, silently and for ever, for a node with enough CPUs; on this machine alone
    none will come."""
    most = max((n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]), default=0)
    if most >= per_trial:
        return
    if autoscaling:
        print(
            f"no node has {per_trial:g} CPUs yet; trials wait for the autoscaler to add one",
            flush=True,
        )
        return
    raise UserError(
        f"--cpus-per-trial {per_trial:g} but this machine has {most:g} CPUs; "
        f"use at most {most:g}, or a cluster (--address)"
    )


def check_gpus(per_trial: float, autoscaling: bool) -> None:
    """A trial needs one node with enough GPUs. An autoscaling cluster may have none yet."""
    per_node = [n["Resources"].get("GPU", 0) for n in ray.nodes() if n["Alive"]]
    most = max(per_node, default=0)
    if most >= per_trial:
        return
    if autoscaling and most == 0:
        print(
            f"no GPU node is up yet; trials wait for the autoscaler to add one with "
            f">= {per_trial:g} GPU(s)",
            flush=True,
        )
        return
    raise UserError(
        f"--gpus-per-trial {per_trial:g} but the largest node has {most:g} GPU(s); "
        "use --gpus-per-trial 0 (CPU), a fraction such as 0.25, or a GPU cluster"
    )


def check_space(folder: Path, needed: int, what: str) -> None:
    """Refuse, before anything is written, a results folder whose disk has less free space
    than the job needs: a search that filled the disk ended in hundreds of lines of Ray,
    Optuna and SQLite tracebacks, and a resume on a full disk cut Tune's state files to
    nothing. Cloud storage is not checked."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free < needed:
        raise UserError(
            f"{existing} has {free / 2**20:.1f} MiB free and {what} needs about "
            f"{needed / 2**20:.0f} MiB; free space there or choose another --storage"
        )
