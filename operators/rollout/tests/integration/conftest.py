"""Integration fixtures: the REAL control plane (scripts/k8s), REAL MLflow servers, the operator as a
``kopf run`` subprocess authenticated as its own ServiceAccount (so the RBAC in deploy/rbac.yaml is tested).

A missing tool or a control plane that does not come up FAILS the test with the make target to run; nothing
is skipped. Every test gets its own namespace; tests needing registry isolation get their own MLflow.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.control_plane import ControlPlane, start_control_plane
from devtools.procs import Proc, free_port, poll_until, start, tail
from devtools.servers import VENV_BIN, server_env

REPO = Path(__file__).resolve().parents[4]
CLUSTER_NAME = os.environ.get("MODELSHIP_OPERATOR_TEST_CLUSTER", "operator-tests")
CRDS = REPO / "k8s" / "crds"
RBAC = REPO / "operators" / "rollout" / "deploy" / "rbac.yaml"
OPERATOR_NS = "modelship-system"
WEBHOOK_SECRET = "integration-webhook-secret"
SERVING_IMAGE = "modelship-serving:it"
KSERVE_CRD = REPO / "operators" / "rollout" / "tests" / "data" / "kserve-inferenceservices-v1beta1.trimmed.yaml"

#: True while the ``kopf run`` operator (fixture ``operator``) is up: it reconciles every namespace, so tests calling
#: the reconcile functions directly would race it. The fixture is module-scoped and only the operator module uses
#: it, so it is down again before any other module runs, in whatever order the modules run.
_OPERATOR_RUNNING = False


@dataclass
class Cluster(ControlPlane):
    """The operator tests' control plane, and a kubeconfig of the operator's own ServiceAccount."""

    operator_kubeconfig: Path | None = None

    def apply(
        self, obj: dict[str, Any] | list[dict[str, Any]], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        docs = obj if isinstance(obj, list) else [obj]
        text = yaml.safe_dump_all(docs)
        return self.kubectl("apply", "--server-side", "--field-manager=tests", "-f", "-", input=text, check=check)

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        args = ["get", kind, name, "-o", "json", "--ignore-not-found"]
        if namespace:
            args += ["-n", namespace]
        out = self.kubectl(*args).stdout.strip()
        return json.loads(out) if out else None

    def list(self, kind: str, namespace: str, *extra: str) -> list[dict[str, Any]]:
        return json.loads(self.kubectl("get", kind, "-n", namespace, "-o", "json", *extra).stdout)["items"]

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        return self.list("events", namespace, f"--field-selector=involvedObject.name={name}")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with start_control_plane(CLUSTER_NAME) as cp:
        cl = Cluster(env=cp.env, kubeconfig=cp.kubeconfig)
        cl.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
        for crd in ("inferenceservices.modelship.io", "modelregistries.modelship.io"):
            cl.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
        cl.operator_kubeconfig = _service_account_kubeconfig(cl, tmp_path_factory.mktemp("operator-sa"))
        yield cl


def _service_account_kubeconfig(cl: Cluster, where: Path) -> Path:
    """A kubeconfig holding a token of the operator's ServiceAccount (RBAC from deploy/rbac.yaml)."""
    cl.kubectl("create", "namespace", OPERATOR_NS, check=False)
    cl.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(RBAC))
    token = cl.kubectl("create", "token", "modelship-operator", "-n", OPERATOR_NS, "--duration=6h").stdout.strip()
    return cl.token_kubeconfig(token, where / "kubeconfig", user="modelship-operator", namespace="default")


@pytest.fixture(scope="session")
def kserve_crd(cluster: Cluster) -> Path:
    """KServe's InferenceService CRD (trimmed copy in tests/data) installed into the API server."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(KSERVE_CRD))
    cluster.kubectl("wait", "--for=condition=Established", "crd/inferenceservices.serving.kserve.io", "--timeout=60s")
    return KSERVE_CRD


def kube_client(kubeconfig: Path) -> Any:
    """The operator's real :class:`modelship_operator.kube.Kube` client for ``kubeconfig``."""
    import kubernetes
    from kubernetes.client import Configuration

    from modelship_operator.kube import Kube

    configuration = Configuration()
    kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    return Kube(configuration)


def require_no_running_operator() -> None:
    if _OPERATOR_RUNNING:
        pytest.fail(
            "the `kopf run` operator is running and would race direct reconcile calls: only one module may use the "
            "module-scoped `operator` fixture, and tests calling the reconcilers directly must live elsewhere",
            pytrace=False,
        )


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = cluster.namespace("op")
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


# --------------------------------------------------------------------------------------------------- MLflow


@dataclass
class MlflowServer:
    """A real ``mlflow server`` (SQLite + served artifacts) that can be stopped and started on the same port."""

    state: Path
    port: int
    webhooks: bool
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MlflowServer:
        (self.state / "artifacts").mkdir(parents=True, exist_ok=True)
        extra = {"MLFLOW_WEBHOOK_CACHE_TTL": "1"}
        if self.webhooks:
            # An in-cluster operator is an http:// URL on a private address: MLflow refuses both by default.
            extra |= {"MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https", "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true"}
        argv = [
            str(VENV_BIN / "mlflow"), "server",
            "--backend-store-uri", f"sqlite:///{self.state / 'mlflow.db'}",
            "--artifacts-destination", str(self.state / "artifacts"),
            "--serve-artifacts", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        self.proc = start(
            "mlflow", argv, log_path=self.state / "mlflow.log", env=server_env(extra), url=self.url, port=self.port
        )
        self.proc.wait_http("/health", timeout=120)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.url, registry_uri=self.url)


@pytest.fixture
def mlflow_factory(tmp_path: Path) -> Iterator[Callable[..., MlflowServer]]:
    started: list[MlflowServer] = []

    def make(*, webhooks: bool = True) -> MlflowServer:
        server = MlflowServer(state=tmp_path / f"mlflow-{len(started)}", port=free_port(), webhooks=webhooks)
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def default_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """The operator's default MLflow (MODELSHIP_MLFLOW_TRACKING_URI) for InferenceServices without a registry."""
    server = MlflowServer(state=tmp_path_factory.mktemp("mlflow-default"), port=free_port(), webhooks=False).start()
    yield server
    server.stop()


def register_version(server: MlflowServer, name: str, *, alias: str | None = "champion", seed: int = 0) -> str:
    """Log a tiny sklearn classifier, register it as a new version of ``name`` (tags per docs/contracts.md)."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from modelship_common.registry import CLASSES_TAG, SERVE_TAG, TASK_TAG

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + rng.normal(scale=0.1, size=60) > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    mlflow.set_tracking_uri(server.url)
    mlflow.set_registry_uri(server.url)
    mlflow.set_experiment(f"it-{name}")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=name, pip_requirements=["scikit-learn"]
        )
    client = server.client()
    version = str(info.registered_model_version)
    client.set_registered_model_tag(name, SERVE_TAG, "true")
    client.set_registered_model_tag(name, TASK_TAG, "tabular")
    client.set_registered_model_tag(name, CLASSES_TAG, json.dumps(["no", "yes"]))
    client.set_model_version_tag(name, version, "test_f1", "0.9")
    if alias:
        client.set_registered_model_alias(name, alias, version)
    return version


# ------------------------------------------------------------------------------------------------- operator


@dataclass
class Operator:
    proc: Proc
    health_port: int
    metrics_port: int
    webhook_port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as resp:
            return resp.read().decode()

    def log_tail(self, lines: int = 80) -> str:
        return tail(self.log, lines)


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster, default_mlflow: MlflowServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """``kopf run -m modelship_operator.handlers --all-namespaces`` as the operator's ServiceAccount, for the module
    that uses it (stopped at its end, so the direct-call tests of other modules never share the API server with it)."""
    global _OPERATOR_RUNNING
    health, metrics, webhook = free_port(), free_port(), free_port()
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    env = server_env(
        {
            "KUBECONFIG": str(cluster.operator_kubeconfig),
            "MODELSHIP_MLFLOW_TRACKING_URI": default_mlflow.url,
            "MODELSHIP_SERVING_IMAGE": SERVING_IMAGE,
            "MODELSHIP_METRICS_PORT": str(metrics),
            "MODELSHIP_WEBHOOK_PORT": str(webhook),
            "MODELSHIP_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "MODELSHIP_WEBHOOK_URL": f"http://127.0.0.1:{webhook}/webhooks/mlflow",
            "MODELSHIP_RESYNC_SECONDS": "5",
            "MODELSHIP_RETRY_SECONDS": "2",
            "MODELSHIP_MLFLOW_TIMEOUT_SECONDS": "3",
            "MODELSHIP_LOG_LEVEL": "DEBUG",
        }
    )
    env.pop("KUBERNETES_SERVICE_HOST", None)
    argv = [
        str(VENV_BIN / "kopf"), "run", "-m", "modelship_operator.handlers", "--all-namespaces",
        f"--liveness=http://127.0.0.1:{health}/healthz", "--verbose",
    ]  # fmt: skip
    proc = start("operator", argv, log_path=log, env=env, url=f"http://127.0.0.1:{health}", port=health)
    try:
        proc.wait_http("/healthz", timeout=90)
        poll_until(lambda: _port_open(metrics), timeout=30, what="operator metrics port")
    except Exception as exc:
        proc.stop()
        pytest.fail(f"the operator did not start: {exc}\n{tail(log, 80)}", pytrace=False)
    _OPERATOR_RUNNING = True
    op = Operator(proc=proc, health_port=health, metrics_port=metrics, webhook_port=webhook, log=log, env=env)
    try:
        yield op
    finally:
        proc.stop()
        _OPERATOR_RUNNING = False


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
