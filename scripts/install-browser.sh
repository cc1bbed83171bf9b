#!/usr/bin/env bash
# Install the browser the dashboard's browser tests drive: Debian's chromium (/usr/bin/chromium), through apt.
# Playwright only drives it (executable_path); its own browser downloads (`playwright install`) are never used.
# Idempotent: does nothing when chromium is there. Needs root (or sudo) for apt-get.
# Usage: scripts/install-browser.sh            (the `make browser` target)
set -euo pipefail
source "$(cd "$(dirname "$0")" && pwd)/services/lib.sh"

browser="${MODELSHIP_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$browser" ]; then
  echo "browser: $browser is installed"
  exit 0
fi

apt_install --with-recommends chromium
echo "browser: $("$browser" --version 2>/dev/null | sed -n 1p)"
