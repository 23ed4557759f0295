#!/usr/bin/env bash
# cluster-onprem.yaml exercised for real on this one machine: `ray up` over SSH to localhost
# (the head, no workers), the README's search submitted as a Ray job, its report checked,
# `ray down`. Needs an SSH server that takes ~/.ssh/id_ed25519 for this user
# (Debian: apt-get install openssh-server; mkdir -p /run/sshd; /usr/sbin/sshd).
#
#   bash benchmarks/onprem_localhost.sh          # about 10 min on 2 cores, most of it pip
#
# Run it on an idle machine: a search started here without --address joins the cluster
# this machine runs (Ray's own rule), tests and benchmarks included.
set -euo pipefail
cd "$(dirname "$0")/.."
data="$(realpath "${IMBALANCE_DATA_DIR:-../shared/data}")/pneumoniamnist/pneumoniamnist.npz"
work="$(mktemp -d)"
sed -e "s/^  head_ip: .*/  head_ip: 127.0.0.1/" \
    -e "s/^  worker_ips: .*/  worker_ips: []/" \
    -e "s/^  ssh_user: .*/  ssh_user: $(whoami)/" \
    -e "s/^min_workers: .*/min_workers: 0/" \
    -e "s/^max_workers: .*/max_workers: 0/" \
    cluster-onprem.yaml > "$work/cluster.yaml"
trap 'ray down -y "$work/cluster.yaml"' EXIT
time ray up -y --no-config-cache "$work/cluster.yaml"
export RAY_AUTH_MODE=token  # the head made a token (~/.ray/auth_token); clients present it
ray status --address 127.0.0.1:6379
# the jobs CLI needs ray[default]; on this machine the environment `ray up` made has it
time ~/imbalance-search-env/bin/ray job submit --address http://127.0.0.1:8265 --working-dir . -- \
    python -m search.run --space focal --address auto --data "$data" \
    --train-subsample 300 --num-samples 4 --epochs 3 --storage "$work/results" --name onprem
python - "$work/results/onprem" <<'PY'
import json, sys
from pathlib import Path
best = json.loads((Path(sys.argv[1]) / "best.json").read_text())
print("report:", sys.argv[1], "answer of", len(best["answer"]["members"]), "model(s)")
PY
