#!/usr/bin/env bash
# Set everything up (venv, PyTorch, tempme, Debian chromium for the browser test, espeak-ng for
# the speech tests) and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/install_browser.sh
bash scripts/install_espeak.sh
exec .venv/bin/python -m pytest -q "$@"
