#!/usr/bin/env bash
# End-to-end run of modelship on a throw-away kind cluster (needs Docker; it cannot run on a machine without a
# container engine). Creates the cluster from k8s/kind-config.yaml, builds the images as skaffold does, loads them
# into kind, installs charts/modelship, trains the penguins model with a Job created from the training CronJob,
# waits for the operator to roll out the champion, predicts one penguin through the gateway, and deletes the
# cluster again.
#
# Usage: scripts/e2e-kind.sh            (or `make e2e-kind`)
# Environment (all optional):
#   KIND_CLUSTER=modelship-e2e   cluster name (deleted at the end unless KEEP_CLUSTER=1)
#   KEEP_CLUSTER=0               1 = leave the cluster (and the release) running for a look around
#   IMAGE_TAG=e2e-<git sha>      tag of the images built and installed (never `latest`)
#   NAMESPACE=modelship          namespace of the release
#   RELEASE=modelship            Helm release name
#   LOCAL_PORT=18000             local port the gateway is forwarded to
#   TIMEOUT=20m                  how long each wait may take (helm install, training, rollout)
#   HELM_EXTRA_ARGS=             more arguments for `helm upgrade --install` (e.g. "-f my-values.yaml")
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CLUSTER=${KIND_CLUSTER:-modelship-e2e}
KEEP=${KEEP_CLUSTER:-0}
NAMESPACE=${NAMESPACE:-modelship}
RELEASE=${RELEASE:-modelship}
LOCAL_PORT=${LOCAL_PORT:-18000}
TIMEOUT=${TIMEOUT:-20m}
sha=$(git rev-parse --short HEAD 2>/dev/null || echo local)
TAG=${IMAGE_TAG:-e2e-$sha}
CONTEXT="kind-$CLUSTER"

# image name -> how it is built (build context: the repo root), as in skaffold.yaml: a target of the repository's
# Dockerfile (with PACKAGE, its workspace package), or a Dockerfile of its own.
IMAGES=(
  "serving:--target serving --build-arg PACKAGE=modelship-serving"
  "gateway:--target gateway --build-arg PACKAGE=modelship-gateway"
  "training:--target training --build-arg PACKAGE=modelship-training"
  "operator:--target operator --build-arg PACKAGE=modelship-operator"
  "streaming:--target streaming --build-arg PACKAGE=modelship-streaming"
  "mlflow:-f docker/mlflow/Dockerfile"
)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }
kc() { kubectl --context "$CONTEXT" -n "$NAMESPACE" "$@"; }

pf_pid=""
created=0
cleanup() {
  local code=$?
  if [ -n "$pf_pid" ]; then kill "$pf_pid" 2>/dev/null || true; fi
  if [ "$code" -ne 0 ] && [ "$created" = 1 ]; then
    echo "--- diagnostics (exit $code) ---" >&2
    kc get pods,jobs,deployments,statefulsets,inferenceservices.modelship.io -o wide >&2 || true
    kc get events --sort-by=.lastTimestamp 2>/dev/null | tail -n 30 >&2 || true
  fi
  if [ "$created" = 1 ] && [ "$KEEP" != 1 ]; then
    step "Deleting kind cluster $CLUSTER"
    kind delete cluster --name "$CLUSTER" || true
  elif [ "$created" = 1 ]; then
    echo "KEEP_CLUSTER=1: cluster $CLUSTER left running (kind delete cluster --name $CLUSTER)"
  fi
  exit "$code"
}
trap cleanup EXIT

step "Checking tools"
for tool in docker kind kubectl helm curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH (this script needs docker, kind, kubectl, helm and curl)"
done
docker info >/dev/null 2>&1 || die "docker does not answer: start the Docker daemon (or Docker Desktop) first"
[ "$TAG" != latest ] || die "IMAGE_TAG must be pinned, not latest"
for entry in "${IMAGES[@]}"; do
  dockerfile=${entry#*:}
  [ -f "$dockerfile" ] || die "$dockerfile is missing"
done

step "Creating kind cluster $CLUSTER"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  die "a kind cluster named $CLUSTER already exists: delete it (kind delete cluster --name $CLUSTER) or set KIND_CLUSTER"
fi
created=1
kind create cluster --name "$CLUSTER" --config k8s/kind-config.yaml --wait 5m

step "Building images (tag $TAG)"
for entry in "${IMAGES[@]}"; do
  name=${entry%%:*}
  read -r -a how <<<"${entry#*:}"
  echo "--- modelship/$name: docker build ${how[*]}"
  docker build "${how[@]}" -t "modelship/$name:$TAG" .
done

step "Loading images into kind"
for entry in "${IMAGES[@]}"; do
  name=${entry%%:*}
  kind load docker-image --name "$CLUSTER" "modelship/$name:$TAG"
done

step "Installing charts/modelship as $RELEASE in $NAMESPACE"
start=$(date +%s)
# Training runs below as an on-demand Job from the (suspended) CronJob, so the install itself does not wait
# for it; digits is skipped to keep the run short.
# shellcheck disable=SC2086 # HELM_EXTRA_ARGS is split on purpose
helm upgrade --install "$RELEASE" charts/modelship \
  --kube-context "$CONTEXT" --namespace "$NAMESPACE" --create-namespace \
  --set global.image.tag="$TAG" \
  --set training.runOnInstall=false \
  --set training.cronJob.enabled=true \
  --set training.cronJob.suspend=true \
  --set training.cronJob.command=penguins \
  --wait --timeout "$TIMEOUT" ${HELM_EXTRA_ARGS:-}
echo "installed and ready in $(( $(date +%s) - start ))s"
kc get pods

step "Training penguins (Job from cronjob/$RELEASE-training)"
job="$RELEASE-train-e2e-$(date +%s)"
kc create job --from="cronjob/$RELEASE-training" "$job"
if ! kc wait --for=condition=complete "job/$job" --timeout="$TIMEOUT"; then
  kc logs "job/$job" --tail=100 >&2 || true
  die "training job $job did not complete"
fi
kc logs "job/$job" --tail=20 || true

step "Waiting for the operator to roll out penguins@champion"
# The ModelRegistry finds the tagged model within pollSeconds (or at once through the MLflow webhook), creates
# InferenceService penguins, and the operator rolls out Deployment penguins-predictor.
deadline=$(( $(date +%s) + 900 ))
until kc get inferenceservice.modelship.io/penguins >/dev/null 2>&1 && kc get deployment penguins-predictor >/dev/null 2>&1; do
  [ "$(date +%s)" -lt "$deadline" ] || die "InferenceService/Deployment penguins(-predictor) did not appear (operator logs: kubectl -n $NAMESPACE logs deploy/$RELEASE-operator; registry: kubectl -n $NAMESPACE get modelregistries.modelship.io -o yaml)"
  sleep 5
done
kc rollout status deployment/penguins-predictor --timeout="$TIMEOUT"
kc wait --for=condition=Ready inferenceservice.modelship.io/penguins --timeout="$TIMEOUT"
kc get inferenceservices.modelship.io

step "Port-forwarding the gateway to localhost:$LOCAL_PORT"
kc port-forward "svc/$RELEASE-gateway" "$LOCAL_PORT:8000" >/dev/null 2>&1 &
pf_pid=$!
deadline=$(( $(date +%s) + 60 ))
until curl -fsS "http://127.0.0.1:$LOCAL_PORT/readyz" >/dev/null 2>&1; do
  [ "$(date +%s)" -lt "$deadline" ] || die "the gateway did not answer /readyz through the port-forward"
  kill -0 "$pf_pid" 2>/dev/null || die "kubectl port-forward exited"
  sleep 2
done

step "Predicting one penguin through the gateway"
row='{"instances": [{"island": "Biscoe", "bill_length_mm": 45.2, "bill_depth_mm": 14.8, "flipper_length_mm": 212, "body_mass_g": 5200, "sex": "female"}]}'
deadline=$(( $(date +%s) + 120 ))
until response=$(curl -fsS -X POST -H 'Content-Type: application/json' -d "$row" \
    "http://127.0.0.1:$LOCAL_PORT/api/models/penguins/predict"); do
  [ "$(date +%s)" -lt "$deadline" ] || die "POST /api/models/penguins/predict kept failing"
  sleep 5
done
echo "$response"
case $response in
  *'"class_name"'*) ;;
  *) die "the prediction has no class_name" ;;
esac

step "OK: modelship served a penguins prediction on kind in $(( $(date +%s) - start ))s after the install started"
