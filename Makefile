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
test: sync ## Install what the tests need and run the whole test suite
	@$(RUN) $(PY) -m pytest services/common/tests services/serving/tests services/gateway/tests services/streaming/tests training_jobs/tests operators/rollout/tests tests $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: sync ## Unit tests only (no servers)
	@$(RUN) $(PY) -m pytest services/common/tests services/serving/tests services/gateway/tests services/streaming/tests training_jobs/tests operators/rollout/tests $(PYTEST_ARGS)

.PHONY: lint
lint: sync ## ruff + mypy
	@$(RUN) .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy services/*/src training_jobs/src devtools

.PHONY: bench
bench: sync ## Benchmarks; prints a table
	@$(RUN) $(PY) -m devtools.bench
