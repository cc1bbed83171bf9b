#!/usr/bin/env bash
# A real Kubernetes control plane as plain local processes, for tests on a machine without containers:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and kwok faking the kubelet of one or
# more Nodes, so Deployments, StatefulSets and Jobs really schedule and their pods become Running+Ready
# (pods with restartPolicy Never or OnFailure, e.g. Job pods, then Succeed). Nothing runs in the pods.
# Binaries come from scripts/k8s/install-tools.sh.
#
# Usage: scripts/k8s/control-plane.sh up|down|env|status [--name NAME | --dir DIR] [--fresh] [--purge]
#   up      start everything (idempotent: a running cluster is left alone), wait until it is usable:
#           /readyz, controller-manager and scheduler healthy, Node(s) Ready, `default` ServiceAccount,
#           a smoke Deployment Available on the kwok node (then deleted). Prints the env lines on stdout.
#           On failure: prints the tail of the failing component's log, stops what it started, exits 1.
#           `up --fresh` first stops the cluster and deletes its data (an empty cluster; tests want this).
#   down    stop every process of the cluster (pidfiles; SIGTERM, then SIGKILL after 15s). Data and certs
#           stay, so a later `up` brings back the same cluster. `down --purge` also deletes the state dir.
#   env     print `export KUBECONFIG=...` style lines for `eval "$(control-plane.sh env)"` (no check).
#   status  print which components run; exit 0 only if all do and /readyz answers.
#
# State dir: --dir DIR, else $MODELSHIP_K8S_DIR, else $MODELSHIP_CACHE/k8s/<name> (name: --name NAME,
# else $MODELSHIP_K8S_NAME, else `default`). Several clusters can run at once with different names.
#   <state>/kubeconfig     admin kubeconfig (user O=system:masters), server https://127.0.0.1:<port>
#   <state>/env            the lines `env` prints: KUBECONFIG, MODELSHIP_K8S_DIR, MODELSHIP_K8S_SERVER,
#                          MODELSHIP_K8S_NODES (comma-separated node names), PATH (tools first)
#   <state>/logs/<component>.log, <state>/pids/<component>.pid, <state>/pki/, <state>/etcd/
#
# Environment (all optional):
#   MODELSHIP_CACHE                 tools and default state root (default ~/.cache/modelship)
#   MODELSHIP_K8S_NAME, MODELSHIP_K8S_DIR    see above
#   MODELSHIP_K8S_APISERVER_PORT    kube-apiserver port (default: a free random port)
#   MODELSHIP_K8S_ETCD_PORT         etcd client port (default: random; the peer port is random too)
#   MODELSHIP_K8S_NODES             number of kwok Nodes, named kwok-node-0.. (default 1); 0 = no kwok at all
#                                   (scripts/k8s/node.sh then adds a real kubelet node)
#   MODELSHIP_K8S_ADVERTISE_ADDRESS an address pods can reach (node.sh: its pod bridge's gateway): the API server
#                                   then listens on every address, advertises this one as the `kubernetes`
#                                   Service's endpoint, has it in its certificate, and can reach kubelets
#                                   (logs, exec, port-forward) with a client certificate
#   MODELSHIP_K8S_TIMEOUT           seconds `up` waits for each step (default 180)
#   MODELSHIP_K8S_SMOKE=0           skip the smoke Deployment
#   MODELSHIP_K8S_HOSTPATH_PROVISIONER=0   no default StorageClass (PVCs then stay Pending). Default 1:
#       kube-controller-manager's test-only hostPath provisioner backs the default StorageClass
#       `standard`, so PVCs bind (it makes empty dirs under /tmp/hostpath_pv/ and deletes them with the PVC)
#
# Cluster facts: service CIDR 10.96.0.0/16 (the `kubernetes` Service is 10.96.0.1 and has no endpoints:
# the API server listens on loopback only, which Endpoints may not hold), Node/RBAC
# authorization, service account issuer https://kubernetes.default.svc.cluster.local, pod IPs from kwok
# (10.0.0.0/24). kwok manages only Nodes annotated kwok.x-k8s.io/node=fake. No kube-proxy, no DNS, no
# container runtime: pods never run, so exec/logs/port-forward into them do not work.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"
source "$here/lib.sh"

BIN="$MODELSHIP_CACHE/bin"
SERVICE_CIDR=10.96.0.0/16
SERVICE_IP=10.96.0.1
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
ADVERTISE=${MODELSHIP_K8S_ADVERTISE_ADDRESS:-}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

cmd=${1:-}
[ $# -gt 0 ] && shift
name=${MODELSHIP_K8S_NAME:-default}
state=${MODELSHIP_K8S_DIR:-}
purge=0
fresh=0
while [ $# -gt 0 ]; do
  case $1 in
    --name) name=$2; shift 2 ;;
    --name=*) name=${1#*=}; shift ;;
    --dir) state=$2; shift 2 ;;
    --dir=*) state=${1#*=}; shift ;;
    --purge) purge=1; shift ;;
    --fresh) fresh=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
state=${state:-$MODELSHIP_CACHE/k8s/$name}
state=$(realpath -m "$state")
PKI=$state/pki LOGS=$state/logs PIDS=$state/pids
TIMEOUT=${MODELSHIP_K8S_TIMEOUT:-180}
NODES=${MODELSHIP_K8S_NODES:-1}
[ "$NODES" -gt 0 ] || COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler)

# ---------------------------------------------------------------------------------------------------
# processes

# start COMPONENT ARGS...: run $BIN/COMPONENT in its own session, output to logs/COMPONENT.log.
start() {
  local c=$1; shift
  [ -x "$BIN/$c" ] || die "$BIN/$c is missing: run scripts/k8s/install-tools.sh"
  printf '\n==== %s %s\n' "$(date -u +%FT%TZ)" "$c $*" >>"$LOGS/$c.log"
  setsid "$BIN/$c" "$@" </dev/null >>"$LOGS/$c.log" 2>&1 9>&- &
  echo $! >"$PIDS/$c.pid"
  started+=("$c")
}

stop_all() {
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do stop "${COMPONENTS[$i]}"; done
}

# fail COMPONENT MESSAGE: show the component's log tail, stop what this run started, exit 1.
fail() {
  local c=$1; shift
  log "error: $*"
  log_tail "$c"
  if [ ${#started[@]} -gt 0 ]; then
    log "stopping the components this run started (${started[*]})"
    stop_all
  fi
  exit 1
}

# ---------------------------------------------------------------------------------------------------
# ports, certificates, kubeconfigs

free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    local p
    while :; do
      p=$(( 20000 + RANDOM % 30000 ))
      ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
  fi
}

pick_ports() {
  ETCD_PORT=${MODELSHIP_K8S_ETCD_PORT:-$(free_port)}
  ETCD_PEER_PORT=$(free_port)
  # The API server keeps its port across restarts while it is free: kubeconfigs and the `kubernetes` Service's
  # endpoint stay valid.
  local prev=
  [ -f "$state/ports.env" ] && prev=$(sed -n 's/^API_PORT=//p' "$state/ports.env")
  API_PORT=${MODELSHIP_K8S_APISERVER_PORT:-}
  if [ -z "$API_PORT" ] && [ -n "$prev" ] && ! ss -Htln "sport = :$prev" | grep -q .; then API_PORT=$prev; fi
  API_PORT=${API_PORT:-$(free_port)}
  KCM_PORT=$(free_port)
  SCHED_PORT=$(free_port)
  KWOK_PORT=$(free_port)
  cat >"$state/ports.env" <<EOF
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
API_PORT=$API_PORT
KCM_PORT=$KCM_PORT
SCHED_PORT=$SCHED_PORT
KWOK_PORT=$KWOK_PORT
EOF
}

# cert NAME SUBJECT EXT: a key + certificate signed by the cluster CA (only created once).
cert() {
  local n=$1 subj=$2 ext=$3
  [ -f "$PKI/$n.crt" ] && return 0
  openssl req -new -newkey rsa:2048 -nodes -keyout "$PKI/$n.key" -subj "$subj" -out "$PKI/$n.csr" 2>/dev/null
  printf '%s\n' "$ext" >"$PKI/$n.ext"
  openssl x509 -req -in "$PKI/$n.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$PKI/$n.ext" -out "$PKI/$n.crt" 2>/dev/null
  rm -f "$PKI/$n.csr" "$PKI/$n.ext"
}

make_pki() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 \
      -subj "/CN=modelship-test-ca" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  fi
  local client="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  local san="IP:127.0.0.1,IP:$SERVICE_IP${ADVERTISE:+,IP:$ADVERTISE},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  # A certificate made before an advertise address was set lacks it: make it again.
  if [ -n "$ADVERTISE" ] && [ -f "$PKI/kube-apiserver.crt" ] &&
    ! openssl x509 -in "$PKI/kube-apiserver.crt" -noout -ext subjectAltName 2>/dev/null | grep -qF "IP Address:$ADVERTISE"; then
    rm -f "$PKI/kube-apiserver.crt" "$PKI/kube-apiserver.key"
  fi
  cert kube-apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$san"
  # The API server's client certificate towards kubelets (logs, exec, port-forward).
  cert kube-apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$client"
  cert admin "/O=system:masters/CN=modelship-admin" "$client"
  # The aggregation layer (APIService backends such as metrics-server) trusts this one client only.
  cert front-proxy-client "/CN=front-proxy-client" "$client"
  cert kube-controller-manager "/CN=system:kube-controller-manager" "$client"
  cert kube-scheduler "/CN=system:kube-scheduler" "$client"
  if [ ! -f "$PKI/sa.key" ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
}

# kubeconfig FILE USER: a kubeconfig for the client cert pki/USER.{crt,key} (paths, not inline data).
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: modelship-$name
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    client-certificate: $PKI/$2.crt
    client-key: $PKI/$2.key
contexts:
- name: modelship-$name
  context: {cluster: modelship-$name, user: $2}
current-context: modelship-$name
EOF
}

# squote VALUE: VALUE in single quotes, for the env file (shell-safe, and plain to parse elsewhere).
squote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

write_env() {
  local nodes="" i
  for ((i = 0; i < NODES; i++)); do nodes="$nodes${nodes:+,}kwok-node-$i"; done
  {
    echo "export KUBECONFIG=$(squote "$state/kubeconfig")"
    echo "export MODELSHIP_K8S_DIR=$(squote "$state")"
    echo "export MODELSHIP_K8S_SERVER=$(squote "https://127.0.0.1:$API_PORT")"
    echo "export MODELSHIP_K8S_NODES=$(squote "$nodes")"
    # shellcheck disable=SC2016  # $PATH expands where the file is evaluated
    echo "export PATH=$(squote "$BIN"):\"\$PATH\""
  } >"$state/env"
}

# ---------------------------------------------------------------------------------------------------
# checks

kc() { "$BIN/kubectl" --kubeconfig "$state/kubeconfig" "$@"; }
https_ok() { curl -fsk --max-time 2 "https://127.0.0.1:$1$2" >/dev/null; }
api_ready() {
  curl -fs --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$API_PORT/readyz" >/dev/null
}
etcd_ok() { curl -fs --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" | grep -q '"health":"true"'; }
kwok_ok() { curl -fs --max-time 2 "http://127.0.0.1:$KWOK_PORT/healthz" >/dev/null; }

# await COMPONENT DESCRIPTION COMMAND...: wait for COMMAND while COMPONENT stays alive.
await() {
  local c=$1 what=$2; shift 2
  local deadline=$(( $(now_s) + TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    [ -n "$(pid_of "$c")" ] || fail "$c" "$c exited while waiting for $what"
    [ "$(now_s)" -lt "$deadline" ] || fail "$c" "timed out after ${TIMEOUT}s waiting for $what"
    sleep 0.5
  done
}

all_running() {
  local c
  for c in "${COMPONENTS[@]}"; do [ -n "$(pid_of "$c")" ] || return 1; done
}

# ---------------------------------------------------------------------------------------------------
# up

node_manifest() {
  local i
  for ((i = 0; i < NODES; i++)); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: kwok-node-$i
    kubernetes.io/os: linux
    node-role.kubernetes.io/agent: ""
    type: kwok
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 1Ti}
  capacity: {cpu: "32", memory: 256Gi, pods: "110", ephemeral-storage: 1Ti}
EOF
  done
}

storage_class() {
  cat <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path
reclaimPolicy: Delete
volumeBindingMode: Immediate
EOF
}

smoke_manifest() {
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: modelship-smoke
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: modelship-smoke}
  template:
    metadata:
      labels: {app.kubernetes.io/name: modelship-smoke}
    spec:
      containers:
      - name: smoke
        image: modelship-smoke:0
EOF
}

nodes_ready() {
  local i
  for ((i = 0; i < NODES; i++)); do
    [ "$(kc get node "kwok-node-$i" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ] || return 1
  done
}

up() {
  local t0 t
  t0=$(now_s)
  started=()
  if [ $fresh = 1 ]; then
    stop_all
    rm -rf "${state:?}/etcd" "$LOGS"
    log "--fresh: deleted the cluster data in $state (certificates kept)"
  elif all_running; then
    # shellcheck source=/dev/null
    source "$state/ports.env"
    if api_ready; then
      log "already up ($state)"
      cat "$state/env"
      return 0
    fi
  fi
  stop_all   # a half-running cluster from an earlier crash: start over cleanly
  mkdir -p "$LOGS" "$PIDS" "$state/etcd"
  pick_ports
  make_pki
  kubeconfig "$state/kubeconfig" admin
  kubeconfig "$state/kube-controller-manager.kubeconfig" kube-controller-manager
  kubeconfig "$state/kube-scheduler.kubeconfig" kube-scheduler
  write_env

  start etcd --name=modelship --data-dir="$state/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="modelship=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync=true --quota-backend-bytes=4294967296 --log-level=warn
  await etcd "etcd /health" etcd_ok

  local api_net=(--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none)
  if [ -n "$ADVERTISE" ]; then
    # Pods reach the API server through the `kubernetes` Service, whose endpoint is the advertised address.
    api_net=(--bind-address=0.0.0.0 --advertise-address="$ADVERTISE" --endpoint-reconciler-type=lease)
  fi
  start kube-apiserver \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    "${api_net[@]}" --secure-port="$API_PORT" \
    --tls-cert-file="$PKI/kube-apiserver.crt" --tls-private-key-file="$PKI/kube-apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --authorization-mode=Node,RBAC \
    --allow-privileged=true \
    --kubelet-client-certificate="$PKI/kube-apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/kube-apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname \
    --requestheader-client-ca-file="$PKI/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --cert-dir="$PKI/apiserver-generated"
  await kube-apiserver "kube-apiserver /readyz" api_ready
  log "kube-apiserver ready after $(( $(now_s) - t0 ))s"

  start kube-controller-manager \
    --kubeconfig="$state/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig="$state/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig="$state/kube-controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --cert-dir="$PKI/kcm-generated" \
    --controllers='*' --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --enable-hostpath-provisioner="$([ "${MODELSHIP_K8S_HOSTPATH_PROVISIONER:-1}" = 1 ] && echo true || echo false)" \
    --leader-elect=false
  start kube-scheduler \
    --kubeconfig="$state/kube-scheduler.kubeconfig" \
    --authentication-kubeconfig="$state/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig="$state/kube-scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --cert-dir="$PKI/scheduler-generated" \
    --leader-elect=false
  if [ "$NODES" -gt 0 ]; then
    local stages=$MODELSHIP_CACHE/tools/kwok/$KWOK_VERSION/stages.yaml
    [ -f "$stages" ] || die "$stages is missing: run scripts/k8s/install-tools.sh kwok"
    start kwok --kubeconfig="$state/kubeconfig" --config="$stages" \
      --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
      --server-address="127.0.0.1:$KWOK_PORT" --node-ip=127.0.0.1 --node-lease-duration-seconds=40
  fi
  await kube-controller-manager "kube-controller-manager /healthz" https_ok "$KCM_PORT" /healthz
  await kube-scheduler "kube-scheduler /healthz" https_ok "$SCHED_PORT" /healthz
  if [ "$NODES" -gt 0 ]; then
    await kwok "kwok /healthz" kwok_ok
    node_manifest | kc apply -f - >/dev/null || fail kube-apiserver "could not create the kwok Node(s)"
  fi
  if [ "${MODELSHIP_K8S_HOSTPATH_PROVISIONER:-1}" = 1 ]; then
    storage_class | kc apply -f - >/dev/null || fail kube-apiserver "could not create StorageClass standard"
  fi
  [ "$NODES" -eq 0 ] || await kwok "Node(s) Ready" nodes_ready
  await kube-controller-manager "ServiceAccount default/default" kc -n default get serviceaccount default
  log "control plane ready after $(( $(now_s) - t0 ))s"

  if [ "${MODELSHIP_K8S_SMOKE:-1}" = 1 ] && [ "$NODES" -gt 0 ]; then
    t=$(now_s)
    smoke_manifest | kc apply -f - >/dev/null || fail kube-apiserver "could not create the smoke Deployment"
    kc -n default wait deployment/modelship-smoke --for=condition=Available --timeout="${TIMEOUT}s" >/dev/null ||
      fail kwok "smoke Deployment not Available: $(kc -n default get pods -l app.kubernetes.io/name=modelship-smoke -o wide 2>&1 | tail -n +2)"
    kc -n default delete deployment/modelship-smoke --wait=true --timeout="${TIMEOUT}s" >/dev/null ||
      fail kube-controller-manager "could not delete the smoke Deployment"
    log "smoke Deployment Available and deleted in $(( $(now_s) - t ))s"
  fi
  log "up in $(( $(now_s) - t0 ))s: KUBECONFIG=$state/kubeconfig (server https://127.0.0.1:$API_PORT)"
  cat "$state/env"
}

down() {
  local running=0 c
  for c in "${COMPONENTS[@]}"; do [ -z "$(pid_of "$c")" ] || running=1; done
  stop_all
  if [ $running = 1 ]; then log "stopped ($state)"; else log "nothing was running ($state)"; fi
  if [ $purge = 1 ]; then
    rm -rf "${state:?}"
    log "deleted $state"
  fi
}

status() {
  local c pid rc=0
  for c in "${COMPONENTS[@]}"; do
    pid=$(pid_of "$c")
    if [ -n "$pid" ]; then echo "$c: running (pid $pid)"; else echo "$c: stopped"; rc=1; fi
  done
  if [ -f "$state/ports.env" ]; then
    # shellcheck source=/dev/null
    source "$state/ports.env"
    if api_ready; then echo "kube-apiserver /readyz: ok (https://127.0.0.1:$API_PORT)"; else echo "kube-apiserver /readyz: not ready"; rc=1; fi
  fi
  return $rc
}

# lock: one up/down at a time per state dir (the daemons do not inherit the lock's descriptor).
lock() {
  mkdir -p "$state"
  exec 9>"$state/.lock"
  flock -w "$TIMEOUT" 9 || die "another control-plane.sh holds $state/.lock"
}

started=()
case $cmd in
  up) lock; up ;;
  down) if [ -d "$state" ]; then lock; down; else log "nothing was running ($state)"; fi ;;
  env) [ -f "$state/env" ] || die "no cluster in $state: run '$0 up' first"; cat "$state/env" ;;
  status) status ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
