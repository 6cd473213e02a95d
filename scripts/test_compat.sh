#!/usr/bin/env bash
# The LLM tests (tests/test_llm_*.py) against the oldest transformers that pyproject.toml allows.
#
# Makes an overlay venv next to the project venv (default .venv-compat beside .venv): its
# site-packages has a .pth line that adds the project venv's site-packages (with its .pth files, so
# an editable install of tempme is seen), then pip installs requirements/compat-transformers.txt
# into the overlay only; the overlay's own packages come first on sys.path. The project venv is
# never modified. Usage: scripts/test_compat.sh [extra pytest args]
# Environment: VENV (default .venv), COMPAT_VENV (default .venv-compat), COMPAT_PINS (default the file above).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
COMPAT="${COMPAT_VENV:-$ROOT/.venv-compat}"
PINS="${COMPAT_PINS:-$ROOT/requirements/compat-transformers.txt}"
[ -x "$VENV/bin/python" ] || { echo "no project venv at $VENV (run scripts/setup.sh first)" >&2; exit 1; }

if [ ! -x "$COMPAT/bin/python" ]; then
    "$VENV/bin/python" -m venv --without-pip "$COMPAT"
fi
base_site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
compat_site="$("$COMPAT/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
printf 'import site; site.addsitedir(%s)\n' "'$base_site'" > "$compat_site/tempme-base.pth"

# pip runs from the project venv's packages but installs into the overlay (its sys.prefix)
"$COMPAT/bin/python" -m pip install --quiet --disable-pip-version-check -r "$PINS"
"$COMPAT/bin/python" - "$PINS" <<'PY'
import sys
import transformers
pins = dict(line.split("==") for line in open(sys.argv[1]) if "==" in line and not line.startswith("#"))
want = pins["transformers"].strip()
assert transformers.__version__ == want, f"overlay resolved transformers {transformers.__version__}, pinned {want}"
print(f"compat env: transformers {transformers.__version__} from {transformers.__file__}")
PY
cd "$ROOT"
exec "$COMPAT/bin/python" -m pytest -q -p no:cacheprovider tests/test_llm_*.py "$@"
