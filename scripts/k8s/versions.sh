# shellcheck shell=bash disable=SC2034
# Pinned versions of the Kubernetes test tooling. Sourced by install-tools.sh, control-plane.sh and
# hack/update-build-modules.sh. Bumping KUBE_VERSION or ETCD_VERSION needs `hack/update-build-modules.sh`
# (it rewrites hack/*-build/go.mod and go.sum); every bump rebuilds on the next install-tools.sh run.
#
# KUBE_VERSION is v1.33.13, not v1.33.5: the Go module proxy reachable from the build machines does not
# serve k8s.io/kube-controller-manager, k8s.io/externaljwt and k8s.io/endpointslice at v0.33.5, so the
# v1.33.5 control plane cannot be built from published modules. v1.33.13 resolves and verifies completely.
# helm is built to assume KUBE_VERSION's minor (v1.33.0) as .Capabilities.KubeVersion when it renders
# without a cluster (`helm template`, `helm lint`).
HELM_VERSION=v3.21.4
KWOK_VERSION=v0.8.0
ETCD_VERSION=v3.5.21
KUBE_VERSION=v1.33.13
COREDNS_VERSION=v1.15.0
