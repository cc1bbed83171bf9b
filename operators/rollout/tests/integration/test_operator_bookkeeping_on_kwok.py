"""Operator bookkeeping on kwok: the operator as a ``kopf run`` process against a real kube-apiserver +
controller-manager + kwok node and real MLflow servers.

What this proves is the operator's bookkeeping: it creates and owns the right children with the right specs,
follows the alias (webhook and polling), keeps status, history and Events, survives MLflow outages, and the API
server enforces the CRD schema, CEL rules and the operator's RBAC; the garbage collector deletes owned children.
What it does not prove: that a model gets served. The serving image it names (``modelship-serving:it``) does not
exist and the kwok node marks the pods Running and Ready without starting them. That lives on a real node in
tests/e2e/test_platform.py (``test_operator_rolls_out_every_model``, ``test_alias_move_rolls_out``).

How fast a rollout is (alias move -> Ready, webhook and polling) is measured by ``make bench-rollout``
(devtools/bench_rollout.py) against its targets; these tests only wait for the outcome, with generous deadlines.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.control_plane import wait_for

from .conftest import (
    REPO,
    SERVING_IMAGE,
    WEBHOOK_SECRET,
    Cluster,
    MlflowServer,
    Operator,
    register_version,
)

pytestmark = pytest.mark.integration

#: Deadlines for an outcome, not latency targets (those are devtools/bench_rollout.py's, make bench-rollout).
ROLLOUT_DEADLINE_S = 120.0


def _uid() -> str:
    return uuid.uuid4().hex[:6]


def _cond(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return {}


def _ready_on(cluster: Cluster, namespace: str, name: str, version: str) -> dict[str, Any] | None:
    isvc = cluster.get("inferenceservices.modelship.io", name, namespace)
    status = (isvc or {}).get("status") or {}
    if status.get("modelVersion") == version and _cond(isvc, "Ready").get("status") == "True":
        return isvc
    return None


def _deployment_args(cluster: Cluster, namespace: str, name: str) -> list[str] | None:
    dep = cluster.get("deployment", f"{name}-predictor", namespace)
    if not dep:
        return None
    return dep["spec"]["template"]["spec"]["containers"][0]["args"]


def _registry(namespace: str, tracking_uri: str, *, poll: int = 30, name: str = "mlflow") -> dict[str, Any]:
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelRegistry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"trackingUri": tracking_uri, "pollSeconds": poll},
    }


def _explain(operator: Operator) -> str:
    return f"\n--- operator log ---\n{operator.log_tail(60)}"


def _wait_ready_on(cluster: Cluster, operator: Operator, namespace: str, name: str, version: str, what: str) -> Any:
    """The InferenceService once Ready on ``version``; on timeout the error carries the operator's log."""
    try:
        return wait_for(
            lambda: _ready_on(cluster, namespace, name, version), timeout=ROLLOUT_DEADLINE_S, what=what, interval=0.5
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}{_explain(operator)}") from None


def test_registry_webhook_rollout_end_to_end(
    cluster: Cluster, operator: Operator, namespace: str, mlflow_factory: Any
) -> None:
    server: MlflowServer = mlflow_factory(webhooks=True)
    model = f"penguins-{_uid()}"
    assert register_version(server, model, seed=1) == "1"
    cluster.apply(_registry(namespace, server.url, poll=30))

    # The registry creates (and owns) an InferenceService that follows the champion alias.
    isvc = wait_for(lambda: _ready_on(cluster, namespace, model, "1"), timeout=60, what="InferenceService Ready on v1")
    registry = cluster.get("modelregistries.modelship.io", "mlflow", namespace)
    assert isvc["metadata"]["ownerReferences"][0]["uid"] == registry["metadata"]["uid"]
    assert isvc["spec"]["model"] == {"name": model, "alias": "champion"}
    assert isvc["spec"]["registry"] == "mlflow"
    assert isvc["status"]["url"] == f"http://{model}-predictor.{namespace}.svc:8080"
    assert isvc["status"]["servingUri"] == f"models:/{model}/1"
    assert isvc["status"]["modelUri"]
    assert isvc["status"]["observedGeneration"] == isvc["metadata"]["generation"]
    assert _cond(isvc, "Resolved")["status"] == "True"

    dep = cluster.get("deployment", f"{model}-predictor", namespace)
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == SERVING_IMAGE
    assert container["args"] == [
        "--model-uri", f"models:/{model}/1", "--model_name", model, "--http_port", "8080", "--grpc_port", "8081"
    ]  # fmt: skip
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [("http", 8080), ("grpc", 8081)]
    assert dep["metadata"]["ownerReferences"][0]["uid"] == isvc["metadata"]["uid"]
    assert _cond(dep, "Available")["status"] == "True"
    svc = cluster.get("service", f"{model}-predictor", namespace)
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("http", 8080), ("grpc", 8081)]
    assert svc["spec"]["ports"][1]["appProtocol"] == "kubernetes.io/h2c"
    assert svc["metadata"]["ownerReferences"][0]["uid"] == isvc["metadata"]["uid"]

    registry = wait_for(
        lambda: (
            (r := cluster.get("modelregistries.modelship.io", "mlflow", namespace))
            and r.get("status", {}).get("webhook")
            and r
        ),
        timeout=30,
        what="the operator to register its MLflow webhook",
    )
    assert registry["status"]["models"] == [{"name": model, "version": "1", "inferenceService": model}]
    assert registry["status"]["modelCount"] == 1
    assert _cond(registry, "Synced")["status"] == "True"
    hooks = [h for h in server.client().list_webhooks() if h.name == f"modelship-{namespace}-mlflow"]
    assert hooks and hooks[0].url.endswith(f"/webhooks/mlflow/{namespace}/mlflow")

    # Move the alias: the MLflow webhook triggers a sync and the Deployment rolls to v2 (how fast: bench-rollout).
    register_version(server, model, alias=None, seed=2)
    server.client().set_registered_model_alias(model, "champion", "2")
    isvc = _wait_ready_on(cluster, operator, namespace, model, "2", "Ready on v2 after the alias moved")
    assert _deployment_args(cluster, namespace, model)[1] == f"models:/{model}/2"

    history = [(h["version"], h["result"]) for h in isvc["status"]["history"]]
    assert history == [("1", "Replaced"), ("2", "Succeeded")]
    reasons = [e["reason"] for e in cluster.events(namespace, model)]
    assert reasons.count("RolloutStarted") == 2, reasons
    assert reasons.count("RolloutSucceeded") == 2, reasons
    assert "InferenceServiceCreated" in [e["reason"] for e in cluster.events(namespace, "mlflow")]

    metrics = operator.metrics()
    for line in metrics.splitlines():
        wanted = line.startswith(("modelship_operator_reconcile_duration_", "modelship_operator_rollout_duration_"))
        if wanted and "_bucket" not in line:
            print(line)
    assert 'modelship_operator_webhook_deliveries_total{result="accepted"}' in metrics
    assert 'modelship_operator_rollouts_total{result="succeeded"}' in metrics
    assert f'modelship_operator_registry_sync_lag_seconds{{namespace="{namespace}",registry="mlflow"}}' in metrics
    samples = _samples(metrics)
    last_sync = samples[("modelship_operator_registry_last_sync_timestamp_seconds", namespace, "mlflow")]
    assert time.time() - 60 < last_sync <= time.time() + 1  # resyncs every 5 s, and the webhook just synced
    assert samples[("modelship_operator_rollouts_total", "succeeded")] >= 2
    assert ("modelship_operator_rollouts_total", "failed") in samples  # exported at 0 before any failure
    assert samples[("modelship_operator_webhook_deliveries_total", "accepted")] >= 1

    # The printer columns show what a user expects.
    table = cluster.kubectl("get", "msvc", "-n", namespace, "-o", "wide").stdout
    print(table)
    print("\n".join(f"{e['type']:8} {e['reason']:18} {e['message']}" for e in cluster.events(namespace, model)))
    assert "MODEL" in table and "VERSION" in table and "READY" in table and model in table
    table = cluster.kubectl("get", "mreg", "-n", namespace).stdout
    print(table)
    assert "TRACKING URI" in table and "MODELS" in table and "LAST SYNC" in table


def _samples(text: str) -> dict[tuple[str, ...], float]:
    """Samples of a /metrics text by (name, *label values in label-name order)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, *(v for _, v in sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_polling_rolls_out_without_webhooks(
    cluster: Cluster, operator: Operator, namespace: str, mlflow_factory: Any
) -> None:
    # This MLflow refuses http:// private webhook URLs (its defaults): only polling can notice the alias move.
    server: MlflowServer = mlflow_factory(webhooks=False)
    model = f"digits-fast-{_uid()}"
    register_version(server, model, seed=3)
    cluster.apply(_registry(namespace, server.url, poll=20))
    wait_for(lambda: _ready_on(cluster, namespace, model, "1"), timeout=60, what="Ready on v1")
    register_version(server, model, alias=None, seed=4)
    server.client().set_registered_model_alias(model, "champion", "2")
    _wait_ready_on(cluster, operator, namespace, model, "2", "Ready on v2 by polling (pollSeconds 20)")
    registry = cluster.get("modelregistries.modelship.io", "mlflow", namespace)
    assert not registry["status"].get("webhook")  # registration was refused; polling is the fallback


def test_standalone_pinned_version_and_cascading_delete(
    cluster: Cluster, operator: Operator, namespace: str, default_mlflow: MlflowServer
) -> None:
    model = f"pinned-{_uid()}"
    register_version(default_mlflow, model, alias=None, seed=5)
    register_version(default_mlflow, model, alias=None, seed=6)
    isvc = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": model, "namespace": namespace},
        "spec": {"model": {"name": model, "version": "1"}, "replicas": 2,
                 "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1", "memory": "1Gi"}}},
    }  # fmt: skip
    cluster.apply(isvc)
    got = wait_for(lambda: _ready_on(cluster, namespace, model, "1"), timeout=60, what="pinned v1 Ready")
    assert got["spec"]["protocol"] == "v2" and got["spec"]["rollout"] == {"strategy": "Rolling"}  # CRD defaults
    dep = cluster.get("deployment", f"{model}-predictor", namespace)
    assert dep["spec"]["replicas"] == 2
    assert dep["status"]["availableReplicas"] == 2
    assert dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}

    # Editing the spec re-renders: pin v2.
    isvc["spec"]["model"] = {"name": model, "version": "2"}
    cluster.apply(isvc)
    wait_for(lambda: _ready_on(cluster, namespace, model, "2"), timeout=30, what="pinned v2 Ready")
    assert _deployment_args(cluster, namespace, model)[1] == f"models:/{model}/2"

    # Deleting the InferenceService deletes its children (garbage collector, ownerReferences).
    cluster.kubectl("delete", "inferenceservice.modelship.io", model, "-n", namespace)
    wait_for(
        lambda: (
            cluster.get("deployment", f"{model}-predictor", namespace) is None
            and cluster.get("service", f"{model}-predictor", namespace) is None
        ),
        timeout=60,
        what="the Deployment and Service to be garbage-collected",
    )


def test_standalone_alias_follower_resyncs(
    cluster: Cluster, operator: Operator, namespace: str, default_mlflow: MlflowServer
) -> None:
    """No ModelRegistry drives it and no webhook pokes it: the operator's resync timer (every
    MODELSHIP_RESYNC_SECONDS, 5 s here) is what notices the alias move."""
    model = f"follower-{_uid()}"
    register_version(default_mlflow, model, seed=12)
    register_version(default_mlflow, model, alias=None, seed=13)
    cluster.apply(
        {
            "apiVersion": "modelship.io/v1alpha1",
            "kind": "InferenceService",
            "metadata": {"name": model, "namespace": namespace},
            "spec": {"model": {"name": model, "alias": "champion"}},
        }
    )
    wait_for(lambda: _ready_on(cluster, namespace, model, "1"), timeout=60, what="Ready on v1")
    default_mlflow.client().set_registered_model_alias(model, "champion", "2")
    moved = time.monotonic()
    _wait_ready_on(cluster, operator, namespace, model, "2", "Ready on v2 by the resync timer")
    assert time.monotonic() - moved < 60, "two resync ticks (5 s) and a rollout fit well within a minute"
    args = _deployment_args(cluster, namespace, model)
    assert args and args[1] == f"models:/{model}/2"


def test_bad_specs(cluster: Cluster, operator: Operator, namespace: str, default_mlflow: MlflowServer) -> None:
    # The API server rejects what the schema and CEL rules can see.
    both = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": "both", "namespace": namespace},
        "spec": {"model": {"name": "m", "alias": "champion", "version": "1"}},
    }
    done = cluster.apply(both, check=False)
    assert done.returncode != 0 and "set exactly one of spec.model.alias or spec.model.version" in done.stderr
    bad_enum = {**both, "metadata": {"name": "enum", "namespace": namespace},
                "spec": {"model": {"name": "m", "alias": "champion"}, "protocol": "v9"}}  # fmt: skip
    done = cluster.apply(bad_enum, check=False)
    assert done.returncode != 0 and "protocol" in done.stderr
    long_name = {**both, "metadata": {"name": "x" * 60, "namespace": namespace},
                 "spec": {"model": {"name": "m", "alias": "champion"}}}  # fmt: skip
    done = cluster.apply(long_name, check=False)
    assert done.returncode != 0 and "53 characters" in done.stderr

    # The operator rejects what only it can check: requests above limits -> failed condition, no children.
    model = f"bad-{_uid()}"
    register_version(default_mlflow, model, seed=7)
    cluster.apply(
        {
            "apiVersion": "modelship.io/v1alpha1",
            "kind": "InferenceService",
            "metadata": {"name": model, "namespace": namespace},
            "spec": {
                "model": {"name": model, "alias": "champion"},
                "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
            },
        }
    )
    isvc = wait_for(
        lambda: (
            (o := cluster.get("inferenceservices.modelship.io", model, namespace))
            and _cond(o, "Ready").get("reason") == "InvalidSpec"
            and o
        ),
        timeout=30,
        what="a failed Ready condition",
    )
    ready = _cond(isvc, "Ready")
    assert ready["status"] == "False"
    assert "requests.cpu (2) exceeds spec.resources.limits.cpu (1)" in ready["message"]
    assert ready["lastTransitionTime"]
    assert cluster.get("deployment", f"{model}-predictor", namespace) is None
    assert "InvalidSpec" in [e["reason"] for e in cluster.events(namespace, model)]

    # A missing pinned version is reported, not crashed on.
    cluster.apply(
        {
            "apiVersion": "modelship.io/v1alpha1",
            "kind": "InferenceService",
            "metadata": {"name": f"{model}-v9", "namespace": namespace},
            "spec": {"model": {"name": model, "version": "9"}},
        }
    )
    isvc = wait_for(
        lambda: (
            (o := cluster.get("inferenceservices.modelship.io", f"{model}-v9", namespace))
            and _cond(o, "Resolved").get("reason") == "ModelNotFound"
            and o
        ),
        timeout=30,
        what="ModelNotFound",
    )
    assert "has no version 9" in _cond(isvc, "Resolved")["message"]


def test_mlflow_down_then_up(cluster: Cluster, operator: Operator, namespace: str, mlflow_factory: Any) -> None:
    server: MlflowServer = mlflow_factory(webhooks=False)
    model = f"outage-{_uid()}"
    register_version(server, model, seed=8)
    register_version(server, model, alias=None, seed=9)
    cluster.apply(_registry(namespace, server.url, poll=5))
    wait_for(lambda: _ready_on(cluster, namespace, model, "1"), timeout=60, what="Ready on v1")
    dep_before = cluster.get("deployment", f"{model}-predictor", namespace)

    server.stop()
    registry = wait_for(
        lambda: (
            (r := cluster.get("modelregistries.modelship.io", "mlflow", namespace))
            and _cond(r, "Synced").get("reason") == "RegistryUnreachable"
            and r
        ),
        timeout=30,
        what="the registry to report MLflow unreachable",
    )
    assert "unreachable" in _cond(registry, "Synced")["message"]
    # Poke the InferenceService: it cannot resolve, says so, and keeps serving v1.
    cluster.kubectl("annotate", "inferenceservice.modelship.io", model, "-n", namespace, "test/poke=1", "--overwrite")
    isvc = wait_for(
        lambda: (
            (o := cluster.get("inferenceservices.modelship.io", model, namespace))
            and _cond(o, "Resolved").get("reason") == "RegistryUnreachable"
            and o
        ),
        timeout=30,
        what="the InferenceService to report MLflow unreachable",
    )
    assert _cond(isvc, "Ready")["status"] == "True"
    assert isvc["status"]["modelVersion"] == "1"
    dep = cluster.get("deployment", f"{model}-predictor", namespace)
    assert dep is not None and dep["metadata"]["uid"] == dep_before["metadata"]["uid"]
    assert dep["spec"]["template"]["spec"]["containers"][0]["args"][1] == f"models:/{model}/1"
    assert cluster.get("inferenceservices.modelship.io", model, namespace) is not None  # nothing deleted

    server.start()  # same port, same database
    wait_for(
        lambda: (
            _cond(cluster.get("modelregistries.modelship.io", "mlflow", namespace), "Synced").get("status") == "True"
        ),
        timeout=30,
        what="the registry to sync again",
    )
    server.client().set_registered_model_alias(model, "champion", "2")
    wait_for(lambda: _ready_on(cluster, namespace, model, "2"), timeout=30, what="Ready on v2 after recovery")
    assert _cond(cluster.get("inferenceservices.modelship.io", model, namespace), "Resolved")["status"] == "True"


def test_kserve_render_is_accepted_by_the_api_server(cluster: Cluster, namespace: str, kserve_crd: Path) -> None:
    """Install KServe's (trimmed) CRD and server-side dry-run the rendered object with strict field validation."""
    from modelship_operator.kserve import render_kserve
    from modelship_operator.render import PodConfig, Resolved
    from modelship_operator.spec import parse_spec

    spec = parse_spec({"model": {"name": "digits-fast", "alias": "champion"}, "replicas": 2,
                       "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}})  # fmt: skip
    pod = PodConfig(
        image=SERVING_IMAGE,
        env={"MLFLOW_S3_ENDPOINT_URL": "http://minio:9000"},
        env_from_secret="s3",
        tolerations=[{"key": "k", "operator": "Exists", "effect": "NoSchedule"}],
        node_selector={"a": "b"},
    )
    obj = render_kserve("digits-fast", namespace, spec, Resolved("3", "", "http://mlflow:5000"), pod)
    done = cluster.kubectl(
        "create", "--dry-run=server", "--validate=strict", "-o", "json", "-f", "-", input=yaml.safe_dump(obj)
    )
    assert '"serving.kserve.io/v1beta1"' in done.stdout
    typo = yaml.safe_dump({**obj, "spec": {"predictor": {**obj["spec"]["predictor"], "minReplica": 1}}})
    done = cluster.kubectl("create", "--dry-run=server", "--validate=strict", "-f", "-", input=typo, check=False)
    assert done.returncode != 0 and "minReplica" in done.stderr


def test_webhook_rejects_bad_signatures(operator: Operator) -> None:
    import json
    import urllib.error
    import urllib.request

    from modelship_operator.webhook import sign

    body = json.dumps({"entity": "model_version_alias", "action": "created", "data": {"name": "x"}}).encode()
    ts = str(int(time.time()))
    url = f"http://127.0.0.1:{operator.webhook_port}/webhooks/mlflow"

    def post(signature: str) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json", "X-MLflow-Delivery-Id": "d", "X-MLflow-Timestamp": ts,
                   "X-MLflow-Signature": signature}  # fmt: skip
        req = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    status, payload = post(sign("not-the-secret", "d", ts, body))
    assert status == 401 and "invalid webhook signature" in payload["error"]
    status, payload = post(sign(WEBHOOK_SECRET, "d", ts, body))
    assert status == 202 and payload["status"] == "accepted"


def test_rbac_file_matches_readme() -> None:
    """deploy/rbac.yaml (what the tests run with) and the README's RBAC block list the same rules."""
    readme = (REPO / "operators" / "rollout" / "README.md").read_text()
    block = readme.split("```yaml", 1)[1].split("```", 1)[0]
    readme_rules = yaml.safe_load(block)["rules"]
    docs = list(yaml.safe_load_all(Path(REPO / "operators" / "rollout" / "deploy" / "rbac.yaml").read_text()))
    role = next(d for d in docs if d and d["kind"] == "ClusterRole")
    assert role["rules"] == readme_rules
