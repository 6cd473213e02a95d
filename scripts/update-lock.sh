#!/usr/bin/env bash
# Refresh the lock file that scripts/setup.sh installs: the newest versions pyproject.toml's
# ranges allow, resolved for Linux x86_64 / CPython 3.11 (the platform CI runs on) with
# `uv pip compile`. Review the diff, run `bash scripts/test.sh`, and commit the lock with the
# change that needed it. The resolver only reads package metadata: nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-}"
if [ -z "$UV" ]; then
    if command -v uv >/dev/null 2>&1; then UV=uv; else
        [ -x .venv/bin/uv ] || .venv/bin/python -m pip install -q --disable-pip-version-check "uv>=0.5"
        UV=.venv/bin/uv
    fi
fi
"$UV" pip compile pyproject.toml --all-extras --upgrade \
    --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
    --no-header --annotation-style line \
    --constraint requirements/torch.txt \
    -o requirements/lock-linux-x86_64-py311.txt "$@"
echo "wrote requirements/lock-linux-x86_64-py311.txt"
