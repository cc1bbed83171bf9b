#!/usr/bin/env bash
# A local MinIO server (S3 API) built from source with `go install`, for `make demo`, the streaming tests
# and the benchmark. No containers, no release downloads: only Go modules.
#
# Usage: scripts/services/minio.sh install|start|stop|run|status|env
#   install  go install github.com/minio/minio@<pinned commit> into $MODELSHIP_CACHE/bin/minio
#            (idempotent: a finished build of the pinned commit is kept; cold build is long, it is niced)
#   start    install if needed, then run the server in the background and wait for /minio/health/ready;
#            prints the export lines (endpoint, access key, secret key) for the modelship settings
#   stop     stop the server started by `start` (data stays)
#   run      run the server in the foreground (tests use this)
#   status   exit 0 when the server is ready
#   env      print the export lines
#
# Root credentials are generated once per state dir into <state>/credentials (mode 600); nothing is hard-coded.
#
# Environment (all optional):
#   MODELSHIP_MINIO_PORT         S3 API port on 127.0.0.1 (default 9000); the console uses PORT+1 unless
#   MODELSHIP_MINIO_CONSOLE_PORT is set
#   MODELSHIP_MINIO_DIR          state dir: data/, credentials, minio.log, minio.pid
#                                (default $MODELSHIP_CACHE/services/minio)
#   MODELSHIP_MINIO_TIMEOUT      seconds `start` waits (default 60)
#   MODELSHIP_BUILD_NICE         niceness of the build (default 10)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
source "$here/../k8s/lib.sh"   # go_env

# Upstream publishes source only (AGPLv3). The commit named in the tooling notes, 9e49d5e7a648
# (RELEASE.2025-10-15T17-29-55Z), is refused by the module proxy ("not available"); this pseudo-version is
# the newest the proxy serves (master, 2026-02-12), pinned here. Override with MODELSHIP_MINIO_REF.
MINIO_MODULE=github.com/minio/minio
MINIO_REF=${MODELSHIP_MINIO_REF:-v0.0.0-20260212201848-7aac2a2c5b7c}
BIN="$MODELSHIP_CACHE/bin"
TOOL_DIR="$MODELSHIP_CACHE/tools/minio/$MINIO_REF"
PORT=${MODELSHIP_MINIO_PORT:-9000}
CONSOLE_PORT=${MODELSHIP_MINIO_CONSOLE_PORT:-$((PORT + 1))}
STATE=${MODELSHIP_MINIO_DIR:-$MODELSHIP_CACHE/services/minio}
TIMEOUT=${MODELSHIP_MINIO_TIMEOUT:-60}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

install() {
  if [ -x "$TOOL_DIR/minio" ] && [ -f "$TOOL_DIR/.complete" ]; then
    ln -sfn "$TOOL_DIR/minio" "$BIN/minio"
    log "minio $MINIO_REF is installed ($BIN/minio)"
    return 0
  fi
  go_env
  local t0 tmp
  t0=$(now_s)
  mkdir -p "$BIN" "$(dirname "$TOOL_DIR")"
  tmp=$(mktemp -d "$(dirname "$TOOL_DIR")/.build.XXXXXX")
  log "building $MINIO_MODULE@$MINIO_REF (cold: many minutes on 2 cores)"
  GOBIN="$tmp" nice -n "${MODELSHIP_BUILD_NICE:-10}" go install -trimpath "$MINIO_MODULE@$MINIO_REF"
  [ -x "$tmp/minio" ] || die "go install did not produce a minio binary"
  touch "$tmp/.complete"
  rm -rf "$TOOL_DIR"
  mv "$tmp" "$TOOL_DIR"
  ln -sfn "$TOOL_DIR/minio" "$BIN/minio"
  log "minio installed ($BIN/minio) in $(( $(now_s) - t0 ))s"
}

credentials() {
  mkdir -p "$STATE"
  if [ ! -f "$STATE/credentials" ]; then
    (umask 077
     printf 'MINIO_ROOT_USER=modelship-%s\nMINIO_ROOT_PASSWORD=%s\n' \
       "$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')" "$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')" \
       > "$STATE/credentials")
  fi
  # shellcheck disable=SC1091
  source "$STATE/credentials"
  export MINIO_ROOT_USER MINIO_ROOT_PASSWORD
}

run() {
  [ -x "$BIN/minio" ] || die "minio is not installed: run \`make services\` (or $0 install)"
  credentials
  mkdir -p "$STATE/data"
  export MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CI_CD=1
  exec "$BIN/minio" server --quiet --address "127.0.0.1:$PORT" --console-address "127.0.0.1:$CONSOLE_PORT" "$STATE/data"
}

ready() { curl -fsS -o /dev/null "http://127.0.0.1:$PORT/minio/health/ready"; }

start() {
  install
  start_server minio "$PORT" MODELSHIP_MINIO_PORT ready
  env_lines
}

env_lines() {
  credentials
  echo "export MODELSHIP_S3_ENDPOINT_URL=http://127.0.0.1:$PORT"
  echo "export MODELSHIP_S3_ACCESS_KEY_ID=$MINIO_ROOT_USER"
  echo "export MODELSHIP_S3_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD"
}

cmd=${1:-}
case $cmd in
  install) timed "minio install" install ;;
  start) start ;;
  stop) stop_pidfile minio "$STATE/minio.pid" ;;
  run) run ;;
  status) ready ;;
  env) env_lines ;;
  -h|--help|help) usage >&2 ;;
  *) usage >&2; exit 2 ;;
esac
