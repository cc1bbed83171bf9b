#!/usr/bin/env bash
# Install the browser the dashboard's browser tests drive: Debian's chromium (/usr/bin/chromium), through apt.
# Playwright only drives it (executable_path); its own browser downloads (`playwright install`) are never used.
# Idempotent: does nothing when chromium is there. Needs root (or sudo) for apt-get.
# Usage: scripts/install-browser.sh            (the `make browser` target)
set -euo pipefail

browser="${MODELSHIP_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$browser" ]; then
  echo "browser: $browser is installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else
    echo "browser: need root to apt-get install chromium" >&2; exit 1
  fi
fi
echo "browser: installing chromium"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q chromium
echo "browser: done ($("$browser" --version 2>/dev/null | sed -n 1p))"
