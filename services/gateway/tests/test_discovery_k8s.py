"""Kubernetes discovery against a REAL API server (scripts/k8s/control-plane.sh: kube-apiserver, etcd, kwok).

The gateway authenticates with a token of its own ServiceAccount, bound to the Role the Helm chart renders, so
these tests also show that RBAC is enough (list + watch in the release namespace) and no more (nothing in
another namespace, no writes, no other resources). InferenceServices get their ``status.url`` through the
status subresource, as the operator writes it; the URL points at the session's real stand-in model server.

A missing tool or a control plane that does not come up FAILS the test with the make target to run.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.control_plane import ControlPlane, run, start_control_plane, tool, wait_for
from modelship_scoring import kube_discovery
from modelship_scoring.discovery import open_discovery
from modelship_scoring.discovery_settings import DiscoverySettings
from modelship_scoring.errors import DiscoveryUnavailable
from modelship_scoring.kube_discovery import KubernetesDiscovery, api_client
from modelship_streaming.settings import StreamingSettings
from services.gateway.tests.test_predict import ROW
from services.gateway.tests.testkit import LiveGateway

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CLUSTER_NAME = "gateway-tests"
CHART = REPO / "charts" / "modelship"
RELEASE = "r"
ISVCS = "inferenceservices.modelship.io"


def apply(cp: ControlPlane, namespace: str, *objs: dict[str, Any]) -> None:
    cp.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(objs))


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    tool("helm")
    with start_control_plane(CLUSTER_NAME) as cp:
        cp.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "k8s" / "crds"))
        cp.kubectl("wait", "--for=condition=Established", "crd/inferenceservices.modelship.io", "--timeout=60s")
        yield cp


@dataclass
class Release:
    """A namespace holding the gateway's ServiceAccount, Role and RoleBinding exactly as the chart renders them."""

    namespace: str
    service_account: str
    kubeconfig: Path  # authenticates as that ServiceAccount


@pytest.fixture
def release(control_plane: ControlPlane, tmp_path: Path) -> Iterator[Release]:
    namespace = control_plane.namespace("gw")
    rendered = run(
        [
            tool("helm"), "template", RELEASE, str(CHART), "--namespace", namespace,
            "--show-only", "charts/gateway/templates/serviceaccount.yaml",
            "--show-only", "charts/gateway/templates/rbac.yaml",
        ]
    ).stdout  # fmt: skip
    objs = [o for o in yaml.safe_load_all(rendered) if o]
    assert sorted(o["kind"] for o in objs) == ["Role", "RoleBinding", "ServiceAccount"]
    apply(control_plane, namespace, *objs)
    sa = next(o["metadata"]["name"] for o in objs if o["kind"] == "ServiceAccount")
    token = control_plane.kubectl("create", "token", sa, "-n", namespace, "--duration=1h").stdout.strip()
    yield Release(namespace, sa, control_plane.token_kubeconfig(token, tmp_path / "gateway-sa.kubeconfig", user="sa"))
    control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def create_isvc(cp: ControlPlane, namespace: str, name: str, model: str, url: str | None) -> None:
    isvc = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"model": {"name": model, "alias": "champion"}},
    }
    apply(cp, namespace, isvc)
    if url is not None:
        set_status(cp, namespace, name, {"url": url, "modelVersion": "3"})


def set_status(cp: ControlPlane, namespace: str, name: str, status: dict[str, Any]) -> None:
    patch = json.dumps({"status": status})
    cp.kubectl(
        "patch", "inferenceservices.modelship.io", name, "-n", namespace,
        "--subresource=status", "--type=merge", "-p", patch,
    )  # fmt: skip


def ready_condition(status: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }


def can_i(cp: ControlPlane, kubeconfig: Path, verb: str, resource: str, namespace: str) -> bool:
    """``kubectl auth can-i`` as the identity of ``kubeconfig`` (the API server's own RBAC answer)."""
    answer = cp.kubectl("auth", "can-i", verb, resource, "-n", namespace, kubeconfig=kubeconfig, check=False)
    assert answer.stdout.strip() in ("yes", "no"), answer.stderr
    return answer.stdout.strip() == "yes"


def models(gateway: LiveGateway) -> dict[str, dict[str, Any]]:
    response = gateway.http.get("/api/models")
    assert response.status_code == 200, response.text
    return {m["name"]: m for m in response.json()}


def test_gateway_follows_the_inferenceservices_without_a_restart(
    control_plane: ControlPlane, release: Release, start_gateway, standin_url: str
) -> None:
    ns = release.namespace
    create_isvc(control_plane, ns, "penguins", "penguins", standin_url + "/")
    create_isvc(control_plane, ns, "pending", "broken", None)  # no status.url yet: not listed
    gateway = start_gateway(
        model_servers={},
        discovery="kubernetes",
        kubernetes_namespace=ns,
        kubeconfig=release.kubeconfig,
    )
    listed = models(gateway)
    assert set(listed) == {"penguins"}
    assert (listed["penguins"]["url"], listed["penguins"]["ready"], listed["penguins"]["version"]) == (
        standin_url,
        True,
        "3",
    )
    response = gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW]})
    assert response.status_code == 200, response.text

    # Rolled out later (served name = spec.model.name, not the object's name): appears without a restart.
    create_isvc(control_plane, ns, "digits-canary", "digits-fast", standin_url)
    wait_for(lambda: "digits-fast" in models(gateway), what="the new InferenceService in /api/models")
    assert models(gateway)["digits-fast"]["ready"] is True

    # The operator says not Ready (mid-rollout): listed as not ready; requests still go to the answering server.
    set_status(
        control_plane, ns, "penguins", {"conditions": [ready_condition("False", "RolloutInProgress", "1 of 2 pods")]}
    )
    wait_for(lambda: models(gateway)["penguins"]["ready"] is False, what="penguins listed not ready")
    assert gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW]}).status_code == 200
    set_status(control_plane, ns, "penguins", {"conditions": [ready_condition("True", "Available", "2 of 2 pods")]})
    wait_for(lambda: models(gateway)["penguins"]["ready"] is True, what="penguins ready again")

    # Deleted: gone from the listing and from routing.
    control_plane.kubectl("delete", "inferenceservices.modelship.io", "penguins", "-n", ns)
    wait_for(lambda: "penguins" not in models(gateway), what="the deleted InferenceService to disappear")
    assert gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW]}).status_code == 404
    assert set(models(gateway)) == {"digits-fast"}

    # The status url arriving later makes "pending" appear; every change came from the watch, none from a restart.
    set_status(control_plane, ns, "pending", {"url": standin_url})
    wait_for(lambda: "broken" in models(gateway), what="the InferenceService whose status.url was written last")


def test_the_gateway_service_account_can_read_inferenceservices_here_and_nothing_more(
    control_plane: ControlPlane, release: Release, start_gateway
) -> None:
    ns, as_gateway = release.namespace, release.kubeconfig
    other = control_plane.namespace("gw")
    try:
        create_isvc(control_plane, other, "elsewhere", "penguins", "http://elsewhere:8080")
        got = control_plane.kubectl(
            "get", "inferenceservices.modelship.io", "-n", ns, "-o", "json", kubeconfig=as_gateway
        )
        assert json.loads(got.stdout)["items"] == []
        denied = control_plane.kubectl(
            "get", "inferenceservices.modelship.io", "-n", other, kubeconfig=as_gateway, check=False
        )
        assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), denied.stderr
        for verb, resource in (
            ("list", "inferenceservices.modelship.io"),
            ("watch", "inferenceservices.modelship.io"),
            ("get", "inferenceservices.modelship.io"),
        ):
            answer = control_plane.kubectl(
                "auth", "can-i", verb, resource, "-n", ns, kubeconfig=as_gateway, check=False
            )
            assert answer.stdout.strip() == "yes", (verb, resource)
        for verb, resource, where in (
            ("create", "inferenceservices.modelship.io", ns),
            ("patch", "inferenceservices.modelship.io", ns),
            ("delete", "inferenceservices.modelship.io", ns),
            ("list", "inferenceservices.modelship.io", other),
            ("list", "modelregistries.modelship.io", ns),
            ("get", "secrets", ns),
            ("list", "pods", ns),
            ("list", "inferenceservices.serving.kserve.io", ns),
        ):
            answer = control_plane.kubectl(
                "auth", "can-i", verb, resource, "-n", where, kubeconfig=as_gateway, check=False
            )
            assert answer.stdout.strip() == "no", (verb, resource, where)

        async def discover_elsewhere() -> str:
            kube = KubernetesDiscovery(await api_client(as_gateway), other, sync_timeout_s=3.0)
            try:
                await kube.start()
                with pytest.raises(DiscoveryUnavailable) as caught:
                    await kube.endpoints()
                return str(caught.value)
            finally:
                await kube.close()

        message = asyncio.run(discover_elsewhere())
        assert f"namespace {other}" in message and "403" in message, message
        # Through the HTTP API: a JSON 503, not a 500.
        gateway = start_gateway(
            discovery="kubernetes", kubernetes_namespace=other, kubeconfig=as_gateway, kubernetes_sync_timeout_s=1.0
        )
        response = gateway.http.get("/api/models")
        assert response.status_code == 503 and "403" in response.json()["detail"], response.text
        response = gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW]})
        assert response.status_code == 503, response.text
    finally:
        control_plane.kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_the_streaming_worker_settings_open_the_same_kubernetes_discovery(
    control_plane: ControlPlane, release: Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_isvc(control_plane, release.namespace, "digits-fast", "digits-fast", "http://digits-fast-predictor:8080/")
    monkeypatch.setenv("MODELSHIP_DISCOVERY", "kubernetes")
    monkeypatch.setenv("MODELSHIP_KUBERNETES_NAMESPACE", release.namespace)
    monkeypatch.setenv("MODELSHIP_KUBECONFIG", str(release.kubeconfig))
    settings = StreamingSettings()

    async def listed() -> list[tuple[str, str]]:
        async with open_discovery(settings) as discovery:
            return [(ep.name, ep.url) for ep in await discovery.endpoints()]

    assert asyncio.run(listed()) == [("digits-fast", "http://digits-fast-predictor:8080")]


def test_in_a_pod_the_service_account_token_ca_and_namespace_files_are_used(
    control_plane: ControlPlane, release: Release, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The in-cluster path for real: the files the kubelet mounts, the API server address from the environment."""
    create_isvc(control_plane, release.namespace, "penguins", "penguins", "http://penguins-predictor:8080")
    sa_config = yaml.safe_load(release.kubeconfig.read_text())
    mounted = tmp_path / "serviceaccount"
    mounted.mkdir()
    (mounted / "token").write_text(sa_config["users"][0]["user"]["token"])
    ca = sa_config["clusters"][0]["cluster"]["certificate-authority-data"]
    (mounted / "ca.crt").write_bytes(base64.b64decode(ca))
    (mounted / "namespace").write_text(release.namespace)
    host, _, port = sa_config["clusters"][0]["cluster"]["server"].removeprefix("https://").rpartition(":")
    monkeypatch.setattr(kube_discovery, "SERVICE_ACCOUNT_DIR", mounted)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))  # must not be read

    async def listed() -> list[tuple[str, str]]:
        async with open_discovery(DiscoverySettings(discovery="kubernetes")) as discovery:
            return [(ep.name, ep.url) for ep in await discovery.endpoints()]

    assert asyncio.run(listed()) == [("penguins", "http://penguins-predictor:8080")]


def test_the_watch_resumes_where_the_api_server_ended_it(
    control_plane: ControlPlane, release: Release, caplog: pytest.LogCaptureFixture
) -> None:
    """The API server closes every watch after ``watch_s``; the next one starts from the last resourceVersion
    (no error, no new list), and changes made after that still arrive."""
    caplog.set_level(logging.INFO, logger=kube_discovery.__name__)

    async def scenario() -> list[str]:
        kube = KubernetesDiscovery(await api_client(release.kubeconfig), release.namespace, watch_s=10)
        try:
            await kube.start()
            assert await kube.endpoints() == []
            await asyncio.sleep(12)  # the first watch request has ended by now
            await asyncio.to_thread(create_isvc, control_plane, release.namespace, "late", "penguins", "http://late")
            deadline = time.monotonic() + 20
            while not await kube.endpoints() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            return [ep.url for ep in await kube.endpoints()]
        finally:
            await kube.close()

    assert asyncio.run(scenario()) == ["http://late"]
    records = [r for r in caplog.records if r.name == kube_discovery.__name__]
    assert not [r.getMessage() for r in records if r.levelno >= logging.WARNING or "listing again" in r.getMessage()]
