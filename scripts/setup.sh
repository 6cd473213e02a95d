#!/usr/bin/env bash
# Create .venv and install tempme with its test extras. Idempotent; safe to re-run.
# PyTorch is installed with plain pip first (pip picks the wheel for this platform; never uv or
# poetry, which download several GB), then the project in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TEMPME_TORCH:-torch==2.14.1 torchvision==0.29.1}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
    # shellcheck disable=SC2086
    .venv/bin/python -m pip install -q --disable-pip-version-check $TORCH_SPEC
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
echo "tempme installed in $(pwd)/.venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
