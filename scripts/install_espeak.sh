#!/usr/bin/env bash
# Install Debian's espeak-ng (the speech synthesiser the speech tests use to make test clips) when
# missing. Needs root (or sudo) and apt; elsewhere it only says what to do (those tests then skip).
set -euo pipefail
if command -v espeak-ng >/dev/null 2>&1; then
    echo "espeak-ng present: $(command -v espeak-ng)"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "espeak-ng missing and apt-get unavailable: install espeak-ng (the speech tests skip without it)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
        echo "espeak-ng missing and not root: run 'apt-get install -y espeak-ng' as root" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq espeak-ng >/dev/null
echo "installed: $(espeak-ng --version)"
