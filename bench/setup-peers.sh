#!/usr/bin/env bash
# Create (or bring up to date) bench/.venv-peers from bench/requirements-peers.txt; idempotent.
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PEERS_VENV:-$bench_dir/.venv-peers}"
requirements="$bench_dir/requirements-peers.txt"
python="${PYTHON:-python3}"
stamp="$venv/.requirements-peers.sha256"

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "peers venv up to date: $venv" >&2
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=1
# Great Expectations (bench/contracts.py) sends usage statistics unless this is off.
export GX_ANALYTICS_ENABLED=false
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/python" -m pip check >&2
echo "$want" >"$stamp"
echo "peers venv ready: $venv" >&2
