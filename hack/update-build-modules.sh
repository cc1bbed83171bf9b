#!/usr/bin/env bash
# Regenerate the wrapper Go modules that scripts/k8s/install-tools.sh builds from:
#   hack/kube-build/  kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy
#                     (k8s.io/kubernetes)
#   hack/etcd-build/  etcd (go.etcd.io/etcd/server/v3)
# Run it after changing KUBE_VERSION or ETCD_VERSION in scripts/k8s/versions.sh, then commit the new
# go.mod and go.sum files. `go install` cannot build k8s.io/kubernetes itself: its go.mod replaces every
# k8s.io/<m> staging module with ./staging/src/k8s.io/<m>, which the module zip does not contain. The
# wrapper replaces each of them with the published k8s.io/<m> v0.<minor>.<patch> instead.
# Usage: hack/update-build-modules.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/scripts/k8s/versions.sh"
source "$root/scripts/k8s/lib.sh"
go_env

kube_dir=$root/hack/kube-build
etcd_dir=$root/hack/etcd-build
mkdir -p "$kube_dir" "$etcd_dir"

# --- kube-build -----------------------------------------------------------------------------------
echo "update-build-modules: k8s.io/kubernetes@$KUBE_VERSION"
src=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -n "$src" ] || die "cannot download k8s.io/kubernetes@$KUBE_VERSION"
staging_version=v0.${KUBE_VERSION#v1.}
rm -f "$kube_dir/go.mod" "$kube_dir/go.sum"
(
  cd "$kube_dir"
  go mod init local/kube-build >/dev/null 2>&1
  # Same language version and GODEBUG defaults as upstream's own go.mod.
  go mod edit -go="$(awk '$1 == "go" {print $2; exit}' "$src/go.mod")"
  godebug=$(awk '$1 == "godebug" {print $2; exit}' "$src/go.mod")
  [ -z "$godebug" ] || go mod edit -godebug="$godebug"
  awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' "$src/go.mod" | while read -r m; do
    case $m in k8s.io/sample-*) continue ;; esac   # examples, never imported by the binaries
    go mod edit -replace="$m=$m@$staging_version"
  done
  go mod edit -require="k8s.io/kubernetes@$KUBE_VERSION"
  go get -tool \
    "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@$KUBE_VERSION" \
    "k8s.io/kubernetes/cmd/kube-scheduler@$KUBE_VERSION" \
    "k8s.io/kubernetes/cmd/kubectl@$KUBE_VERSION" \
    "k8s.io/kubernetes/cmd/kubelet@$KUBE_VERSION" \
    "k8s.io/kubernetes/cmd/kube-proxy@$KUBE_VERSION"
  go mod tidy
)

# --- etcd-build -----------------------------------------------------------------------------------
echo "update-build-modules: go.etcd.io/etcd/server/v3@$ETCD_VERSION"
rm -f "$etcd_dir/go.mod" "$etcd_dir/go.sum"
(
  cd "$etcd_dir"
  go mod init local/etcd-build >/dev/null 2>&1
  go mod edit -go=1.24.0   # the oldest language version that allows `tool` lines
  go mod edit -godebug=default=go1.23   # etcd 3.5's own go.mod says go 1.23
  go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  go mod tidy
)
echo "update-build-modules: done; commit hack/kube-build/go.{mod,sum} and hack/etcd-build/go.{mod,sum}"
