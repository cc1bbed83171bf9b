#!/usr/bin/env bash
# A minimal OpenTelemetry Collector (otlp receiver, batch processor, debug exporter) built from the module in
# scripts/otelcol with `go build`, for the e2e's trace check (the stand-in image docker/local/otelcol) and for
# looking at a local process's spans. No containers, no release downloads: only Go modules.
#
# Usage: scripts/services/otelcol.sh install|run|path
#   install  go build scripts/otelcol into $MODELSHIP_CACHE/tools/otelcol/<version>-<hash of the module>/ and link
#            $MODELSHIP_CACHE/bin/otelcol-modelship (idempotent: a finished build of the same module is kept)
#   run      run it in the foreground: OTLP/HTTP on 127.0.0.1:${MODELSHIP_OTELCOL_PORT:-4318}, every span printed
#            (debug exporter, verbosity detailed); e.g. OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
#   path     print the binary's path (after install)
#
# Environment (all optional): MODELSHIP_OTELCOL_PORT, MODELSHIP_BUILD_NICE (default 10).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib.sh"

OTELCOL_VERSION=0.165.0   # the collector release every go.opentelemetry.io/collector module is pinned to
MOD=$root/scripts/otelcol
BIN="$MODELSHIP_CACHE/bin"

tool_dir() {
  local key
  key=$(cat "$MOD/go.mod" "$MOD/go.sum" "$MOD/main.go" | sha256sum | cut -c1-12)
  echo "$MODELSHIP_CACHE/tools/otelcol/$OTELCOL_VERSION-$key"
}

install() {
  local dir t0 tmp
  dir=$(tool_dir)
  if [ -x "$dir/otelcol-modelship" ] && [ -f "$dir/.complete" ]; then
    mkdir -p "$BIN" && ln -sfn "$dir/otelcol-modelship" "$BIN/otelcol-modelship"
    log "otelcol-modelship $OTELCOL_VERSION is installed ($BIN/otelcol-modelship)"
    return 0
  fi
  source "$root/scripts/k8s/lib.sh"
  go_env
  t0=$(now_s)
  mkdir -p "$BIN" "$(dirname "$dir")"
  tmp=$(mktemp -d "$(dirname "$dir")/.build.XXXXXX")
  chmod 755 "$tmp"
  log "building the OpenTelemetry Collector $OTELCOL_VERSION from scripts/otelcol (cold: about 2 minutes on 2 cores)"
  (cd "$MOD" && nice -n "${MODELSHIP_BUILD_NICE:-10}" go build -mod=readonly -trimpath -ldflags "-s -w" \
    -o "$tmp/otelcol-modelship" .)
  [ -x "$tmp/otelcol-modelship" ] || die "go build did not produce otelcol-modelship"
  touch "$tmp/.complete"
  # Older builds (another version or module) are not kept.
  rm -rf "$(dirname "$dir")"/[0-9]*
  mv "$tmp" "$dir"
  ln -sfn "$dir/otelcol-modelship" "$BIN/otelcol-modelship"
  log "otelcol-modelship installed ($BIN/otelcol-modelship, $(du -m "$dir/otelcol-modelship" | cut -f1) MB) in $(( $(now_s) - t0 ))s"
}

run() {
  [ -x "$BIN/otelcol-modelship" ] || die "otelcol-modelship is not installed: run $0 install"
  local port=${MODELSHIP_OTELCOL_PORT:-4318}
  exec "$BIN/otelcol-modelship" --config "yaml:
receivers: {otlp: {protocols: {http: {endpoint: \"127.0.0.1:$port\"}}}}
processors: {batch: {}}
exporters: {debug: {verbosity: detailed}}
service:
  telemetry: {metrics: {level: none}}
  pipelines: {traces: {receivers: [otlp], processors: [batch], exporters: [debug]}}"
}

cmd=${1:-}
case $cmd in
  install) timed "otelcol install" install ;;
  run) run ;;
  path) echo "$BIN/otelcol-modelship" ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2 ;;
  *) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
