#!/usr/bin/env bash
# Leave the platform running on the local real node, installed as `make e2e` installs it: node up (node.sh), the
# images of scripts/images/build.sh imported, `helm upgrade --install` of charts/modelship with ci/e2e-values.yaml.
# Prints how to reach the gateway, MLflow and Prometheus. `make cluster-down` stops it all.
# Usage: scripts/k8s/cluster-up.sh            (the `make cluster-up` target)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib.sh"

eval "$("$here/node.sh" up --name e2e)"
# shellcheck disable=SC2046
"$here/node.sh" load --name e2e $("$root/scripts/images/build.sh" list)
helm upgrade --install modelship "$root/charts/modelship" -n modelship --create-namespace \
  -f "$root/charts/modelship/ci/e2e-values.yaml" --wait --wait-for-jobs --timeout 25m
cat <<EOT

modelship is up on the local node. In another shell:
  export KUBECONFIG=$KUBECONFIG PATH=$MODELSHIP_CACHE/bin:\$PATH
  kubectl -n modelship get pods
  kubectl -n modelship port-forward svc/modelship-gateway 8000:8000      # http://127.0.0.1:8000 (dashboard, /docs)
  kubectl -n modelship port-forward svc/modelship-mlflow 5000:5000       # http://127.0.0.1:5000
  kubectl -n modelship port-forward svc/modelship-prometheus 9090:9090   # http://127.0.0.1:9090
Grafana is not part of the local values (no Grafana image can be built here; see docker/local/README.md).
Stop everything: make cluster-down
EOT
