"""Ray's environment for this project, set on import, before Ray itself is imported: no usage
stats, the plain reporter (else `verbose=0` still prints a table), no sync or migration
warnings. Settings the user already made win.

    import search.tune.quiet_ray  # noqa: F401  (first, then `import ray`)
"""

import os

QUIET = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS": "0",
    # a failed trial's traceback, again, from Ray's worker: its console line and error.txt
    # say it once (search.tune.progress)
    "RAY_IGNORE_UNHANDLED_ERRORS": "1",
}
for name, value in QUIET.items():
    os.environ.setdefault(name, value)
