#!/usr/bin/env bash
# Install what `make images` and `make e2e` need from Debian's packages: Docker (docker.io, with its containerd and
# runc), mmdebstrap for the local base image, the CNI plugins, iptables and conntrack for the local node.
# Idempotent: does nothing when everything is there. Needs root (or sudo) for apt-get.
# Usage: scripts/images/install-engine.sh            (part of `make images`)
set -euo pipefail
source "$(cd "$(dirname "$0")/.." && pwd)/services/lib.sh"

declare -A need=([dockerd]=docker.io [containerd]=containerd [runc]=runc [mmdebstrap]=mmdebstrap
  [iptables]=iptables [conntrack]=conntrack [ip]=iproute2)
missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null || missing+=("${need[$cmd]}")
done
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
if [ ${#missing[@]} -eq 0 ]; then
  echo "engine: docker.io, containerd, runc, mmdebstrap, CNI plugins, iptables, conntrack are installed"
  exit 0
fi
apt_install "${missing[@]}"
