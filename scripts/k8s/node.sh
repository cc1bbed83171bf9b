#!/usr/bin/env bash
# A real single-node Kubernetes cluster as local processes, for `make e2e`: the control plane of
# control-plane.sh (no kwok) plus a real node on this machine: a containerd of its own with CRI on, Debian's CNI
# plugins on a pod bridge, kubelet and kube-proxy (v1.33, built by install-tools.sh) and CoreDNS serving
# cluster.local, so pods run real containers from images imported into that containerd, reach each other,
# Services by ClusterIP and by name, and the API server.
#
# Usage: scripts/k8s/node.sh up|down|env|status|load IMAGE...
#   up      bring everything up (idempotent), wait until the node is Ready and a smoke pod answers through a
#           ClusterIP Service by its DNS name; prints the env lines (KUBECONFIG, ...) on stdout
#   down    remove every pod container, stop kubelet, kube-proxy, CoreDNS, containerd and the control plane,
#           delete the bridge, its iptables rules and kube-proxy's chains. `down --purge` also deletes the state
#   env     print the env lines
#   status  exit 0 when every component runs and the node is Ready
#   load    import Docker images into the node's containerd (skipped when the same image id is there already)
#   recycle empty the PersistentVolumes whose claims were deleted and offer them again
#
# Networking stays on this machine: pods live in network namespaces on the bridge $BRIDGE ($POD_CIDR); the API
# server is advertised on the bridge's gateway address; nothing is routed anywhere but between the bridge and the
# host (masquerading is off, so no pod can send traffic off the machine through it). CoreDNS answers only
# cluster.local and in-addr.arpa (no forwarding).
#
# State: $MODELSHIP_CACHE/k8s/<name> (name: --name NAME, else $MODELSHIP_K8S_NAME, else `node`), next to the
# control plane's own files: containerd/, kubelet/, pv/ (static PersistentVolumes), logs/, pids/.
# Needs root, containerd and runc (apt: containerd, runc, containernetworking-plugins, iptables, conntrack).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/versions.sh"
source "$here/lib.sh"

BIN=$MODELSHIP_CACHE/bin
BRIDGE=${MODELSHIP_NODE_BRIDGE:-msbr0}
POD_CIDR=${MODELSHIP_NODE_POD_CIDR:-10.244.0.0/24}
GATEWAY=${POD_CIDR%.*}.1
NODE_NAME=${MODELSHIP_NODE_NAME:-modelship-node}
PAUSE_IMAGE=local/pause:3.10
PV_COUNT=${MODELSHIP_NODE_PVS:-12}
TIMEOUT=${MODELSHIP_K8S_TIMEOUT:-180}
CNI_BIN=${MODELSHIP_CNI_BIN:-/usr/lib/cni}
NODE_COMPONENTS=(containerd coredns kubelet kube-proxy)

cmd=${1:-}
[ $# -gt 0 ] && shift
name=${MODELSHIP_K8S_NAME:-node}
purge=0
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --name) name=$2; shift 2 ;;
    --name=*) name=${1#*=}; shift ;;
    --purge) purge=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
state=$MODELSHIP_CACHE/k8s/$name
PKI=$state/pki LOGS=$state/logs PIDS=$state/pids
CTRD=$state/containerd
SOCK=$CTRD/containerd.sock
KUBELET_DIR=$state/kubelet
CTRD_STATE=/run/modelship/$name/containerd
export MODELSHIP_K8S_DIR=$state MODELSHIP_K8S_NODES=0 MODELSHIP_K8S_SMOKE=0 MODELSHIP_K8S_HOSTPATH_PROVISIONER=0
export MODELSHIP_K8S_ADVERTISE_ADDRESS=$GATEWAY

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
kc() { "$BIN/kubectl" --kubeconfig "$state/kubeconfig" "$@"; }
ctr_() { ctr --address "$SOCK" -n k8s.io "$@"; }

# run COMPONENT PROGRAM ARGS...: start PROGRAM in its own session, output to logs/COMPONENT.log.
run() {
  local c=$1; shift
  printf '\n==== %s %s\n' "$(date -u +%FT%TZ)" "$*" >>"$LOGS/$c.log"
  setsid "$@" </dev/null >>"$LOGS/$c.log" 2>&1 9>&- &
  echo $! >"$PIDS/$c.pid"
}

fail() {
  local c=$1; shift
  log "error: $*"
  log_tail "$c"
  exit 1
}

await() {
  local c=$1 what=$2; shift 2
  local deadline=$(( $(now_s) + TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    [ -z "$c" ] || [ -n "$(pid_of "$c")" ] || fail "$c" "$c exited while waiting for $what"
    [ "$(now_s)" -lt "$deadline" ] || fail "${c:-kubelet}" "timed out after ${TIMEOUT}s waiting for $what"
    sleep 0.5
  done
}

need() {
  local b
  for b in containerd runc ctr iptables conntrack ip openssl; do
    command -v "$b" >/dev/null || die "$b is missing: apt-get install containerd runc iptables conntrack iproute2 (see \`make e2e\`)"
  done
  [ -x "$CNI_BIN/bridge" ] || die "$CNI_BIN/bridge is missing: apt-get install containernetworking-plugins"
  for b in kubelet kube-proxy coredns kubectl; do
    [ -x "$BIN/$b" ] || die "$BIN/$b is missing: run scripts/k8s/install-tools.sh (make k8s-tools)"
  done
  [ "$(id -u)" = 0 ] || die "the node needs root (containers, network namespaces, iptables)"
}

# --- network ----------------------------------------------------------------------------------------
# The bridge exists before the API server starts, so the advertised address is there to listen on.
network_up() {
  modprobe br_netfilter 2>/dev/null || true
  sysctl -qw net.ipv4.ip_forward=1
  [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] && sysctl -qw net.bridge.bridge-nf-call-iptables=1
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  case $(ip -4 addr show dev "$BRIDGE") in
    *"inet $GATEWAY/"*) ;;
    *) ip addr add "$GATEWAY/${POD_CIDR#*/}" dev "$BRIDGE" ;;
  esac
  ip link set "$BRIDGE" up
  # Docker sets the FORWARD policy to DROP: let traffic in and out of the pod bridge (it stays on this machine).
  iptables -C FORWARD -i "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD -i "$BRIDGE" -j ACCEPT
  iptables -C FORWARD -o "$BRIDGE" -j ACCEPT 2>/dev/null || iptables -I FORWARD -o "$BRIDGE" -j ACCEPT
  mkdir -p "$state/cni/net.d"
  cat >"$state/cni/net.d/10-modelship.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "modelship",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$GATEWAY"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$state/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
}

network_down() {
  iptables -D FORWARD -i "$BRIDGE" -j ACCEPT 2>/dev/null || true
  iptables -D FORWARD -o "$BRIDGE" -j ACCEPT 2>/dev/null || true
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
  rm -rf "$state/cni/ipam"
}

# --- certificates and kubeconfigs ---------------------------------------------------------------------
cert() {
  local n=$1 subj=$2
  [ -f "$PKI/$n.crt" ] && return 0
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$n.key" -subj "$subj" -out "$PKI/$n.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$PKI/$n.ext"
  openssl x509 -req -in "$PKI/$n.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$n.ext" -out "$PKI/$n.crt" 2>/dev/null
  rm -f "$PKI/$n.csr" "$PKI/$n.ext"
}

kubeconfig() {
  local file=$1 user=$2 server
  server=$(sed -n 's/^export MODELSHIP_K8S_SERVER=//p' "$state/env" | tr -d "'")
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: modelship-$name
  cluster: {server: "$server", certificate-authority: "$PKI/ca.crt"}
users:
- name: $user
  user: {client-certificate: "$PKI/$user.crt", client-key: "$PKI/$user.key"}
contexts:
- name: modelship-$name
  context: {cluster: modelship-$name, user: $user}
current-context: modelship-$name
EOF
}

# --- containerd ---------------------------------------------------------------------------------------
containerd_up() {
  mkdir -p "$CTRD/root" "$CTRD_STATE"
  cat >"$CTRD/config.toml" <<EOF
version = 2
root = "$CTRD/root"
state = "$CTRD_STATE"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/$PAUSE_IMAGE"
  # runc may not lower oom_score_adj in this sandbox: without this every pod sandbox fails to start.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$state/cni/net.d"
EOF
  if [ -z "$(pid_of containerd)" ]; then
    run containerd containerd --config "$CTRD/config.toml"
  fi
  await containerd "containerd at $SOCK" ctr --address "$SOCK" version
}

pause_image() {
  local have
  have=$(ctr_ images ls -q 2>/dev/null | grep -xF "docker.io/$PAUSE_IMAGE" || true)
  [ -n "$have" ] && return 0
  local dir
  dir=$(mktemp -d)
  (cd "$root/hack/pause" && go_env && go build -trimpath -ldflags "-s -w" -o "$dir/pause" .)
  cp "$root/hack/pause/Dockerfile" "$dir/"
  DOCKER_BUILDKIT=0 docker build -q -t "$PAUSE_IMAGE" "$dir" >/dev/null
  rm -rf "$dir"
  docker save "$PAUSE_IMAGE" | ctr_ images import --all-platforms - >/dev/null
  log "pause image $PAUSE_IMAGE imported"
}

# load IMAGE...: docker save | ctr import, skipped for an image whose id was imported before.
load() {
  local img id marker
  mkdir -p "$CTRD/imported"
  for img in "$@"; do
    id=$(docker image inspect -f '{{.Id}}' "$img") || die "no Docker image $img: build it first (make images)"
    marker=$CTRD/imported/$(printf '%s' "$img" | tr '/:' '__')
    if [ "$(cat "$marker" 2>/dev/null)" = "$id" ] && grep -qxF "$(ref_of "$img")" <<<"$(ctr_ images ls -q)"; then
      continue
    fi
    local t0
    t0=$(now_s)
    docker save "$img" | ctr_ images import --all-platforms - >/dev/null
    echo "$id" >"$marker"
    log "imported $img in $(( $(now_s) - t0 ))s"
  done
  prune_stale
}

# prune_stale: the CRI keeps a `sha256:<image id>` reference of every image it has seen; one whose image is no
# longer under any name (an older build of a re-imported tag) would keep all its layers on disk forever.
prune_stale() {
  local listing ref digest
  listing=$(ctr_ images ls 2>/dev/null | awk 'NR > 1 {print $1, $3}')
  while read -r ref digest; do
    case $ref in sha256:*) ;; *) continue ;; esac
    if ! awk -v d="$digest" '$1 !~ /^sha256:/ && $2 == d {found = 1} END {exit !found}' <<<"$listing"; then
      ctr_ images rm "$ref" >/dev/null 2>&1 && log "removed stale image $ref"
    fi
  done <<<"$listing"
}

# ref_of IMAGE: the name containerd gives a Docker image reference (docker.io/library/... for short names).
ref_of() {
  local img=$1
  case $img in
    */*/*) echo "$img" ;;
    */*) case ${img%%/*} in *.* | *:* | localhost) echo "$img" ;; *) echo "docker.io/$img" ;; esac ;;
    *) echo "docker.io/library/$img" ;;
  esac
}

# --- CoreDNS, kubelet, kube-proxy ---------------------------------------------------------------------
coredns_up() {
  mkdir -p "$state/coredns"
  cat >"$state/coredns/Corefile" <<EOF
.:53 {
    bind $GATEWAY
    errors
    health 127.0.0.1:18053
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $state/coredns.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
EOF
  [ -n "$(pid_of coredns)" ] || run coredns "$BIN/coredns" -conf "$state/coredns/Corefile"
  await coredns "CoreDNS health" curl -fs --max-time 2 http://127.0.0.1:18053/health
}

kubelet_up() {
  mkdir -p "$KUBELET_DIR"
  cat >"$state/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
cgroupsPerQOS: true
enforceNodeAllocatable: []
failSwapOn: false
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
podCIDR: "$POD_CIDR"
clusterDNS: ["$GATEWAY"]
clusterDomain: cluster.local
resolvConf: "$state/resolv.conf"
address: "$GATEWAY"
readOnlyPort: 0
serializeImagePulls: false
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: "$PKI/ca.crt"}
authorization:
  mode: Webhook
maxPods: 60
EOF
  # Pods resolve only cluster names (CoreDNS); this file gives them no upstream resolver of the host's.
  printf 'nameserver %s\n' "$GATEWAY" >"$state/resolv.conf"
  [ -n "$(pid_of kubelet)" ] || run kubelet "$BIN/kubelet" --config="$state/kubelet.yaml" \
    --kubeconfig="$state/kubelet.kubeconfig" --hostname-override="$NODE_NAME" --node-ip="$GATEWAY" \
    --root-dir="$KUBELET_DIR" --cert-dir="$state/kubelet-pki" --v=1
}

kube_proxy_up() {
  # kube-proxy exits when its config file changes: write it only when its content does.
  cat >"$state/kube-proxy.yaml.new" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: "$POD_CIDR"
hostnameOverride: "$NODE_NAME"
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clientConnection: {kubeconfig: "$state/kube-proxy.kubeconfig"}
conntrack: {maxPerCore: 0}
iptables: {masqueradeAll: false}
EOF
  if cmp -s "$state/kube-proxy.yaml.new" "$state/kube-proxy.yaml"; then
    rm -f "$state/kube-proxy.yaml.new"
  else
    mv "$state/kube-proxy.yaml.new" "$state/kube-proxy.yaml"
  fi
  [ -n "$(pid_of kube-proxy)" ] || run kube-proxy "$BIN/kube-proxy" --config="$state/kube-proxy.yaml"
  await kube-proxy "kube-proxy /healthz" curl -fs --max-time 2 http://127.0.0.1:10256/healthz
}

node_ready() {
  [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

# Static PersistentVolumes on this machine's disk, for the default StorageClass `standard` (no provisioner):
# PVCs bind to them, pods write to them with any uid (mode 1777), `helm uninstall` leaves the claims.
storage() {
  local i dir pv
  # A volume whose claim was deleted (Released) is emptied and offered again, so a new install starts clean.
  for pv in $(kc get pv -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name}{"\n"}{end}'); do
    kc delete pv "$pv" --wait=true >/dev/null
    dir=$state/pv/${pv#modelship-local-}
    [ -d "$dir" ] && find "$dir" -mindepth 1 -delete
  done
  {
    cat <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
reclaimPolicy: Retain
volumeBindingMode: WaitForFirstConsumer
EOF
    for ((i = 0; i < PV_COUNT; i++)); do
      dir=$state/pv/pv-$i
      mkdir -p "$dir" && chmod 1777 "$dir"
      cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: modelship-local-pv-$i
spec:
  capacity: {storage: 50Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: standard
  hostPath: {path: "$dir", type: Directory}
EOF
    done
  } | kc apply -f - >/dev/null
}

smoke() {
  local ns=modelship-node-smoke
  kc create namespace "$ns" --dry-run=client -o yaml | kc apply -f - >/dev/null
  kc -n "$ns" apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: smoke, labels: {app: smoke}}
spec:
  restartPolicy: Never
  containers:
  - name: check
    image: python:3.11-slim
    imagePullPolicy: Never
    command: ["python", "-c"]
    args:
    - |
      import socket, ssl, urllib.request
      print("resolved", socket.gethostbyname("kubernetes.default.svc.cluster.local"))
      ctx = ssl.create_default_context(cafile="/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
      try:
          urllib.request.urlopen("https://kubernetes.default.svc.cluster.local/readyz", context=ctx, timeout=10)
      except urllib.error.HTTPError as e:
          print("api server answered", e.code)
      else:
          print("api server answered 200")
EOF
  local deadline=$(( $(now_s) + TIMEOUT )) phase=
  while :; do
    phase=$(kc -n "$ns" get pod smoke -o jsonpath='{.status.phase}' 2>/dev/null || true)
    case $phase in Succeeded | Failed) break ;; esac
    [ "$(now_s)" -lt "$deadline" ] || break
    sleep 1
  done
  local out
  out=$(kc -n "$ns" logs smoke 2>&1 || true)
  kc delete namespace "$ns" --wait=false >/dev/null
  [ "$phase" = Succeeded ] || fail kubelet "smoke pod ended '$phase': $out"
  log "smoke pod: ${out//$'\n'/; }"
}

# api_endpoint: the `kubernetes` Service must point at the API server's port of this start. The lease reconciler
# keeps an endpoint whose address is unchanged, so a port left from an earlier start is deleted here and
# written again by the API server within seconds.
api_endpoint() {
  local port want
  want=$(sed -n 's/^API_PORT=//p' "$state/ports.env")
  port=$(kc -n default get endpointslice kubernetes -o jsonpath='{.ports[0].port}' 2>/dev/null || true)
  [ -z "$port" ] || [ "$port" = "$want" ] && return 0
  log "the kubernetes Service points at port $port, the API server listens on $want: recreating its endpoints"
  kc -n default delete endpoints kubernetes --ignore-not-found >/dev/null 2>&1 || true
  kc -n default delete endpointslice kubernetes --ignore-not-found >/dev/null 2>&1 || true
  await "" "the kubernetes Service's endpoint on port $want" \
    bash -c "[ \"\$('$BIN/kubectl' --kubeconfig '$state/kubeconfig' -n default get endpointslice kubernetes -o jsonpath='{.ports[0].port}')\" = '$want' ]"
}

up() {
  local t0
  t0=$(now_s)
  need
  mkdir -p "$state" "$LOGS" "$PIDS"
  network_up
  "$here/control-plane.sh" up --dir "$state" >/dev/null
  api_endpoint
  cert "$NODE_NAME" "/O=system:nodes/CN=system:node:$NODE_NAME"
  cert kube-proxy "/CN=system:kube-proxy"
  cert coredns "/CN=modelship:coredns"
  kubeconfig "$state/kubelet.kubeconfig" "$NODE_NAME"
  kubeconfig "$state/kube-proxy.kubeconfig" kube-proxy
  kubeconfig "$state/coredns.kubeconfig" coredns
  kc apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "modelship:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "modelship:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "modelship:coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "modelship:coredns"}
EOF
  containerd_up
  pause_image
  coredns_up
  kube_proxy_up
  kubelet_up
  await kubelet "Node $NODE_NAME Ready" node_ready
  storage
  load python:3.11-slim
  smoke
  log "node up in $(( $(now_s) - t0 ))s: KUBECONFIG=$state/kubeconfig"
  cat "$state/env"
}

remove_containers() {
  [ -S "$SOCK" ] || return 0
  local task
  for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true; done
  sleep 1
  for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$task" >/dev/null 2>&1 || true; done
  for task in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$task" >/dev/null 2>&1 || true; done
}

down() {
  stop kubelet
  remove_containers
  stop kube-proxy
  stop coredns
  stop containerd
  # Mounts the kubelet and containerd left (volumes, rootfs, netns), innermost first.
  local m
  for m in $(awk '{print $2}' /proc/mounts | grep -E "^($KUBELET_DIR|$CTRD|/run/netns/cni-)" | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  for m in /run/netns/cni-*; do [ -e "$m" ] && ip netns delete "${m##*/}" 2>/dev/null || true; done
  [ ! -x "$BIN/kube-proxy" ] || "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true
  network_down
  if [ -d "$state" ]; then "$here/control-plane.sh" down --dir "$state" >/dev/null 2>&1 || true; fi
  if [ $purge = 1 ]; then
    rm -rf "${state:?}"
    log "deleted $state"
  fi
  log "node down"
}

status() {
  local c rc=0
  for c in "${NODE_COMPONENTS[@]}"; do
    if [ -n "$(pid_of "$c")" ]; then echo "$c: running"; else echo "$c: stopped"; rc=1; fi
  done
  "$here/control-plane.sh" status --dir "$state" || rc=1
  node_ready 2>/dev/null && echo "node $NODE_NAME: Ready" || { echo "node $NODE_NAME: not Ready"; rc=1; }
  return $rc
}

lock() {
  mkdir -p "$state"
  exec 9>"$state/.node.lock"
  flock -w "$TIMEOUT" 9 || die "another node.sh holds $state/.node.lock"
}

# Everything above only defines functions: the whole file is parsed before anything runs (editing the script while
# it runs cannot change what a running node.sh does).
main() {
  case $cmd in
    up) lock; up ;;
    down) lock; down ;;
    env) [ -f "$state/env" ] || die "no node in $state: run '$0 up' first"; cat "$state/env" ;;
    status) status ;;
    load) [ ${#args[@]} -gt 0 ] || die "load needs image names"; load "${args[@]}" ;;
    recycle) storage ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}
main
