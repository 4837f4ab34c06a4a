#!/usr/bin/env bash
# Set everything up (idempotent) and run the linter and the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k settings -x
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
bash scripts/apt_lists.sh
bash scripts/browser.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest -q "$@"
