SHELL := bash -o pipefail -e
.DEFAULT_GOAL := help
export MODELSHIP_CACHE ?= $(HOME)/.cache/modelship
RUN := source scripts/env.sh &&
PY := .venv/bin/python
PYTEST_ARGS ?=

##@ General
.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Setup
.PHONY: sync
sync: ## Install uv and the workspace venv (cached under ~/.cache/modelship)
	@scripts/bootstrap.sh

.PHONY: lock
lock: ## Re-resolve uv.lock after changing a pyproject.toml
	@$(RUN) uv lock

##@ Run
.PHONY: demo
demo: sync ## Run the platform locally: MLflow, training, model servers, gateway on :8000
	@$(RUN) $(PY) -m devtools.demo

##@ Test
.PHONY: test
test: sync services browser k8s-tools images ## Install what the tests need and run the whole test suite (e2e last)
	@rc=0; $(RUN) $(PY) -m pytest services/common/tests services/serving/tests services/gateway/tests services/scoring/tests services/streaming/tests training_jobs/tests operators/rollout/tests cli/tests charts/tests tests $(PYTEST_ARGS) || rc=$$?; \
	  scripts/images/build.sh docker-down; exit $$rc

.PHONY: test-unit
test-unit: sync unit-tools ## Unit tests only: no server, no training (deselects the integration and slow markers)
	@$(RUN) PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(MODELSHIP_CACHE)/pycache $(PY) -m pytest services/common/tests services/serving/tests services/gateway/tests services/scoring/tests services/streaming/tests training_jobs/tests operators/rollout/tests cli/tests charts/tests tests -m "not integration and not slow" -p randomly -n auto --dist loadfile $(PYTEST_ARGS)

.PHONY: lint
lint: sync ## ruff + mypy
	@$(RUN) .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy services/*/src training_jobs/src devtools operators/rollout/src cli/src

.PHONY: bench bench-serving bench-gateway bench-streaming bench-rollout
bench: bench-serving bench-gateway bench-streaming bench-rollout ## All benchmarks (serving, gateway, streaming, rollout); each prints a table

bench-serving: sync services ## Model server vs `mlflow models serve`: req/s, p50/p99 at c=1/8/32, parity, cold start
	@$(RUN) $(PY) -m devtools.bench

bench-gateway: sync services ## Gateway vs the model server it fronts: req/s, p50/p99 at c=1/8/32 on PostgreSQL and SQLite, rows stored
	@$(RUN) $(PY) -m devtools.bench_gateway

bench-streaming: sync services ## Image pipeline: images/s from upload to all three predictions stored, p50/p99
	@$(RUN) $(PY) -m services.streaming.bench

bench-rollout: sync k8s-tools images ## On a real node: alias move -> rollout started and Ready (polling, webhook); a Canary through the gateway (traffic, split, promote, rollback)
	@rc=0; $(RUN) $(PY) -m devtools.bench_rollout || rc=$$?; $(RUN) $(PY) -m devtools.bench_progressive || rc=$$?; exit $$rc

.PHONY: helm-test
helm-test: sync k8s-tools ## Chart tests: lint, render matrix, conventions, install/upgrade/uninstall on a local control plane
	@$(RUN) $(PY) -m pytest charts/tests $(PYTEST_ARGS)

##@ Servers and tools the tests use (cached under ~/.cache/modelship)
.PHONY: services
services: ## PostgreSQL, wrk and promtool (apt), a Kafka broker (Maven Central) and MinIO (go install) for tests, demo, bench
	@devtools/install_services.sh
	@scripts/services/kafka.sh install
	@scripts/services/minio.sh install

.PHONY: browser
browser: ## Debian's chromium for the dashboard browser tests (driven by Playwright; never downloads a browser)
	@scripts/install-browser.sh

.PHONY: unit-tools
unit-tools: ## The two binaries the unit chart tests run: promtool (apt, with postgresql and wrk) and helm (built alone)
	@devtools/install_services.sh
	@scripts/k8s/install-tools.sh helm

.PHONY: k8s-tools
k8s-tools: ## Build helm, kwok, etcd, kube-apiserver/controller-manager/scheduler and kubectl
	@scripts/k8s/install-tools.sh

.PHONY: k8s-up
k8s-up: k8s-tools ## Start a local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok node)
	@scripts/k8s/control-plane.sh up

.PHONY: k8s-down
k8s-down: ## Stop the local control plane
	@scripts/k8s/control-plane.sh down

.PHONY: charts-crds
charts-crds: ## Copy k8s/crds into the chart (a chart test checks they are equal)
	@cp k8s/crds/*.yaml charts/modelship/crds/

##@ A real node on this machine (containerd + kubelet + kube-proxy + CoreDNS; no kind needed)
.PHONY: images e2e cluster-up cluster-down
images: ## Build every modelship image (and local stand-ins for images no registry serves here)
	@scripts/images/install-engine.sh
	@scripts/images/build.sh all

e2e: sync k8s-tools images ## Our images as real pods: helm install the chart on a local real node and check it end to end
	@rc=0; $(RUN) $(PY) -m pytest tests/e2e $(PYTEST_ARGS) || rc=$$?; \
	  [ "$${KEEP:-0}" = 1 ] || scripts/images/build.sh docker-down; exit $$rc

cluster-up: sync k8s-tools images ## Leave the platform running on the local node (as make e2e installs it); prints how to reach it
	@scripts/k8s/cluster-up.sh

cluster-down: ## Stop the local node of cluster-up / KEEP=1 make e2e (PVC data stays unless PURGE=1)
	@scripts/k8s/node.sh down --name e2e $$([ "$${PURGE:-0}" = 1 ] && echo --purge)

##@ Kubernetes (kind or minikube; needs Docker)
KIND_CLUSTER ?= modelship
IMAGE_TAG ?= 0.1.0

.PHONY: kind-up
kind-up: ## Create the kind cluster "modelship"
	@kind get clusters | grep -qx $(KIND_CLUSTER) || kind create cluster --name $(KIND_CLUSTER) --config k8s/kind-config.yaml --wait 5m

.PHONY: kind-load
kind-load: images ## Build the images and load them into the kind cluster
	@for i in $$(scripts/images/build.sh list | grep '^modelship/'); do kind load docker-image --name $(KIND_CLUSTER) $$i; done

.PHONY: deploy
deploy: ## helm upgrade --install the platform into namespace modelship
	@helm upgrade --install modelship charts/modelship -n modelship --create-namespace --set global.image.tag=$(IMAGE_TAG) --wait --timeout 20m

.PHONY: dev
dev: ## skaffold dev on kind (values-dev.yaml holds your local overrides)
	@test -f values-dev.yaml || printf '# local overrides (gitignored)\n{}\n' > values-dev.yaml
	@skaffold dev -p kind

.PHONY: port-forward
port-forward: ## gateway :8000, MLflow :5000, Grafana :3000, Prometheus :9090, MinIO console :9001
	@trap 'kill 0' EXIT; for p in gateway:8000 mlflow:5000 grafana:3000 prometheus:9090 minio:9001; do kubectl -n modelship port-forward svc/modelship-$${p%%:*} $${p#*:}:$${p#*:} & done; wait

.PHONY: undeploy
undeploy: ## helm uninstall (CRDs and PVCs stay)
	@helm uninstall modelship -n modelship

.PHONY: e2e-kind e2e-kind-script
e2e-kind: sync kind-up kind-load ## The tests/e2e suite (as make e2e) against the kind cluster $(KIND_CLUSTER) (needs Docker)
	@$(RUN) MODELSHIP_E2E_KIND_CLUSTER=$(KIND_CLUSTER) $(PY) -m pytest tests/e2e $(PYTEST_ARGS)

e2e-kind-script: ## Shorter shell version on a throw-away kind cluster: install, train, predict (needs Docker)
	@scripts/e2e-kind.sh
