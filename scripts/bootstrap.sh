#!/usr/bin/env bash
# Install uv (pinned) into ~/.cache/modelship and sync the workspace venv from uv.lock.
# Usage: scripts/bootstrap.sh            (idempotent; fast when everything is cached)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/env.sh"
UV_VERSION=0.13.9

if ! command -v python3.11 >/dev/null; then
  echo "bootstrap: python3.11 is required (modelship targets CPython 3.11)" >&2
  exit 1
fi
mkdir -p "$MODELSHIP_CACHE/bin"
if [ "$("$MODELSHIP_CACHE/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "bootstrap: installing uv $UV_VERSION into $MODELSHIP_CACHE"
  rm -rf "$MODELSHIP_CACHE/uv-venv"
  python3.11 -m venv "$MODELSHIP_CACHE/uv-venv"
  "$MODELSHIP_CACHE/uv-venv/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION"
  ln -sf "$MODELSHIP_CACHE/uv-venv/bin/uv" "$MODELSHIP_CACHE/bin/uv"
fi
cd "$here/.."
uv sync --all-packages --frozen --quiet
