#!/usr/bin/env bash
# Create (or bring up to date) bench/.venv-peers from bench/requirements-peers.txt; idempotent.
set -euo pipefail

bench_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PEERS_VENV:-$bench_dir/.venv-peers}"
requirements="$bench_dir/requirements-peers.txt"
python="${PYTHON:-python3}"
stamp="$venv/.requirements-peers.sha256"

# Feast (bench/features.py) lives in its own venv inside the peers venv's folder: it needs
# pandas<3, the peers venv pins pandas 3 (see requirements-peers-feast.txt). Idempotent too.
feast_venv="$venv/feast"
feast_requirements="$bench_dir/requirements-peers-feast.txt"
feast_stamp="$feast_venv/.requirements-peers-feast.sha256"
feast_want="$(sha256sum "$feast_requirements" | cut -d' ' -f1)"
if [[ ! -x "$feast_venv/bin/python" || ! -f "$feast_stamp" || "$(cat "$feast_stamp")" != "$feast_want" ]]; then
    mkdir -p "$venv"
    [[ -x "$feast_venv/bin/python" ]] || "$python" -m venv "$feast_venv"
    DO_NOT_TRACK=1 "$feast_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$feast_requirements"
    "$feast_venv/bin/python" -m pip check >&2
    echo "$feast_want" >"$feast_stamp"
    echo "feast venv ready: $feast_venv" >&2
fi

# BentoML (bench/serving.py) lives in its own venv too (see requirements-peers-bentoml.txt). A
# failed install does not stop the other peers: serving.py prints BentoML as n/a with the reason,
# and the next run of this script tries again (no stamp is written).
bentoml_venv="$venv/bentoml"
bentoml_requirements="$bench_dir/requirements-peers-bentoml.txt"
bentoml_stamp="$bentoml_venv/.requirements-peers-bentoml.sha256"
bentoml_want="$(sha256sum "$bentoml_requirements" | cut -d' ' -f1)"
if [[ ! -x "$bentoml_venv/bin/python" || ! -f "$bentoml_stamp" || "$(cat "$bentoml_stamp")" != "$bentoml_want" ]]; then
    mkdir -p "$venv"
    [[ -x "$bentoml_venv/bin/python" ]] || "$python" -m venv "$bentoml_venv"
    if DO_NOT_TRACK=1 BENTOML_DO_NOT_TRACK=True "$bentoml_venv/bin/python" -m pip install --quiet \
        --disable-pip-version-check -r "$bentoml_requirements" &&
        "$bentoml_venv/bin/python" -m pip check >&2; then
        echo "$bentoml_want" >"$bentoml_stamp"
        echo "bentoml venv ready: $bentoml_venv" >&2
    else
        echo "bentoml venv could not be made: $bentoml_venv (bench/serving.py prints n/a)" >&2
    fi
fi

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
