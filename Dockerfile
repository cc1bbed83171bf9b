# The five Python images of modelship, one target each, all from the uv workspace in this repository:
#   serving    model server (KServe V1 + V2 on :8080, gRPC on :8081)
#   gateway    REST API and dashboard on :8000
#   training   penguins + digits training, run as Kubernetes Jobs / CronJobs
#   operator   rollout operator (kopf)
#   streaming  Kafka image worker (metrics and probes on :9108)
# Build context: the repository root. PACKAGE is the target's workspace package (modelship-<target>):
#   docker build --target gateway --build-arg PACKAGE=modelship-gateway -t modelship/gateway:0.1.0 .
#   docker build --target training --build-arg PACKAGE=modelship-training \
#     --build-arg GIT_REVISION=$(git rev-parse HEAD) -t modelship/training:0.1.0 .
#   docker run -e MODELSHIP_MLFLOW_TRACKING_URI=http://mlflow:5000 modelship/serving:0.1.0 --model-uri models:/penguins/3
# Each image holds exactly what uv.lock pins for its package and the workspace members it depends on, no dev tools
# (the streaming worker has neither the gateway nor its Jinja2 and Plotly). scripts/images/build.sh, skaffold.yaml and
# scripts/e2e-kind.sh build these targets; tests/test_dockerfiles.py checks that they agree with each other and with
# the workspace. Every image runs as uid 10001 and can run on a read-only root filesystem (what it writes goes
# under /tmp: mount an emptyDir there). Bytecode is compiled at build time (cold start).

# The lock and every workspace member's pyproject.toml (uv reads the whole workspace to use the lock).
FROM python:3.11-slim AS workspace
ENV UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY services/common/pyproject.toml services/common/pyproject.toml
COPY services/serving/pyproject.toml services/serving/pyproject.toml
COPY services/scoring/pyproject.toml services/scoring/pyproject.toml
COPY services/gateway/pyproject.toml services/gateway/pyproject.toml
COPY training_jobs/pyproject.toml training_jobs/pyproject.toml
COPY operators/rollout/pyproject.toml operators/rollout/pyproject.toml
COPY services/streaming/pyproject.toml services/streaming/pyproject.toml
COPY cli/pyproject.toml cli/pyproject.toml

# The sources of PACKAGE and of the workspace members it depends on (uv export names them), and no other member's:
# the build stage copies them by content, so a change to another member's code leaves this image's layers as they are.
FROM workspace AS sources
ARG PACKAGE
COPY services/common/src services/common/src
COPY services/serving/src services/serving/src
COPY services/scoring/src services/scoring/src
COPY services/gateway/src services/gateway/src
COPY training_jobs/src training_jobs/src
COPY operators/rollout/src operators/rollout/src
COPY services/streaming/src services/streaming/src
COPY cli/src cli/src
RUN test -n "$PACKAGE" || { echo "--build-arg PACKAGE=modelship-<target> is required" >&2; exit 1; }; \
    keep=" $(uv export --frozen --no-dev --package "$PACKAGE" --no-editable --no-hashes --no-annotate --no-header \
      | sed -n 's|^\./||p' | tr '\n' ' ')"; \
    for pyproject in */pyproject.toml */*/pyproject.toml; do \
      member=${pyproject%/pyproject.toml}; \
      case "$keep" in *" $member "*) ;; *) rm -rf "$member/src" ;; esac; \
    done

# PACKAGE's locked dependencies in a layer of their own (reused until uv.lock or a pyproject.toml changes), their
# bytecode compiled; then PACKAGE with the members it depends on, installed not editable and compiled on their own,
# so that a source change costs seconds, not a recompile of every dependency.
FROM workspace AS build
ARG PACKAGE
RUN uv sync --frozen --no-dev --package "$PACKAGE" --no-install-workspace
COPY --from=sources /src /src
RUN UV_COMPILE_BYTECODE=0 uv sync --frozen --no-dev --package "$PACKAGE" --no-editable \
    && python -m compileall -q /app/.venv/lib/python3.11/site-packages/modelship_*

# What every image shares: the virtual environment, uid 10001, JSON logs.
FROM python:3.11-slim AS runtime
RUN groupadd --gid 10001 modelship \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/modelship --shell /usr/sbin/nologin modelship
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MODELSHIP_LOG_FORMAT=json \
    HOME=/tmp
USER 10001:10001

# Downloaded models go to MODELSHIP_MODEL_CACHE_DIR.
FROM runtime AS serving
ENV MODELSHIP_MODEL_CACHE_DIR=/tmp/modelship-models
EXPOSE 8080 8081
ENTRYPOINT ["python", "-m", "modelship_serving"]

# Point MODELSHIP_DATABASE_URL at PostgreSQL (as the chart does) or a writable volume.
FROM runtime AS gateway
ENV MODELSHIP_DATABASE_URL=sqlite:////tmp/modelship/predictions.db
EXPOSE 8000
ENTRYPOINT ["python", "-m", "modelship_gateway"]

FROM runtime AS training
ARG GIT_REVISION=unknown
ENV HOME=/home/modelship \
    MPLCONFIGDIR=/tmp/matplotlib \
    TF_CPP_MIN_LOG_LEVEL=2 \
    MODELSHIP_GIT_REVISION=${GIT_REVISION}
WORKDIR /home/modelship
ENTRYPOINT ["python", "-m", "modelship_training"]
CMD ["all"]

# 8080 kopf liveness (/healthz), 8081 Prometheus /metrics, 8082 MLflow webhooks.
FROM runtime AS operator
EXPOSE 8080 8081 8082
ENTRYPOINT ["kopf", "run", "-m", "modelship_operator.handlers", "--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz"]

FROM runtime AS streaming
EXPOSE 9108
ENTRYPOINT ["python", "-m", "modelship_streaming"]
