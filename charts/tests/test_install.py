"""Integration: the umbrella chart in a real control plane (kube-apiserver + controller-manager + scheduler,
kwok faking the Node: pods are scheduled and marked Running/Ready, run-once pods Succeeded; nothing runs).

On kwok these tests assert only what kwok can show: the objects Helm creates, their specs, upgrades keeping
generated Secrets, what uninstall leaves. kwok marks every run-once pod Succeeded without starting it, so a
crashing training image or a failing ``helm test`` pod would "pass" here: that the training Jobs complete and
that ``helm test`` passes is checked on a real node by tests/e2e/test_platform.py
(``test_training_jobs_ran_and_registered``, ``test_helm_test_passes``).

Each test installs its own release into its own namespace. Needs `make k8s-tools`; a missing tool fails.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from charts.tests.conftest import CHART, Cluster
from charts.tests.manifests import leftovers

pytestmark = [pytest.mark.integration, pytest.mark.k8s]

TEST_VALUES = CHART / "ci" / "test-values.yaml"
INSTALL_TIMEOUT = "10m"
READY_DEADLINE_S = 600


def release_name() -> str:
    return f"ms{uuid.uuid4().hex[:6]}"


def helm_apply(cluster: Cluster, verb: str, release: str, namespace: str, *extra: str) -> Any:
    """`helm install|upgrade` of the umbrella chart with the test values (plus `extra` flags), waiting for it."""
    values = ("-f", str(TEST_VALUES), *extra)
    return cluster.helm(verb, release, str(CHART), "-n", namespace, *values, "--wait", "--timeout", INSTALL_TIMEOUT)


def helm_uninstall(cluster: Cluster, release: str, namespace: str) -> None:
    cluster.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "5m")


def poll(
    what: str, check: Callable[[], tuple[bool, Any]], deadline_s: float = READY_DEADLINE_S, interval_s: float = 2.0
) -> Any:
    """Call `check` until it returns (True, value); fail with the last value after the deadline."""
    deadline = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return last
        time.sleep(interval_s)
    pytest.fail(f"{what} not reached within {deadline_s:.0f}s; last state: {last}")


def workload_state(cluster: Cluster, namespace: str) -> tuple[bool, dict[str, str]]:
    state: dict[str, str] = {}
    for item in cluster.get("deployments.apps", "-n", namespace)["items"]:
        conditions = {c["type"]: c["status"] for c in item.get("status", {}).get("conditions", [])}
        state[f"Deployment/{item['metadata']['name']}"] = conditions.get("Available", "?")
    for item in cluster.get("statefulsets.apps", "-n", namespace)["items"]:
        want = item["spec"].get("replicas", 1)
        ready = item.get("status", {}).get("readyReplicas", 0)
        state[f"StatefulSet/{item['metadata']['name']}"] = "True" if ready >= want else f"{ready}/{want}"
    return bool(state) and all(v == "True" for v in state.values()), state


def generated_secrets(cluster: Cluster, namespace: str) -> dict[str, dict[str, str]]:
    items = cluster.get("secrets", "-n", namespace)["items"]
    return {
        s["metadata"]["name"]: s.get("data") or {}
        for s in items
        if s.get("type") != "helm.sh/release.v1" and not s["metadata"]["name"].startswith("sh.helm.")
    }


def test_server_side_dry_run_of_every_rendered_manifest(cluster: Cluster, namespace: str, tmp_path: Path) -> None:
    release = release_name()
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CHART / "crds"))
    for crd in ("inferenceservices.modelship.io", "modelregistries.modelship.io"):
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
    rendered = cluster.helm("template", release, str(CHART), "-n", namespace, "-f", str(TEST_VALUES)).stdout
    objs = [o for o in yaml.safe_load_all(rendered) if o]
    # Pods are checked by admission against ServiceAccounts that a dry run does not create: create those first.
    accounts = [o for o in objs if o["kind"] == "ServiceAccount"]
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump_all(accounts))
    cluster.kubectl("apply", "--server-side", "-f", str(path))
    path = tmp_path / "rendered.yaml"
    path.write_text(rendered)
    done = cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", str(path), check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("(server dry run)") == len(objs), done.stdout


def test_install_upgrade_test_uninstall(cluster: Cluster, namespace: str, record_property: Any) -> None:
    release = release_name()
    started = time.monotonic()
    install = helm_apply(cluster, "install", release, namespace)
    state = poll("every Deployment Available and StatefulSet Ready", lambda: workload_state(cluster, namespace))
    seconds = time.monotonic() - started
    record_property("install_to_ready_seconds", round(seconds, 1))
    print(f"\ninstall-to-ready: {seconds:.1f}s for {len(state)} workloads: {sorted(state)}")

    # NOTES: the port-forward commands and how to read the generated credentials.
    for line in (
        f"port-forward svc/{release}-gateway 8000:8000",
        f"port-forward svc/{release}-mlflow 5000:5000",
        f"port-forward svc/{release}-minio 9001:9001",
        f"port-forward svc/{release}-grafana 3000:3000",
        f"port-forward svc/{release}-prometheus 9090:9090",
        f"get secret {release}-postgresql",
    ):
        assert line in install.stdout, f"NOTES lack {line!r}"

    # The training hooks were created as Jobs that run the training image with the task's command and the
    # release's MLflow and PostgreSQL. (Whether they complete is not visible on kwok: tests/e2e checks it.)
    jobs = {j["metadata"]["name"]: j for j in cluster.get("jobs.batch", "-n", namespace)["items"]}
    for task in ("penguins", "digits"):
        job = jobs[f"{release}-training-{task}"]
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
        assert job["spec"]["backoffLimit"] == 0  # test-values: a failing run fails the install at once
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        (container,) = pod["containers"]
        assert container["image"] == "modelship/training:0.1.0"
        assert container["command"] == ["python", "-m", "modelship_training"] and container["args"] == [task]
        env = {e["name"]: e for e in container["env"]}
        assert env["MODELSHIP_MLFLOW_TRACKING_URI"]["value"] == f"http://{release}-mlflow:5000"
        assert env["MODELSHIP_DATABASE_URL"]["value"] == (
            f"postgresql+psycopg://$(DATABASE_USERNAME):$(DATABASE_PASSWORD)@{release}-postgresql:5432/modelship"
        )
        assert env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": f"{release}-postgresql",
            "key": "password",
        }
    assert cluster.get("modelregistries.modelship.io", release, "-n", namespace)["spec"]["alias"] == "champion"

    # Upgrade keeps every generated Secret byte for byte (lookup).
    before = generated_secrets(cluster, namespace)
    assert f"{release}-operator-webhook" in before and f"{release}-postgresql" in before, sorted(before)
    helm_apply(cluster, "upgrade", release, namespace)
    after = generated_secrets(cluster, namespace)
    assert after == before
    poll("workloads Ready after the upgrade", lambda: workload_state(cluster, namespace))

    # Uninstall removes everything but what is meant to stay.
    helm_uninstall(cluster, release, namespace)
    poll(
        "objects gone after helm uninstall",
        lambda: ((left := leftovers(lambda kind, *a: cluster.get(kind, *a), namespace, release)) == [], left),
        deadline_s=180,
    )
    # What stays is only what is meant to: the finished hook Jobs (for their logs), each with a TTL that removes
    # it later; with persistence off no credentials are kept (resource-policy keep only guards a volume's data).
    hook_jobs = cluster.get("jobs.batch", "-n", namespace)["items"]
    assert {f"{release}-training-penguins", f"{release}-training-digits"} <= {j["metadata"]["name"] for j in hook_jobs}
    for job in hook_jobs:
        assert "helm.sh/hook" in job["metadata"]["annotations"] and job["spec"]["ttlSecondsAfterFinished"] > 0, job
    assert generated_secrets(cluster, namespace) == {}
    for crd in ("inferenceservices.modelship.io", "modelregistries.modelship.io"):
        cluster.kubectl("get", f"crd/{crd}")  # CRDs stay (Helm never deletes crds/)


def test_operator_disabled_install_runs_pinned_predictors(cluster: Cluster, namespace: str) -> None:
    release = release_name()
    helm_apply(
        cluster,
        "install",
        release,
        namespace,
        "-f",
        str(CHART / "ci" / "operator-disabled-values.yaml"),
        "--set",
        "serving.resources.requests.cpu=10m",
        "--set",
        "training.runOnInstall=false",
    )
    state = poll("every Deployment Available", lambda: workload_state(cluster, namespace))
    assert {"Deployment/penguins-predictor", "Deployment/digits-fast-predictor"} <= set(state), sorted(state)
    assert f"Deployment/{release}-operator" not in state
    # The pinned versions, as plain Deployments of the serving image (ci/operator-disabled-values.yaml).
    for name, version, replicas in (("penguins", "1", 2), ("digits-fast", "3", 1)):
        deploy = cluster.get(f"deployment/{name}-predictor", "-n", namespace)
        (container,) = deploy["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "modelship/serving:0.1.0"
        assert container["args"][:4] == ["--model-uri", f"models:/{name}/{version}", "--model_name", name]
        assert deploy["spec"]["replicas"] == replicas
        assert deploy["status"].get("readyReplicas") == replicas  # Available needs only one of them
    helm_uninstall(cluster, release, namespace)


def test_helm_test_creates_the_test_pods_on_kwok(cluster: Cluster, namespace: str) -> None:
    """`helm test` creates a test pod for the umbrella and each subchart (the API server admits them, RBAC and
    scheduling work), with the image and command that make the check. kwok fakes the kubelet and marks a
    restartPolicy Never pod Succeeded without running its command, so the pods' phase means nothing here and is
    not asserted: whether the checks pass is tests/e2e/test_platform.py::test_helm_test_passes, on a real node.
    (The pods are deleted once Succeeded, hook-succeeded: their specs are read from the release's hooks.)"""
    release = release_name()
    helm_apply(cluster, "install", release, namespace, "--set", "training.runOnInstall=false")
    done = cluster.helm("test", release, "-n", namespace, "--timeout", "120s", check=False)
    suites = {line.split(":", 1)[1].strip() for line in done.stdout.splitlines() if line.startswith("TEST SUITE:")}
    expected = {
        f"{release}-test-endpoints": ("modelship/gateway:0.1.0", "python"),
        f"{release}-mlflow-test": ("modelship/mlflow:0.1.0", "python"),
        f"{release}-postgresql-test": ("postgres:16.10", "/bin/sh"),
        f"{release}-kafka-test": ("apache/kafka:3.9.1", "/bin/bash"),
        f"{release}-minio-test": ("minio/mc:RELEASE.2025-08-13T08-35-41Z", "/bin/sh"),
        f"{release}-prometheus-test": ("prom/prometheus:v3.5.0", "/bin/sh"),
        f"{release}-grafana-test": ("grafana/grafana:12.4.5", "/bin/sh"),
        f"{release}-gateway-test": ("modelship/gateway:0.1.0", "python"),
        f"{release}-operator-test": ("modelship/operator:0.1.0", "python"),
        f"{release}-serving-test": ("modelship/serving:0.1.0", "python"),
        # training: its test checks the models the install trained; this install trains none (runOnInstall=false)
    }
    assert set(expected) <= suites, done.stdout + done.stderr  # every test pod was created
    hooks = {
        h["metadata"]["name"]: h
        for h in yaml.safe_load_all(cluster.helm("get", "hooks", release, "-n", namespace).stdout)
        if h and (h["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"
    }
    assert sorted(hooks) == sorted(expected)
    for name, (image, program) in expected.items():
        spec = hooks[name]["spec"]
        (container,) = spec["containers"]
        assert (container["image"], container["command"][0]) == (image, program), name
        assert spec["restartPolicy"] == "Never", name
    env = {e["name"]: e.get("value") for e in hooks[f"{release}-test-endpoints"]["spec"]["containers"][0]["env"]}
    assert json.loads(env["CHECKS"])["gateway"] == f"http://{release}-gateway:8000/readyz", env
    helm_uninstall(cluster, release, namespace)


PODMONITOR_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: podmonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: PodMonitor, listKind: PodMonitorList, plural: podmonitors, singular: podmonitor}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"""


def test_podmonitors_follow_the_cluster_api(cluster: Cluster, namespace: str) -> None:
    """With the prometheus-operator's PodMonitor API served (a stand-in CRD here), the release renders
    PodMonitors from the cluster's own discovery; the stand-in is removed again afterwards."""
    release = release_name()
    cluster.kubectl("apply", "-f", "-", input=PODMONITOR_CRD)
    try:
        cluster.kubectl("wait", "--for=condition=Established", "crd/podmonitors.monitoring.coreos.com", "--timeout=60s")
        helm_apply(cluster, "install", release, namespace, "--set", "training.runOnInstall=false")
        names = {
            m["metadata"]["name"] for m in cluster.get("podmonitors.monitoring.coreos.com", "-n", namespace)["items"]
        }
        assert {f"{release}-gateway", f"{release}-operator", f"{release}-model-servers"} <= names, sorted(names)
        helm_uninstall(cluster, release, namespace)
        assert cluster.get("podmonitors.monitoring.coreos.com", "-n", namespace)["items"] == []
    finally:
        cluster.kubectl("delete", "crd", "podmonitors.monitoring.coreos.com", "--ignore-not-found", check=False)
