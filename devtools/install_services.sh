#!/usr/bin/env bash
# Install the system servers the root tests, `make demo` and `make bench` start locally:
# PostgreSQL (Debian's postgresql package: initdb/postgres under /usr/lib/postgresql/*/bin), wrk, and
# promtool (Debian's prometheus package; the chart tests check and unit-test the chart's alert rules with it).
# Idempotent: does nothing when everything is there. Needs root (or sudo) for apt-get.
# Usage: devtools/install_services.sh            (the `make services` target)
set -euo pipefail
source "$(cd "$(dirname "$0")/.." && pwd)/scripts/services/lib.sh"

missing=()
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  missing+=(postgresql)
fi
if ! command -v wrk >/dev/null; then
  missing+=(wrk)
fi
if ! command -v promtool >/dev/null; then
  missing+=(prometheus)
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "services: postgresql, wrk and promtool are installed"
  exit 0
fi

apt_install "${missing[@]}"
