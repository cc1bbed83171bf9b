#!/usr/bin/env bash
# Build the Kubernetes test tooling from source with the local Go toolchain (no containers, no release
# downloads: only Go modules), pinned in scripts/k8s/versions.sh, cached under $MODELSHIP_CACHE.
#
# Usage: scripts/k8s/install-tools.sh [TOOL...]
#   TOOL  helm | kwok | etcd | kube | coredns   (default: all five; `kube` = kube-apiserver,
#         kube-controller-manager, kube-scheduler, kubectl, kubelet and kube-proxy, built together so shared
#         packages compile once; kubelet, kube-proxy and coredns serve the real node of scripts/k8s/node.sh)
#
# Idempotent: a tool whose pinned build is already in the cache is only re-verified (about a second).
# A version bump, or a change to hack/<tool>-build/go.{mod,sum}, builds into a new directory and prunes the
# old one. Cold build on 2 cores: roughly 20-30 min in all, most of it `kube`; see the timings printed.
#
# Environment:
#   MODELSHIP_CACHE        cache root (default ~/.cache/modelship)
#   MODELSHIP_BUILD_NICE   niceness for the compilers (default 10; other work shares the machine)
#   GOFLAGS, GOPROXY, ...  honoured; GOTOOLCHAIN is forced to `local`. Needs Go >= 1.26 (kwok v0.8).
#
# Outputs:
#   $MODELSHIP_CACHE/bin/{helm,kwok,etcd,kube-apiserver,kube-controller-manager,kube-scheduler,kubectl,
#                         kubelet,kube-proxy,coredns}
#       symlinks into $MODELSHIP_CACHE/tools/<tool>/<version>[-<go.sum hash>]/
#   $MODELSHIP_CACHE/tools/kwok/<version>/stages.yaml   kwok's default node and pod Stages (used by
#       control-plane.sh: pods go Running+Ready, Job pods Succeed)
#   $MODELSHIP_CACHE/go/{mod,build}   Go module and build caches (keep them: a warm run is fast)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/versions.sh"
source "$here/lib.sh"
go_env

NICE=(nice -n "${MODELSHIP_BUILD_NICE:-10}")
BIN="$MODELSHIP_CACHE/bin"
TOOLS="$MODELSHIP_CACHE/tools"
KUBE_MINOR=$(echo "$KUBE_VERSION" | cut -d. -f2)
mkdir -p "$BIN" "$TOOLS"

go_minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
[ "${go_minor:-0}" -ge 26 ] || die "Go >= 1.26 is required (found $(go env GOVERSION))"

# build_tmp TOOL: sets BUILD_TMP to a fresh directory to build TOOL into (removed on exit unless
# finish() moved it into place).
BUILD_TMP=
build_tmp() {
  mkdir -p "$TOOLS/$1"
  BUILD_TMP=$(mktemp -d "$TOOLS/$1/.build.XXXXXX")
}

# content_key DIR: short hash of a wrapper module's go.mod + go.sum, so any dependency change rebuilds.
content_key() { cat "$1/go.mod" "$1/go.sum" | sha256sum | cut -c1-12; }

# have_build TOOL KEY: true when $TOOLS/TOOL/KEY holds a finished build.
have_build() { [ -f "$TOOLS/$1/$2/.complete" ]; }

# finish TOOL KEY TMPDIR BINARY...: move a finished build into place, link it into $BIN, prune old builds.
finish() {
  local tool=$1 key=$2 tmp=$3; shift 3
  chmod 755 "$tmp"
  touch "$tmp/.complete"
  rm -rf "${TOOLS:?}/$tool/$key"
  mv "$tmp" "$TOOLS/$tool/$key"
  BUILD_TMP=
  link "$tool" "$key" "$@"
  local old
  for old in "$TOOLS/$tool"/*; do
    [ "$old" = "$TOOLS/$tool/$key" ] || rm -rf "$old"
  done
}

link() {
  local tool=$1 key=$2 b; shift 2
  for b in "$@"; do ln -sfn "$TOOLS/$tool/$key/$b" "$BIN/$b"; done
}

# timed NAME COMMAND...: run COMMAND, print how long it took.
timed() {
  local name=$1 start; shift
  start=$(now_s)
  log "building $name ..."
  "$@"
  log "built $name in $(( $(now_s) - start ))s"
}

module_dir() { go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }

# --- helm -------------------------------------------------------------------------------------------
install_helm() {
  local key="$HELM_VERSION-k8s1.$KUBE_MINOR" tmp
  if ! have_build helm "$key"; then
    build_tmp helm; tmp=$BUILD_TMP
    local pkg=helm.sh/helm/v3
    timed "helm $HELM_VERSION" env GOBIN="$tmp" GOFLAGS= "${NICE[@]}" go install -trimpath -ldflags "-s -w \
      -X $pkg/internal/version.version=$HELM_VERSION \
      -X $pkg/internal/version.gitTreeState=clean \
      -X $pkg/pkg/chartutil.k8sVersionMajor=1 -X $pkg/pkg/chartutil.k8sVersionMinor=$KUBE_MINOR \
      -X $pkg/pkg/lint/rules.k8sVersionMajor=1 -X $pkg/pkg/lint/rules.k8sVersionMinor=$KUBE_MINOR" \
      "$pkg/cmd/helm@$HELM_VERSION"
    finish helm "$key" "$tmp" helm
  fi
  link helm "$key" helm
  verify_helm
}

verify_helm() {
  local got chart out
  got=$("$BIN/helm" version --template '{{.Version}}')
  [ "$got" = "$HELM_VERSION" ] || die "helm version reports $got, want $HELM_VERSION"
  chart=$(mktemp -d)
  mkdir -p "$chart/c/templates"
  printf 'apiVersion: v2\nname: c\nversion: 0.1.0\n' >"$chart/c/Chart.yaml"
  printf 'kube: "{{ .Capabilities.KubeVersion.Version }}"\n' >"$chart/c/templates/cm.yaml"
  out=$(HELM_CONFIG_HOME="$chart/h" HELM_CACHE_HOME="$chart/h" HELM_DATA_HOME="$chart/h" \
    "$BIN/helm" template "$chart/c" --show-only templates/cm.yaml)
  rm -rf "$chart"
  case $out in
    *"kube: \"v1.$KUBE_MINOR."*) ;;
    *) die "helm template reports '$out', want KubeVersion v1.$KUBE_MINOR.x" ;;
  esac
  log "ok: helm $got (template KubeVersion ${out#*kube: })"
}

# --- kwok -------------------------------------------------------------------------------------------
# Revision of the stages file below; bump it when kwok_stages changes so existing caches regenerate it.
KWOK_STAGES_REV="modelship kwok stages r2"

install_kwok() {
  local key=$KWOK_VERSION tmp
  if ! have_build kwok "$key"; then
    build_tmp kwok; tmp=$BUILD_TMP
    timed "kwok $KWOK_VERSION" env GOBIN="$tmp" GOFLAGS= "${NICE[@]}" go install -trimpath -ldflags "-s -w" \
      "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    kwok_stages >"$tmp/stages.yaml"
    finish kwok "$key" "$tmp" kwok
  fi
  local stages=$TOOLS/kwok/$key/stages.yaml
  if ! grep -qF "# $KWOK_STAGES_REV" "$stages" 2>/dev/null; then
    kwok_stages >"$stages.tmp" && mv "$stages.tmp" "$stages"
  fi
  link kwok "$key" kwok
  "$BIN/kwok" --version >/dev/null 2>&1 || "$BIN/kwok" --help >/dev/null || die "kwok does not run"
  log "ok: kwok $KWOK_VERSION ($stages)"
}

# kwok_stages: print the Stage objects control-plane.sh gives kwok. kwok (unlike kwokctl) has no
# built-in stages: without them Nodes never get Ready and pods stay Pending. These are the ones kwokctl
# writes into its config (fast node init + lease heartbeat, fast pod ready / complete / delete), taken
# from the kwok module, with one change: upstream's pod-complete only finishes pods owned by a Job; here
# every pod with restartPolicy Never or OnFailure finishes (Succeeded) once Running, so bare run-once
# pods such as `helm test` hooks complete too.
kwok_stages() {
  local src f out
  src=$(module_dir "sigs.k8s.io/kwok@$KWOK_VERSION")
  [ -d "$src/kustomize/stage" ] || die "kwok module source not found for $KWOK_VERSION"
  out=$(
    echo "# $KWOK_STAGES_REV, from sigs.k8s.io/kwok@$KWOK_VERSION kustomize/stage (Apache-2.0)"
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
      pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      echo "---"
      if [ "$f" = pod/fast/pod-complete.yaml ]; then
        sed -e "s|^    - key: '.metadata.ownerReferences.\[\].kind'\$|    - key: '.spec.restartPolicy'|" \
          -e "s|^      - 'Job'\$|      - 'Never'\n      - 'OnFailure'|" "$src/kustomize/stage/$f"
      else
        cat "$src/kustomize/stage/$f"
      fi
    done
  )
  # The rewrite must have happened (it would silently not, were upstream's file to change).
  if ! grep -q "key: '.spec.restartPolicy'" <<<"$out" || grep -q "'Job'" <<<"$out"; then
    die "could not rewrite kwok's pod-complete stage for $KWOK_VERSION: check kwok_stages()"
  fi
  printf '%s\n' "$out"
}

# --- etcd -------------------------------------------------------------------------------------------
install_etcd() {
  local mod=$root/hack/etcd-build key tmp got
  grep -q "go.etcd.io/etcd/server/v3 $ETCD_VERSION" "$mod/go.mod" ||
    die "hack/etcd-build/go.mod is not at etcd $ETCD_VERSION: run hack/update-build-modules.sh"
  key="$ETCD_VERSION-$(content_key "$mod")"
  if ! have_build etcd "$key"; then
    build_tmp etcd; tmp=$BUILD_TMP
    timed "etcd $ETCD_VERSION" bash -c "cd '$mod' && ${NICE[*]} go build -mod=readonly -trimpath \
      -ldflags '-s -w' -o '$tmp/etcd' go.etcd.io/etcd/server/v3"
    finish etcd "$key" "$tmp" etcd
  fi
  link etcd "$key" etcd
  got=$("$BIN/etcd" --version | sed -n 's/^etcd Version: //p')
  [ "v$got" = "$ETCD_VERSION" ] || die "etcd reports version '$got', want $ETCD_VERSION"
  log "ok: etcd v$got"
}

# --- kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy ----------
KUBE_BINS=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy)
install_kube() {
  local mod=$root/hack/kube-build key tmp b got
  grep -q "k8s.io/kubernetes $KUBE_VERSION" "$mod/go.mod" ||
    die "hack/kube-build/go.mod is not at $KUBE_VERSION: run hack/update-build-modules.sh"
  key="$KUBE_VERSION-$(content_key "$mod")"
  if ! have_build kube "$key"; then
    build_tmp kube; tmp=$BUILD_TMP
    # The same version stamp upstream's hack/lib/version.sh sets; without it the servers report v0.0.0
    # and charts' kubeVersion constraints fail.
    local ld="-s -w" p
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld="$ld -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$KUBE_MINOR"
      ld="$ld -X $p.gitTreeState=clean"
    done
    timed "${KUBE_BINS[*]} $KUBE_VERSION" bash -c "cd '$mod' && ${NICE[*]} go build -mod=readonly -trimpath \
      -ldflags '$ld' -o '$tmp/' $(printf 'k8s.io/kubernetes/cmd/%s ' "${KUBE_BINS[@]}")"
    finish kube "$key" "$tmp" "${KUBE_BINS[@]}"
  fi
  link kube "$key" "${KUBE_BINS[@]}"
  for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
    got=$("$BIN/$b" --version)
    [ "$got" = "Kubernetes $KUBE_VERSION" ] || die "$b --version says '$got', want Kubernetes $KUBE_VERSION"
  done
  got=$("$BIN/kubectl" version --client -o json | sed -n 's/.*"gitVersion": "\(.*\)",/\1/p' | sed -n 1p)
  [ "$got" = "$KUBE_VERSION" ] || die "kubectl reports '$got', want $KUBE_VERSION"
  log "ok: ${KUBE_BINS[*]} $KUBE_VERSION"
}

# --- coredns ----------------------------------------------------------------------------------------
install_coredns() {
  local key=$COREDNS_VERSION tmp got
  if ! have_build coredns "$key"; then
    build_tmp coredns; tmp=$BUILD_TMP
    timed "coredns $COREDNS_VERSION" env GOBIN="$tmp" GOFLAGS= "${NICE[@]}" go install -trimpath -ldflags "-s -w" \
      "github.com/coredns/coredns@$COREDNS_VERSION"
    finish coredns "$key" "$tmp" coredns
  fi
  link coredns "$key" coredns
  # sed reads to the end: `head -1` would exit early and coredns die of SIGPIPE (exit 141 under pipefail)
  got=$("$BIN/coredns" -version | sed -n 1p)
  case $got in
    "CoreDNS-${COREDNS_VERSION#v}"*) ;;
    *) die "coredns -version says '$got', want CoreDNS-${COREDNS_VERSION#v}" ;;
  esac
  log "ok: $got"
}

main() {
  local tools=("$@") t start
  [ ${#tools[@]} -gt 0 ] || tools=(helm kwok etcd kube coredns)
  for t in "${tools[@]}"; do
    case $t in
      helm | kwok | etcd | kube | coredns) ;;
      -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown tool '$t' (want helm, kwok, etcd, kube or coredns)" ;;
    esac
  done
  # One install at a time per cache (parallel test workers may all call this script).
  exec 9>"$TOOLS/.k8s-tools.lock"
  if ! flock -n 9; then
    log "waiting for another install-tools.sh using $MODELSHIP_CACHE"
    flock 9
  fi
  # An interrupted build leaves no half-written tool directory behind.
  trap 'if [ -n "$BUILD_TMP" ]; then rm -rf "$BUILD_TMP"; fi' EXIT
  start=$(now_s)
  for t in "${tools[@]}"; do "install_$t"; done
  log "done in $(( $(now_s) - start ))s; binaries in $BIN"
}

# Everything above only defines functions, so the whole file is parsed before anything runs
# (editing the script during a long build cannot change what the running build does).
main "$@"
