#!/usr/bin/env bash
# Build the modelship images (the targets of the repository's Dockerfile, and docker/mlflow; the root as context)
# and, on a machine that cannot pull from an image registry, the local stand-ins (docker/local/) for the images
# those Dockerfiles and the chart name, each tagged with the exact repository:tag they render.
#
# Usage: scripts/images/build.sh [all|standins|modelship|docker-up|docker-down|list]
#   all          (default) docker-up, standins (for the images not already there), modelship
#   standins     the base image (mmdebstrap of Debian bookworm, `docker import`) and every stand-in
#   modelship    modelship/{serving,gateway,training,operator,streaming,mlflow}:$IMAGE_TAG
#   docker-up    start dockerd when no Docker daemon answers (state in $MODELSHIP_CACHE/docker); idempotent
#   docker-down  stop the dockerd that docker-up started (one started elsewhere is left alone)
#   list         print every image this script builds, one repository:tag a line
#
# Docker keeps its own layer cache, so a warm run rebuilds only what changed (seconds when nothing did).
# Environment: IMAGE_TAG (default 0.1.0), MODELSHIP_CACHE, MODELSHIP_IMAGES_PULL=1 to pull an image a registry
# serves instead of building its stand-in, MODELSHIP_BUILD_NICE (default 10).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$root/scripts/services/lib.sh"
source "$root/scripts/k8s/versions.sh"

IMAGE_TAG=${IMAGE_TAG:-0.1.0}
STATE=$MODELSHIP_CACHE/docker
NICE=(nice -n "${MODELSHIP_BUILD_NICE:-10}")
export DOCKER_BUILDKIT=0   # the default (legacy) builder: BuildKit's frontends are images that cannot be pulled
DOCKER=(docker)
BASE=modelship-local/debian:bookworm
MC_MODULE=github.com/minio/mc
MC_REF=${MODELSHIP_MC_REF:-v0.0.0-20250313080218-cf909e1063a9}

# The Python images: target of the repository's Dockerfile : the workspace package it installs (--build-arg
# PACKAGE). Then the one image with a Dockerfile of its own (name:dir). The repository root is every build's context.
PYTHON_IMAGES=(serving:modelship-serving gateway:modelship-gateway training:modelship-training
  operator:modelship-operator streaming:modelship-streaming)
OTHER_IMAGES=(mlflow:docker/mlflow)
# stand-in dir under docker/local : the tag it carries (what the Dockerfiles and the chart's values name).
STANDINS=(python:python:3.11-slim postgres:postgres:16.10 kafka:apache/kafka:3.9.1
  minio:minio/minio:RELEASE.2025-09-07T16-13-09Z mc:minio/mc:RELEASE.2025-08-13T08-35-41Z
  prometheus:prom/prometheus:v3.5.0 otelcol:modelship-local/otelcol:0.165.0)

docker_ok() { "${DOCKER[@]}" info >/dev/null 2>&1; }

docker_up() {
  docker_ok && return 0
  command -v dockerd >/dev/null || die "dockerd is missing: apt-get install docker.io (see \`make images\`)"
  mkdir -p "$STATE"
  log "starting dockerd (log: $STATE/dockerd.log)"
  setsid dockerd --pidfile "$STATE/dockerd.pid" --host unix:///var/run/docker.sock \
    </dev/null >>"$STATE/dockerd.log" 2>&1 &
  echo "$!" >"$STATE/dockerd.started"
  wait_until 60 "dockerd" docker_ok || { tail -n 30 "$STATE/dockerd.log" >&2; die "dockerd did not start"; }
  log "dockerd is up"
}

docker_down() {
  local pid
  [ -f "$STATE/dockerd.started" ] || { log "dockerd was not started by this script"; return 0; }
  pid=$(cat "$STATE/dockerd.started")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
    log "stopped dockerd (pid $pid)"
  fi
  rm -f "$STATE/dockerd.started"
}

have_image() { "${DOCKER[@]}" image inspect "$1" >/dev/null 2>&1; }
label_of() { "${DOCKER[@]}" image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }

# base: Debian bookworm minbase with ca-certificates, from mmdebstrap; rebuilt when this recipe changes.
base() {
  local recipe="mmdebstrap --variant=minbase --include=ca-certificates bookworm r1" key
  key=$(printf '%s' "$recipe" | sha256sum | cut -c1-12)
  if [ "$(label_of "$BASE" io.modelship.recipe)" = "$key" ]; then return 0; fi
  command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install mmdebstrap (see \`make images\`)"
  log "building $BASE with mmdebstrap (about a minute)"
  timed "$BASE" bash -c "${NICE[*]} mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm - |
    ${DOCKER[*]} import --change 'LABEL io.modelship.recipe=$key' --change 'ENV LANG=C.UTF-8' \
      --change 'CMD [\"/bin/bash\"]' - '$BASE' >/dev/null"
}

mc_binary() {
  local dir=$MODELSHIP_CACHE/tools/mc/$MC_REF
  if [ ! -f "$dir/.complete" ]; then
    source "$root/scripts/k8s/lib.sh"
    go_env
    mkdir -p "$dir"
    timed "go install $MC_MODULE@$MC_REF" env GOBIN="$dir" GOFLAGS= "${NICE[@]}" go install -trimpath -ldflags "-s -w" \
      "$MC_MODULE@$MC_REF"
    touch "$dir/.complete"
  fi
  echo "$dir/mc"
}

# prometheus_binaries: prometheus + promtool v3.5.0 from the wrapper module hack/prometheus-build (its go.mod copies
# upstream's replace/exclude lines, which `go install` refuses); rebuilt when that module changes.
PROMETHEUS_VERSION=3.5.0
prometheus_binaries() {
  local mod=$root/hack/prometheus-build key dir
  key="$PROMETHEUS_VERSION-$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)"
  dir=$MODELSHIP_CACHE/tools/prometheus/$key
  if [ ! -f "$dir/.complete" ]; then
    source "$root/scripts/k8s/lib.sh"
    go_env
    rm -rf "$MODELSHIP_CACHE/tools/prometheus"
    mkdir -p "$dir"
    local v=github.com/prometheus/common/version
    timed "prometheus $PROMETHEUS_VERSION" bash -c "cd '$mod' && ${NICE[*]} go build -mod=readonly -trimpath \
      -ldflags '-s -w -X $v.Version=$PROMETHEUS_VERSION -X $v.Branch=HEAD -X $v.Revision=v0.305.0' -o '$dir/' \
      github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool" >&2
    touch "$dir/.complete"
  fi
  echo "$dir"
}

# context NAME: a build context for stand-in NAME: its docker/local dir plus what it copies from the machine.
context() {
  local name=$1 ctx=$MODELSHIP_CACHE/images/context/$1
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp -a "$root/docker/local/$name/." "$ctx/"
  case $name in
    python) cp /etc/ssl/certs/ca-certificates.crt "$ctx/" ;;
    kafka)
      "$root/scripts/services/kafka.sh" install >&2
      cp -a "$(kafka_libs)" "$ctx/libs" ;;
    minio)
      "$root/scripts/services/minio.sh" install >&2
      mkdir -p "$ctx/bin" && cp -L "$MODELSHIP_CACHE/bin/minio" "$ctx/bin/minio" ;;
    mc) mkdir -p "$ctx/bin" && cp -L "$(mc_binary)" "$ctx/bin/mc" ;;
    prometheus)
      local prom
      prom=$(prometheus_binaries)
      mkdir -p "$ctx/bin" && cp "$prom/prometheus" "$prom/promtool" "$ctx/bin/" ;;
    otelcol)   # our own minimal collector (scripts/otelcol): the e2e's trace check runs it
      "$root/scripts/services/otelcol.sh" install >&2
      mkdir -p "$ctx/bin" && cp -L "$MODELSHIP_CACHE/bin/otelcol-modelship" "$ctx/bin/otelcol-modelship" ;;
  esac
  echo "$ctx"
}

kafka_libs() {
  local d
  d=$(ls -d "$MODELSHIP_CACHE"/kafka/*/libs 2>/dev/null | sed -n 1p)
  [ -n "$d" ] || die "no Kafka jars under $MODELSHIP_CACHE/kafka: scripts/services/kafka.sh install failed"
  echo "$d"
}

# pullable TAG: with MODELSHIP_IMAGES_PULL=1, whether a registry serves TAG (then no stand-in is built for it).
# Off by default: on the machines this project is built on no registry answers.
pullable() {
  [ "${MODELSHIP_IMAGES_PULL:-0}" = 1 ] || return 1
  timeout 60 "${DOCKER[@]}" pull -q "$1" >/dev/null 2>&1
}

standins() {
  local entry name tag ctx
  for entry in "${STANDINS[@]}"; do
    name=${entry%%:*} tag=${entry#*:}
    if have_image "$tag" && [ -z "$(label_of "$tag" io.modelship.standin)" ]; then
      continue   # the real image is there (pulled earlier)
    fi
    if ! have_image "$tag" && pullable "$tag"; then
      log "pulled $tag"
      continue
    fi
    base
    ctx=$(context "$name")
    timed "stand-in $tag" "${NICE[@]}" "${DOCKER[@]}" build -q --label io.modelship.standin="$name" -t "$tag" "$ctx" >/dev/null
  done
}

modelship() {
  local entry name package dir
  for entry in "${PYTHON_IMAGES[@]}"; do
    name=${entry%%:*} package=${entry#*:}
    # The build stage gets a tag of its own, so that pruning dangling images below (old builds of a tag) keeps
    # the layer cache of the stage where the dependencies are installed.
    "${NICE[@]}" "${DOCKER[@]}" build -q --target build --build-arg PACKAGE="$package" \
      -t "modelship-local/$name-build:$IMAGE_TAG" "$root" >/dev/null
    timed "modelship/$name:$IMAGE_TAG" "${NICE[@]}" "${DOCKER[@]}" build -q --target "$name" \
      --build-arg PACKAGE="$package" -t "modelship/$name:$IMAGE_TAG" "$root" >/dev/null
  done
  for entry in "${OTHER_IMAGES[@]}"; do
    name=${entry%%:*} dir=${entry#*:}
    timed "modelship/$name:$IMAGE_TAG" "${NICE[@]}" "${DOCKER[@]}" build -q -f "$root/$dir/Dockerfile" \
      -t "modelship/$name:$IMAGE_TAG" "$root" >/dev/null
  done
  # Older builds of these tags (each serving or training image is 2.5 GB) are not kept.
  "${DOCKER[@]}" image prune -f >/dev/null
}

list() {
  local entry
  for entry in "${STANDINS[@]}"; do echo "${entry#*:}"; done
  for entry in "${PYTHON_IMAGES[@]}" "${OTHER_IMAGES[@]}"; do echo "modelship/${entry%%:*}:$IMAGE_TAG"; done
}

cmd=${1:-all}
case $cmd in
  all) docker_up; standins; modelship; log "images ready: $(list | tr '\n' ' ')" ;;
  standins) docker_up; standins ;;
  modelship) docker_up; modelship ;;
  docker-up) docker_up ;;
  docker-down) docker_down ;;
  list) list ;;
  -h | --help | help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command '$cmd' (see --help)" ;;
esac
