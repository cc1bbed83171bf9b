#!/usr/bin/env bash
# Install the system servers the root tests, `make demo` and `make bench` start locally:
# PostgreSQL (Debian's postgresql package: initdb/postgres under /usr/lib/postgresql/*/bin), wrk, and
# promtool (Debian's prometheus package; the chart tests check and unit-test the chart's alert rules with it).
# Idempotent: does nothing when everything is there. Needs root (or sudo) for apt-get.
# Usage: devtools/install_services.sh            (the `make services` target)
set -euo pipefail

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

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else
    echo "services: need root to apt-get install ${missing[*]}" >&2; exit 1
  fi
fi
echo "services: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "services: done"
