#!/usr/bin/env bash
# Set everything up and run every check CI runs (this is the README's test command):
#   1. scripts/setup.sh: .venv with the locked versions (requirements/lock-linux-x86_64-py311.txt)
#   2. Debian packages the tests use for real components, installed with apt-get when missing:
#      chromium (the page test), espeak-ng (speech test clips), PostgreSQL (catalog tests)
#   3. ruff (lint + format check) on the whole tree
#   4. the pytest suite in TEMPME_TEST_WORKERS processes (pytest-xdist, default 2, one test file
#      per worker at a time, the longest files first: tests/conftest.py LONGEST_FIRST; 0 runs it
#      in this process); extra arguments go to pytest
#   5. scripts/test_compat.sh: the LLM tests again at the oldest transformers pyproject allows
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install_browser.sh
bash scripts/install_espeak.sh
bash scripts/install_postgres.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -q --durations=25 -n "${TEMPME_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
bash scripts/test_compat.sh
