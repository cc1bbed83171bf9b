# shellcheck shell=bash
# Helpers shared by scripts/k8s/*.sh and hack/update-build-modules.sh. Source it; it defines functions only.

export MODELSHIP_CACHE="${MODELSHIP_CACHE:-$HOME/.cache/modelship}"

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# go_env: a Go toolchain that builds offline from the cache after the first run.
# Everything Go writes lives under $MODELSHIP_CACHE/go; the local toolchain is used, never a downloaded one.
go_env() {
  if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
    export PATH="/usr/local/go/bin:$PATH"
  fi
  command -v go >/dev/null || die "go is required (Go >= 1.26, e.g. /usr/local/go/bin/go)"
  export GOTOOLCHAIN=local
  export GOPATH="$MODELSHIP_CACHE/go"
  export GOMODCACHE="$MODELSHIP_CACHE/go/mod"
  export GOCACHE="$MODELSHIP_CACHE/go/build"
  export CGO_ENABLED=0
}

# now_s: seconds since the epoch (integer).
now_s() { date +%s; }

# wait_until DEADLINE_SECONDS DESCRIPTION COMMAND...: run COMMAND every half second until it succeeds.
wait_until() {
  local timeout=$1 what=$2; shift 2
  local deadline=$(( $(now_s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(now_s)" -ge "$deadline" ]; then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}
