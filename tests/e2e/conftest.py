"""Session fixtures of the end-to-end tests: a real cluster, our images in it, the umbrella chart installed.

``make e2e`` builds the images first (``scripts/images/build.sh``) and these fixtures bring up the local node
(``scripts/k8s/node.sh up``). ``KEEP=1`` leaves the node and the release running after the tests and prints how to
reach them. ``MODELSHIP_E2E_KIND_CLUSTER=<name>`` runs the same tests against an existing kind cluster instead.

Traces: an OpenTelemetry Collector built here (``scripts/otelcol``, image ``modelship-local/otelcol``) runs in its
own namespace before the install, and the release is installed with ``global.tracing.otlpEndpoint`` pointing at it;
its debug exporter prints every span into its log, which ``test_upload_is_one_trace`` reads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.cluster import BIN, E2E_VALUES, NODE, Cluster, ClusterError, clean_install, image_names, local_node, run

KEEP = os.environ.get("KEEP", "0") == "1"
REUSE = os.environ.get("MODELSHIP_E2E_REUSE") == "1"

# The collector lives in a namespace of its own, as a platform's collector does: the release's namespace is
# deleted before each install, and `helm uninstall` must leave nothing in it but what the chart keeps.
OTEL_NAMESPACE = "observability"
OTEL_NAME = "otel-collector"
OTEL_ENDPOINT = f"http://{OTEL_NAME}.{OTEL_NAMESPACE}:4318"
OTELCOL_IMAGE = "modelship-local/otelcol:0.165.0"  # scripts/images/build.sh standins (docker/local/otelcol)
OTELCOL_CONFIG = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 0.0.0.0:4318
processors:
  batch: {}
exporters:
  debug:
    verbosity: detailed
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [debug]
"""


def _collector_manifests() -> list[dict[str, object]]:
    labels = {"app.kubernetes.io/name": OTEL_NAME}
    meta = {"name": OTEL_NAME, "namespace": OTEL_NAMESPACE, "labels": labels}
    container = {
        "name": "otelcol",
        "image": OTELCOL_IMAGE,
        "imagePullPolicy": "Never",
        "args": ["--config", "/etc/otelcol/config.yaml"],
        "ports": [{"name": "otlp-http", "containerPort": 4318}],
        "readinessProbe": {"tcpSocket": {"port": 4318}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/otelcol"}],
    }
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"config.yaml": OTELCOL_CONFIG}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [container],
                        "volumes": [{"name": "config", "configMap": {"name": OTEL_NAME}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {"selector": labels, "ports": [{"name": "otlp-http", "port": 4318, "targetPort": 4318}]},
        },
    ]


@dataclasses.dataclass
class Collector:
    """The e2e's OpenTelemetry Collector: ``cluster`` is scoped to its namespace."""

    cluster: Cluster
    endpoint: str
    deployment: str = f"deployment/{OTEL_NAME}"

    def log(self) -> str:
        return self.cluster.kubectl("logs", self.deployment, "--tail=-1", timeout=120)


def _need(path: str, target: str) -> None:
    if not (BIN / path).exists() and not shutil.which(path):
        pytest.fail(f"{path} is missing: run `make {target}` (the e2e tests need it)", pytrace=False)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    kind_cluster = os.environ.get("MODELSHIP_E2E_KIND_CLUSTER")
    if kind_cluster:
        env = dict(os.environ)
        cl = Cluster(kind="kind", env=env)
        cl.env["KUBECONFIG"] = os.environ.get("KUBECONFIG", str(os.path.expanduser("~/.kube/config")))
        run(["kubectl", "config", "use-context", f"kind-{kind_cluster}"], env=env)
        for image in image_names():
            run(["kind", "load", "docker-image", "--name", kind_cluster, image], env=env, timeout=900)
        yield cl
        return
    for tool, target in [
        ("kubelet", "k8s-tools"),
        ("kube-proxy", "k8s-tools"),
        ("coredns", "k8s-tools"),
        ("helm", "k8s-tools"),
    ]:
        _need(tool, target)
    if not shutil.which("dockerd") or not shutil.which("containerd"):
        pytest.fail("docker.io/containerd are missing: run `make images` (the e2e tests need them)", pytrace=False)
    node = str(NODE)
    try:
        cl = local_node("e2e", image_names())
    except ClusterError as exc:
        pytest.fail(f"the local node did not come up (scripts/k8s/node.sh, `make e2e`): {exc}", pytrace=False)
    env = cl.env
    yield cl
    if KEEP:
        print(
            f"\nKEEP=1: the node and the release stay up. export KUBECONFIG={env['KUBECONFIG']}\n"
            "  kubectl -n modelship port-forward svc/modelship-gateway 8000:8000      # gateway + dashboard\n"
            "  kubectl -n modelship port-forward svc/modelship-mlflow 5000:5000       # MLflow\n"
            "  kubectl -n modelship port-forward svc/modelship-prometheus 9090:9090   # Prometheus\n"
            "  (Grafana is not in the e2e values; see docker/local/README.md)\n"
            f"  stop it all: {node} down --name e2e"
        )
    else:
        run([node, "down", "--name", "e2e"], timeout=300, check=False)


@pytest.fixture(scope="session")
def otel_collector(cluster: Cluster) -> Iterator[Collector]:
    """The collector, running and ready before the release is installed (a fresh one, empty log, on each run)."""
    otel = dataclasses.replace(cluster, namespace=OTEL_NAMESPACE, port_forwards=[])
    if not REUSE:
        cluster.kubectl("delete", "namespace", OTEL_NAMESPACE, "--ignore-not-found", "--wait=true", timeout=300)
    cluster.ensure_namespace(OTEL_NAMESPACE)
    items = {"apiVersion": "v1", "kind": "List", "items": _collector_manifests()}
    try:
        otel.kubectl("apply", "--server-side", "--field-manager=e2e", "-f", "-", input=json.dumps(items))
        otel.kubectl("rollout", "status", f"deployment/{OTEL_NAME}", "--timeout=180s", timeout=200)
    except ClusterError as exc:
        pods = otel.kubectl("get", "pods", "-o", "wide", check=False)
        events = otel.kubectl("get", "events", "--sort-by=.lastTimestamp", check=False)[-3000:]
        pytest.fail(f"the OpenTelemetry Collector did not start: {exc}\n{pods}\n{events}", pytrace=False)
    yield Collector(cluster=otel, endpoint=OTEL_ENDPOINT)
    if not KEEP:
        cluster.kubectl("delete", "namespace", OTEL_NAMESPACE, "--ignore-not-found", "--wait=false", check=False)


@pytest.fixture(scope="session")
def release(
    cluster: Cluster, otel_collector: Collector, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, float]]:
    """``helm install`` of charts/modelship with the e2e values, waiting for the hooks (topics, buckets, training).

    ``MODELSHIP_E2E_REUSE=1`` (with ``KEEP=1`` before) reuses a release that is already deployed: for working on the
    tests themselves, never in ``make test``.
    """
    if REUSE:
        status = cluster.helm("status", cluster.release, "-o", "json", check=False)
        if status.returncode == 0 and '"status":"deployed"' in status.stdout.replace(" ", ""):
            yield {"installed_at": time.monotonic(), "install_seconds": 0.0}
            return
    # A clean start: no release, no claims or data left by an earlier run.
    try:
        seconds = clean_install(cluster, [E2E_VALUES, _tracing_values(tmp_path_factory, otel_collector.endpoint)])
    except ClusterError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield {"installed_at": time.monotonic(), "install_seconds": seconds}


def _tracing_values(tmp: pytest.TempPathFactory, endpoint: str) -> Path:
    """A values file on top of the e2e values: every component exports its spans to the e2e's collector."""
    path = tmp.mktemp("values") / "tracing.yaml"
    path.write_text(json.dumps({"global": {"tracing": {"otlpEndpoint": endpoint}}}))
    return path


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The e2e tests are one ordered story on one release: run them last, in file order, whatever shuffled the rest
    (pytest-randomly)."""
    here = os.path.dirname(__file__)
    e2e = [item for item in items if str(item.path).startswith(here + os.sep)]
    if not e2e:
        return
    rest = [item for item in items if item not in set(e2e)]
    e2e.sort(key=lambda item: (str(item.path), item.location[1] or 0, item.name))
    items[:] = rest + e2e
