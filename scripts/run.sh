#!/usr/bin/env bash
# Install vraagbaak into .venv, index the bundled corpus and open the web app.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -d .venv ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e .
vraagbaak ingest
exec vraagbaak ui "$@"
