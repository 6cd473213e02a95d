#!/usr/bin/env bash
# Install Debian's chromium for the Playwright page tests (tests/test_browser_*.py) when missing,
# and an emoji font (fonts-noto-color-emoji: the page marks why a moment matched with 🗣 🔤 👁,
# drawn as empty boxes without it in the screenshots).
# Playwright's own browser download (`playwright install`) is never used: the test launches
# /usr/bin/chromium. Needs root (or sudo) and apt; on other systems it only says what to do.
set -euo pipefail
CHROMIUM="${TEMPME_CHROMIUM:-/usr/bin/chromium}"
EMOJI_FONT=/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
if [ -x "$CHROMIUM" ] && { [ -f "$EMOJI_FONT" ] || [ -n "${TEMPME_CHROMIUM:-}" ]; }; then
    echo "chromium present: $CHROMIUM"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium missing and apt-get unavailable: install chromium and set TEMPME_CHROMIUM=/path/to/chromium" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
        echo "chromium missing and not root: run 'apt-get install -y chromium' as root" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
PKGS="fonts-noto-color-emoji"
[ -x "$CHROMIUM" ] || PKGS="chromium $PKGS"
$SUDO apt-get install -y -qq $PKGS >/dev/null
echo "installed: $($CHROMIUM --version 2>/dev/null || echo "$CHROMIUM")"
