# shellcheck shell=bash
# Helpers shared by scripts/k8s/*.sh and hack/update-build-modules.sh. Source it; it defines functions only.

# MODELSHIP_CACHE, log, die, now_s, wait_until and the other process helpers are scripts/services/lib.sh's.
# shellcheck source=../services/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../services" && pwd)/lib.sh"

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

# ---------------------------------------------------------------------------------------------------
# components: the processes of a node or control plane under $state, pidfiles in $PIDS, logs in $LOGS

# pid_of COMPONENT: the pid from its pidfile if that process is alive and is ours (its command line
# mentions this state dir), else nothing. Guards against pid reuse.
pid_of() {
  local f=$PIDS/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$state/"; then
    echo "$pid"
  fi
}

# alive PID: the process exists and is not a zombie (an exited process its parent has not reaped yet).
alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# stop COMPONENT: SIGTERM, wait up to 15 s, then SIGKILL its process group.
stop() {
  local c=$1 pid i
  pid=$(pid_of "$c")
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      log "$c (pid $pid) still running 15s after SIGTERM; killing it"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do
        alive "$pid" || break
        sleep 0.1
      done
    fi
    wait "$pid" 2>/dev/null || true   # reap it if this shell started it
  fi
  rm -f "$PIDS/$c.pid"
}

# log_tail COMPONENT: the last lines of its log, on stderr.
log_tail() {
  if [ -f "$LOGS/$1.log" ]; then
    log "last lines of $LOGS/$1.log:"
    tail -n 40 "$LOGS/$1.log" | sed 's/^/    /' >&2
  fi
}
