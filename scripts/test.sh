#!/usr/bin/env bash
# Install vraagbaak with its test extras into .venv and run the tests.
# torch==2.13.0 is installed first so the 'st' extra does not pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -d .venv ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q torch==2.13.0
python -m pip install -q -e '.[st,test,milvus,ocr]'
ruff check vraagbaak tests bench
mypy vraagbaak
python -m pytest -q "$@"
