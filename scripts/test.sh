#!/usr/bin/env bash
# Set up .venv from scratch and run every check: ruff, mypy --strict, and the whole test suite
# (hermetic tests on a local index, plus the tests marked `network` against the real PyPI).
# This machine's pip configuration is neutralised for the set-up so it is the same everywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
clean=(env -u PIP_FIND_LINKS -u PIP_CONSTRAINT -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL
       PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1)
python3 -m venv .venv
"${clean[@]}" .venv/bin/python -m pip install --quiet --upgrade pip
"${clean[@]}" .venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/ruff check src tests benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest -m "network or not network" "$@"
