#!/usr/bin/env bash
# Mutation testing of the core modules (mutmut 3), one batch per module with its own test files:
#   bash scripts/mutation.sh                 every batch of scripts/mutation_batches.toml
#   bash scripts/mutation.sh merge holitom   some batches
#   bash scripts/mutation.sh --sample 60 hooks   60 evenly spread mutants of a module
#   bash scripts/mutation.sh --report-only   re-read the last runs
#   bash scripts/mutation.sh --rerun holitom re-run the last survivors with the current tests
# Writes .mutation/report.md (table + the diff of every surviving mutant) and .mutation/report.json.
# CPU-heavy (one worker, niced): CI does not run it; docs/testing.md gives the last scores.
# Needs the mutation extra: .venv/bin/python -m pip install -e '.[mutation]'
set -euo pipefail
cd "$(dirname "$0")/.."
exec nice -n 15 .venv/bin/python scripts/mutation.py "$@"
