# shellcheck shell=bash
# Helpers shared by scripts/services/*.sh. Source it; it defines functions and defaults only.

export MODELSHIP_CACHE="${MODELSHIP_CACHE:-$HOME/.cache/modelship}"

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }
now_s() { date +%s; }

# timed DESCRIPTION COMMAND...: run COMMAND and print how long it took.
timed() {
  local what=$1 t0; shift
  t0=$(now_s)
  "$@"
  log "$what took $(( $(now_s) - t0 ))s"
}

# tcp_open HOST PORT: true when something accepts connections there.
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_until SECONDS DESCRIPTION COMMAND...: run COMMAND every half second until it succeeds.
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

# wait_alive SECONDS DESCRIPTION PIDFILE COMMAND...: like wait_until, but give up as soon as the process is gone.
wait_alive() {
  local timeout=$1 what=$2 pidfile=$3; shift 3
  local deadline=$(( $(now_s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$pidfile"; then
      log "$what exited before it was ready"
      return 1
    fi
    if [ "$(now_s)" -ge "$deadline" ]; then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

# pid_alive PIDFILE: true when the pidfile names a running process.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile NAME PIDFILE: SIGTERM the process (group), wait up to 30 s, then SIGKILL.
stop_pidfile() {
  local name=$1 pidfile=$2 pid i
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    log "$name is not running"
    return 0
  fi
  pid=$(cat "$pidfile")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop within 30s; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  log "$name stopped"
}

# start_background NAME PIDFILE LOGFILE COMMAND...: run COMMAND in its own session, detached, logging to LOGFILE.
start_background() {
  local name=$1 pidfile=$2 logfile=$3; shift 3
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  setsid "$@" >>"$logfile" 2>&1 < /dev/null &
  echo $! > "$pidfile"
}

# start_server NAME PORT SETTING READY: start `$0 run` in its own session (pid and log $STATE/NAME.{pid,log}, the
# previous log kept as NAME.log.1) unless it already runs, and wait up to $TIMEOUT s for the command READY to succeed.
# SETTING is the variable that moves the server to another port (named when PORT is taken by another process).
start_server() {
  local name=$1 port=$2 setting=$3 ready=$4 t0
  local pidfile=$STATE/$name.pid logfile=$STATE/$name.log
  if pid_alive "$pidfile" && "$ready"; then
    log "$name is already running on 127.0.0.1:$port (pid $(cat "$pidfile"))"
    return 0
  fi
  tcp_open 127.0.0.1 "$port" && die "port $port on 127.0.0.1 is taken by another process (set $setting)"
  t0=$(now_s)
  mkdir -p "$STATE"
  [ -f "$logfile" ] && mv -f "$logfile" "$logfile.1"
  start_background "$name" "$pidfile" "$logfile" "$0" run
  if ! wait_alive "$TIMEOUT" "$name on 127.0.0.1:$port" "$pidfile" "$ready"; then
    tail -n 30 "$logfile" >&2 || true
    stop_pidfile "$name" "$pidfile"
    die "$name did not start; log $logfile"
  fi
  log "$name running on 127.0.0.1:$port (pid $(cat "$pidfile"), started in $(( $(now_s) - t0 ))s, log $logfile)"
}

# apt_install [--with-recommends] PACKAGE...: install Debian packages with apt-get (as root, or through sudo).
apt_install() {
  local sudo=() recommends=(--no-install-recommends)
  if [ "${1:-}" = --with-recommends ]; then recommends=(); shift; fi
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to apt-get install $*"
    sudo=(sudo)
  fi
  log "installing $*"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${recommends[@]}" "$@"
  log "installed $*"
}
