"""Ray Tune and Optuna, adapted: the searcher (optuna_search), ASHA with rungs that survive a
resume (asha), the fixed-config runs beside the search (reruns), trial records read off Tune's
results (records), per-epoch TensorBoard curves (callbacks), stops from outside (interrupt),
console progress (progress), checks before Ray starts (preflight), Ray's log noise (quiet_ray),
and every private Ray or Optuna touch in one place, checked against the versions it was written
for (compat)."""
