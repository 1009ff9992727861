#!/usr/bin/env bash
# Install vraagbaak into .venv and open the web app.
# The index is never rebuilt here: when there is none, the app builds one of the bundled
# corpus (progress on stderr and in the page); an existing index, with the documents you
# added, is opened as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -d .venv ]; then
  echo "vraagbaak: creating .venv and installing (the first time takes a few minutes) ..." >&2
  "$PY" -m venv .venv
else
  echo "vraagbaak: checking the installation in .venv ..." >&2
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e .
exec vraagbaak ui "$@"
