"""Operator bookkeeping on kwok: the reconcilers, called directly, against the REAL API server (scripts/k8s) and a
REAL MLflow server. What they prove is the operator's bookkeeping, not that a model gets served:

- the children it writes (owner references, specs, hashes), the status, conditions and history it keeps, the
  requests it sends (or does not send) and how it reacts to MLflow being down or a spec being invalid;
- nothing runs: the serving image ``img:1`` does not exist and the kwok node marks the predictor pods Ready
  without starting them; ``test_kserve_target`` writes KServe's status itself (no KServe controller); Events go
  to an in-memory list (``World.events``), not to the API server.

That a rollout really serves the new version is checked on a real node by tests/e2e/test_platform.py
(``test_operator_rolls_out_every_model``, ``test_alias_move_rolls_out``).

No ``kopf run`` process: each test builds an ``Operator`` around the real ``Kube`` client, authenticated as
the operator's ServiceAccount (so deploy/rbac.yaml applies), and calls ``reconcile_isvc`` /
``observe_child`` / ``sync_registry`` itself. The controller-manager writes the Deployments' status from the
kwok node, the API server enforces the CRDs, and MLflow answers (or is stopped). Every test has its own
namespace and its own model names / selector value in MLflow.

"Nothing was written" is checked on the requests the real client sent (``RecordingKube`` records, then
sends them) and on unchanged ``resourceVersion``s.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import kopf
import pytest

from devtools.control_plane import wait_for
from modelship_common.registry import CLASSES_TAG, TASK_TAG
from modelship_operator import constants as c
from modelship_operator import kube as k
from modelship_operator import status as st
from modelship_operator.kube import APPLY_PATCH, Kube
from modelship_operator.metrics import Metrics
from modelship_operator.reconcile import Operator, observe_child, reconcile_isvc
from modelship_operator.registry_sync import Registries, poke_from_webhook, sync_registry
from modelship_operator.settings import OperatorSettings, Target
from modelship_operator.webhook import Delivery

from ..helpers import isvc as isvc_manifest
from .conftest import Cluster, MlflowServer, kube_client, require_no_running_operator

pytestmark = pytest.mark.integration

SELECTOR_TAG = "modelship-it-selector"


# --- the real client, recording what it sends -------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    content_type: str

    @property
    def verb(self) -> str:
        if self.method == "GET":
            return "get"
        if self.method == "POST":
            return "create"
        if self.method == "DELETE":
            return "delete"
        if self.content_type == APPLY_PATCH:
            return "apply"
        return "patch/status" if self.path.endswith("/status") else "patch"

    @property
    def plural(self) -> str:
        parts = self.path.split("/")
        return parts[parts.index("namespaces") + 2]


class RecordingKube(Kube):
    """The operator's real client; every request is recorded, then sent to the API server unchanged."""

    def __init__(self, configuration: Any) -> None:
        super().__init__(configuration)
        self.calls: list[Call] = []

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        self.calls.append(Call(method, path, kwargs.get("content_type", "application/json")))
        return super().request(method, path, **kwargs)

    def writes(self) -> list[tuple[str, str]]:
        return [(x.verb, x.plural) for x in self.calls if x.verb != "get"]


# --- the world: API server, MLflow, an Operator --------------------------------------------------------


@dataclass
class World:
    op: Operator
    kube: RecordingKube  # what the operator uses (its ServiceAccount)
    admin: Kube  # what the test uses to play kubectl, the controllers and KServe
    mlflow: MlflowServer
    ns: str
    events: list[tuple[str, str, str, str]] = field(default_factory=list)

    def use_mlflow(self, server: MlflowServer, **settings: Any) -> None:
        """Point the operator's default MLflow at ``server``."""
        self.mlflow = server
        self.op.settings = _settings(server, **settings)

    # objects
    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        manifest = {**manifest, "metadata": {**manifest["metadata"], "namespace": self.ns}}
        return self.admin.create(manifest)

    def isvc(self, name: str, **spec: Any) -> dict[str, Any]:
        body = isvc_manifest(name, namespace=self.ns, **spec)
        for key in ("uid", "generation"):  # the API server assigns these
            body["metadata"].pop(key)
        return self.create(body)

    def get(self, kind: k.Kind, name: str) -> dict[str, Any] | None:
        return self.admin.get(kind, self.ns, name)

    def status(self, name: str) -> dict[str, Any]:
        return (self.get(k.ISVC, name) or {}).get("status") or {}

    def wait_available(self, name: str, version: str) -> dict[str, Any]:
        """Wait until the controller-manager and kwok really rolled the predictor Deployment out."""
        return wait_for(
            lambda: (
                (dep := self.get(k.DEPLOYMENT, f"{name}-predictor"))
                and st.deployment_readiness(dep, version).ready
                and dep
            ),
            timeout=60,
            what=f"Deployment {name}-predictor to be available with version {version}",
        )

    # MLflow
    def add_version(self, model: str, *, alias: str | None = "champion", selector: str | None = None) -> str:
        """Register a new version of ``model`` in the real MLflow (source: an object-store URI)."""
        from mlflow.exceptions import MlflowException

        client = self.mlflow.client()
        try:
            client.create_registered_model(model, tags={TASK_TAG: "tabular", CLASSES_TAG: '["no", "yes"]'})
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        if selector is not None:
            client.set_registered_model_tag(model, SELECTOR_TAG, selector)
        mv = client.create_model_version(model, source=f"s3://modelship-it/{model}/{uuid.uuid4().hex[:8]}")
        if alias:
            client.set_registered_model_alias(model, alias, mv.version)
        return str(mv.version)

    def source_of(self, model: str, version: str) -> str:
        return self.mlflow.client().get_model_version(model, version).source

    def registry(self, tracking_uri: str | None = None, **spec: Any) -> dict[str, Any]:
        """A ModelRegistry selecting the models tagged with this test's selector value."""
        return self.create(
            {
                "apiVersion": "modelship.io/v1alpha1",
                "kind": "ModelRegistry",
                "metadata": {"name": "mlflow"},
                "spec": {
                    "trackingUri": tracking_uri or self.mlflow.url,
                    "alias": "champion",
                    "pollSeconds": 30,
                    "selector": {"tag": SELECTOR_TAG, "value": self.ns},
                    **spec,
                },
            }
        )


def _settings(server: MlflowServer, **overrides: Any) -> OperatorSettings:
    return OperatorSettings(
        serving_image="img:1", mlflow_tracking_uri=server.url, retry_seconds=2, resync_seconds=5, **overrides
    )


@pytest.fixture
def world(
    cluster: Cluster, namespace: str, default_mlflow: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    require_no_running_operator()
    # What the operator's startup does (mlflow_access.configure_mlflow_client), scoped to this test.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    assert cluster.operator_kubeconfig is not None
    sa = kube_client(cluster.operator_kubeconfig)
    kube = RecordingKube(sa.api.configuration)
    admin = kube_client(cluster.kubeconfig)
    events: list[tuple[str, str, str, str]] = []
    op = Operator(
        settings=_settings(default_mlflow),
        kube=kube,
        metrics=Metrics(),
        poster=lambda body, type_, reason, message: events.append((body["metadata"]["name"], type_, reason, message)),
    )
    yield World(op=op, kube=kube, admin=admin, mlflow=default_mlflow, ns=namespace, events=events)
    for client in (kube, admin, sa):
        client.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def _uid() -> str:
    return uuid.uuid4().hex[:6]


def _cond(status: dict[str, Any], type_: str) -> dict[str, Any]:
    return next(x for x in status["conditions"] if x["type"] == type_)


def _rv(obj: dict[str, Any] | None) -> str:
    assert obj is not None
    return obj["metadata"]["resourceVersion"]


# --- InferenceService reconciler -------------------------------------------------------------------------


def test_first_rollout_then_available(world: World) -> None:
    name = f"penguins-{_uid()}"
    world.add_version(name)
    world.isvc(name)
    run(reconcile_isvc(world.op, world.ns, name, trigger="create"))

    dep = world.get(k.DEPLOYMENT, f"{name}-predictor")
    svc = world.get(k.SERVICE, f"{name}-predictor")
    owner_uid = world.get(k.ISVC, name)["metadata"]["uid"]
    assert dep["metadata"]["ownerReferences"][0]["uid"] == owner_uid
    assert svc["metadata"]["ownerReferences"][0]["controller"] is True
    assert dep["spec"]["template"]["spec"]["containers"][0]["args"][1] == f"models:/{name}/1"
    status = world.status(name)
    assert status["modelVersion"] == "1"
    assert status["modelUri"] == world.source_of(name, "1")
    assert status["url"] == f"http://{name}-predictor.{world.ns}.svc:8080"
    assert _cond(status, "Ready")["status"] == "False"
    assert _cond(status, "Ready")["reason"] == "RolloutInProgress"
    assert _cond(status, "Resolved")["status"] == "True"
    assert [h["result"] for h in status["history"]] == ["Progressing"]
    assert [e[2] for e in world.events] == ["RolloutStarted"]

    world.wait_available(name, "1")
    run(observe_child(world.op, world.ns, name))
    status = world.status(name)
    assert _cond(status, "Ready")["status"] == "True"
    assert status["history"][-1]["result"] == "Succeeded"
    assert [e[2] for e in world.events] == ["RolloutStarted", "RolloutSucceeded"]
    assert 'modelship_operator_rollouts_total{result="succeeded"} 1.0' in world.op.metrics.render().decode()


def test_no_diff_no_write_and_alias_move_rolls(world: World) -> None:
    name = f"penguins-{_uid()}"
    world.add_version(name)
    world.isvc(name)
    run(reconcile_isvc(world.op, world.ns, name, trigger="create"))
    world.wait_available(name, "1")
    run(observe_child(world.op, world.ns, name))
    objects = ((k.ISVC, name), (k.DEPLOYMENT, f"{name}-predictor"), (k.SERVICE, f"{name}-predictor"))
    before = {kind: _rv(world.get(kind, n)) for kind, n in objects}
    world.kube.calls.clear()
    run(reconcile_isvc(world.op, world.ns, name, trigger="resync"))
    assert world.kube.writes() == []  # nothing changed -> nothing sent but GETs
    assert {kind: _rv(world.get(kind, n)) for kind, n in objects} == before

    world.add_version(name)  # champion -> 2
    world.kube.calls.clear()
    run(reconcile_isvc(world.op, world.ns, name, trigger="update"))
    dep = world.get(k.DEPLOYMENT, f"{name}-predictor")
    assert dep["spec"]["template"]["spec"]["containers"][0]["args"][1] == f"models:/{name}/2"
    status = world.status(name)
    assert status["modelVersion"] == "2"
    assert _cond(status, "Ready")["status"] == "False"  # new generation not observed yet
    assert [(h["version"], h["result"]) for h in status["history"]] == [("1", "Replaced"), ("2", "Progressing")]
    assert "from version 1 to 2" in world.events[-1][3]
    # only the Deployment changed; the Service hash is the same, so it was not even applied
    assert ("apply", "services") not in world.kube.writes()
    assert ("apply", "deployments") in world.kube.writes()
    assert _rv(world.get(k.SERVICE, f"{name}-predictor")) == before[k.SERVICE]
    world.wait_available(name, "2")
    run(observe_child(world.op, world.ns, name))
    history = world.status(name)["history"]
    assert [(h["version"], h["result"]) for h in history] == [("1", "Replaced"), ("2", "Succeeded")]


def test_stale_child_event_is_ignored(world: World) -> None:
    name = f"penguins-{_uid()}"
    world.add_version(name)
    world.isvc(name)
    run(reconcile_isvc(world.op, world.ns, name, trigger="create"))
    world.wait_available(name, "1")
    # the status says v2 but the Deployment is still v1 (an event from before the patch)
    world.admin.patch_status(k.ISVC, world.ns, name, {"modelVersion": "2"})
    run(observe_child(world.op, world.ns, name))
    assert _cond(world.status(name), "Ready")["status"] == "False"


def test_invalid_spec_is_permanent_with_a_condition(world: World) -> None:
    name = f"penguins-{_uid()}"
    world.isvc(name, resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1"}})
    with pytest.raises(kopf.PermanentError, match="exceeds"):
        run(reconcile_isvc(world.op, world.ns, name, trigger="create"))
    status = world.status(name)
    assert _cond(status, "Ready")["reason"] == "InvalidSpec"
    assert "exceeds" in _cond(status, "Ready")["message"]
    assert world.get(k.DEPLOYMENT, f"{name}-predictor") is None
    assert world.events[-1][1:3] == ("Warning", "InvalidSpec")


def test_registry_down_is_temporary_and_keeps_serving(
    world: World, mlflow_factory: Callable[..., MlflowServer]
) -> None:
    world.use_mlflow(mlflow_factory(webhooks=False))
    name = f"penguins-{_uid()}"
    world.add_version(name)
    world.isvc(name)
    run(reconcile_isvc(world.op, world.ns, name, trigger="create"))
    world.wait_available(name, "1")
    run(observe_child(world.op, world.ns, name))
    dep_before = world.get(k.DEPLOYMENT, f"{name}-predictor")
    world.mlflow.stop()  # MLflow is down for real: connection refused
    world.kube.calls.clear()
    with pytest.raises(kopf.TemporaryError) as info:
        run(reconcile_isvc(world.op, world.ns, name, trigger="resync"))
    assert info.value.delay == world.op.settings.retry_seconds
    status = world.status(name)
    assert _cond(status, "Resolved")["reason"] == "RegistryUnreachable"
    assert "keeping version 1" in _cond(status, "Resolved")["message"]
    assert _cond(status, "Ready")["status"] == "True"  # still serving v1
    dep_after = world.get(k.DEPLOYMENT, f"{name}-predictor")
    assert _rv(dep_after) == _rv(dep_before) and dep_after["spec"] == dep_before["spec"]
    assert not [x for x in world.kube.writes() if x[0] in ("apply", "delete", "create")]
    # a second failure with the same message posts no second event
    n = len(world.events)
    with pytest.raises(kopf.TemporaryError):
        run(reconcile_isvc(world.op, world.ns, name, trigger="resync"))
    assert len(world.events) == n, world.events[n - 1 :]


def test_missing_alias_and_missing_version(world: World) -> None:
    name = f"penguins-{_uid()}"
    world.add_version(name, alias=None)  # registered, but nothing carries the alias
    world.isvc(name)
    with pytest.raises(kopf.TemporaryError):
        run(reconcile_isvc(world.op, world.ns, name, trigger="create"))
    assert "has no alias 'champion'" in _cond(world.status(name), "Resolved")["message"]
    pinned = f"pinned-{_uid()}"
    world.add_version(pinned, alias=None)
    world.isvc(pinned, model={"name": pinned, "version": "9"})
    with pytest.raises(kopf.PermanentError, match="no version 9"):
        run(reconcile_isvc(world.op, world.ns, pinned, trigger="create"))
    assert _cond(world.status(pinned), "Ready")["reason"] == "ModelNotFound"


def test_missing_model_registry_is_temporary(world: World) -> None:
    name = f"penguins-{_uid()}"
    world.add_version(name)
    world.isvc(name, registry="nope")
    with pytest.raises(kopf.TemporaryError, match="does not exist"):
        run(reconcile_isvc(world.op, world.ns, name, trigger="create"))
    assert _cond(world.status(name), "Resolved")["reason"] == "RegistryNotFound"


def test_foreign_child_is_not_taken_over(world: World) -> None:
    name = f"penguins-{_uid()}"
    world.add_version(name)
    world.isvc(name)
    foreign = world.create(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{name}-predictor"},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "handmade"}},
                "template": {
                    "metadata": {"labels": {"app": "handmade"}},
                    "spec": {"containers": [{"name": "c", "image": "handmade:1"}]},
                },
            },
        }
    )
    with pytest.raises(kopf.TemporaryError, match="not owned"):
        run(reconcile_isvc(world.op, world.ns, name, trigger="create"))
    assert _cond(world.status(name), "Ready")["reason"] == "ChildConflict"
    after = world.get(k.DEPLOYMENT, f"{name}-predictor")
    assert after["metadata"]["uid"] == foreign["metadata"]["uid"]
    assert not after["metadata"].get("ownerReferences")
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "handmade:1"


def test_kserve_target(world: World, kserve_crd: Any) -> None:
    world.op.settings = _settings(world.mlflow, target=Target.kserve)
    name = f"penguins-{_uid()}"
    world.add_version(name)
    world.add_version(name)
    world.add_version(name)  # champion -> 3
    world.isvc(name)
    run(reconcile_isvc(world.op, world.ns, name, trigger="create"))
    assert world.get(k.DEPLOYMENT, f"{name}-predictor") is None
    ks = world.get(k.KSERVE_ISVC, name)
    assert ks["spec"]["predictor"]["containers"][0]["args"][1] == f"models:/{name}/3"
    assert ks["metadata"]["ownerReferences"][0]["uid"] == world.get(k.ISVC, name)["metadata"]["uid"]
    assert _cond(world.status(name), "Ready")["status"] == "False"
    container = ks["spec"]["predictor"]["containers"][0]
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [("http1", 8080), ("grpc", 8081)]
    # Before KServe reports an address: its predictor Service, which listens on port 80 (not 8080).
    assert world.status(name)["url"] == f"http://{name}-predictor.{world.ns}.svc.cluster.local"
    # KServe's controller is not installed: write the status it would write (RawDeployment: the predictor
    # Service as status.address, the external ingress host as status.url).
    url = f"http://{name}-predictor.{world.ns}.svc.cluster.local"
    world.admin.patch_status(
        k.KSERVE_ISVC, world.ns, name,
        {"observedGeneration": ks["metadata"]["generation"], "conditions": [{"type": "Ready", "status": "True"}],
         "url": f"http://{name}-{world.ns}.example.com", "address": {"url": url}},
    )  # fmt: skip
    run(observe_child(world.op, world.ns, name))
    status = world.status(name)
    assert _cond(status, "Ready")["status"] == "True"
    assert status["url"] == url
    # Another address reported later (e.g. a cluster domain other than cluster.local) replaces it.
    other = f"http://{name}-predictor.{world.ns}.svc.example.internal"
    world.admin.patch_status(k.KSERVE_ISVC, world.ns, name, {"address": {"url": other}})
    run(observe_child(world.op, world.ns, name))
    assert world.status(name)["url"] == other
    assert status["history"][-1] == {**status["history"][-1], "version": "3", "result": "Succeeded"}


# --- ModelRegistry sync ----------------------------------------------------------------------------------


def test_registry_sync_creates_pokes_and_reports(world: World) -> None:
    uid = _uid()
    penguins, digits = f"penguins-{uid}", f"digits-fast-{uid}"
    world.add_version(penguins, selector=world.ns)
    world.add_version(digits, alias=None, selector=world.ns)
    world.add_version(f"unselected-{uid}", selector="someone-else")
    reg = world.registry()
    before = time.time()
    assert run(sync_registry(world.op, reg, trigger="poll"))
    text = world.op.metrics.render().decode()
    stamp = f'modelship_operator_registry_last_sync_timestamp_seconds{{namespace="{world.ns}",registry="mlflow"}} '
    last_sync = float(next(line for line in text.splitlines() if line.startswith(stamp)).split()[-1])
    assert before <= last_sync <= time.time()
    created = world.get(k.ISVC, penguins)
    assert created["metadata"]["ownerReferences"][0]["uid"] == reg["metadata"]["uid"]
    assert created["metadata"]["annotations"][c.ANN_RESOLVED_VERSION] == "1"
    assert created["spec"]["registry"] == "mlflow"
    status = world.get(k.REGISTRY, "mlflow")["status"]
    assert status["models"] == [  # sorted by model name
        {"name": digits, "inferenceService": digits},
        {"name": penguins, "inferenceService": penguins, "version": "1"},
    ]
    assert status["modelCount"] == 2
    assert status["lastSync"]
    assert [e[2] for e in world.events] == ["InferenceServiceCreated", "InferenceServiceCreated"]
    assert world.get(k.ISVC, f"unselected-{uid}") is None

    world.kube.calls.clear()
    rv = _rv(world.get(k.ISVC, penguins))
    assert run(sync_registry(world.op, world.get(k.REGISTRY, "mlflow"), trigger="poll"))
    assert ("patch", "inferenceservices") not in world.kube.writes()  # no change, no poke
    assert _rv(world.get(k.ISVC, penguins)) == rv
    world.add_version(penguins, selector=world.ns)  # champion -> 2
    run(sync_registry(world.op, world.get(k.REGISTRY, "mlflow"), trigger="webhook"))
    assert world.get(k.ISVC, penguins)["metadata"]["annotations"][c.ANN_RESOLVED_VERSION] == "2"


def test_registry_down_changes_nothing(world: World, mlflow_factory: Callable[..., MlflowServer]) -> None:
    world.use_mlflow(mlflow_factory(webhooks=False))
    penguins = f"penguins-{_uid()}"
    world.add_version(penguins, selector=world.ns)
    reg = world.registry(prune=True)
    run(sync_registry(world.op, reg, trigger="poll"))
    world.mlflow.stop()
    world.kube.calls.clear()
    assert not run(sync_registry(world.op, world.get(k.REGISTRY, "mlflow"), trigger="poll"))
    assert world.get(k.ISVC, penguins) is not None
    assert world.kube.writes() == [("patch/status", "modelregistries")]
    status = world.get(k.REGISTRY, "mlflow")["status"]
    synced = next(x for x in status["conditions"] if x["type"] == "Synced")
    assert synced["status"] == "False" and synced["reason"] == "RegistryUnreachable"
    assert status["models"] == [{"name": penguins, "inferenceService": penguins, "version": "1"}]  # kept
    assert world.events[-1][2] == "RegistryUnreachable"


def test_prune_deletes_only_owned_unselected(world: World) -> None:
    uid = _uid()
    penguins, old, handmade = f"penguins-{uid}", f"old-{uid}", f"handmade-{uid}"
    world.add_version(penguins, selector=world.ns)
    world.add_version(old, selector=world.ns)
    reg = world.registry(prune=True)
    run(sync_registry(world.op, reg, trigger="poll"))
    assert world.get(k.ISVC, old) is not None
    # not owned by the registry, though labelled as if it were
    world.isvc(handmade)
    world.admin.merge_patch(k.ISVC, world.ns, handmade, {"metadata": {"labels": {c.LABEL_REGISTRY: "mlflow"}}})
    world.mlflow.client().delete_registered_model_tag(old, SELECTOR_TAG)  # "old" is no longer selected
    world.kube.calls.clear()
    run(sync_registry(world.op, world.get(k.REGISTRY, "mlflow"), trigger="poll"))
    wait_for(
        lambda: (o := world.get(k.ISVC, old)) is None or bool(o["metadata"].get("deletionTimestamp")),
        timeout=30,
        what=f"InferenceService {old} to be deleted",
    )
    # The operator itself sent exactly one delete, for "old" (not for the handmade one, nor anything else).
    deletes = [x.path for x in world.kube.calls if x.verb == "delete"]
    assert deletes == [f"/apis/modelship.io/v1alpha1/namespaces/{world.ns}/inferenceservices/{old}"], deletes
    assert world.get(k.ISVC, handmade) is not None
    assert world.get(k.ISVC, penguins) is not None
    assert [e[2] for e in world.events][-1] == "InferenceServicePruned"


def test_foreign_isvc_blocks_only_that_model(world: World) -> None:
    uid = _uid()
    penguins, digits = f"penguins-{uid}", f"digits-fast-{uid}"
    world.isvc(penguins)
    world.add_version(penguins, selector=world.ns)
    world.add_version(digits, selector=world.ns)
    world.add_version(digits, selector=world.ns)
    reg = world.registry()
    run(sync_registry(world.op, reg, trigger="poll"))
    status = world.get(k.REGISTRY, "mlflow")["status"]
    assert [m["name"] for m in status["models"]] == [digits]
    synced = next(x for x in status["conditions"] if x["type"] == "Synced")
    assert synced["reason"] == "Conflict" and "not owned by this ModelRegistry" in synced["message"]
    assert not world.get(k.ISVC, penguins)["metadata"].get("ownerReferences")  # left alone
    assert world.get(k.ISVC, digits)["metadata"]["annotations"][c.ANN_RESOLVED_VERSION] == "2"


def test_webhook_fast_path_pokes_the_owned_isvc(world: World) -> None:
    penguins = f"penguins-{_uid()}"
    world.add_version(penguins, selector=world.ns)
    reg = world.registry()
    run(sync_registry(world.op, reg, trigger="poll"))
    regs = Registries()
    regs.bodies[(world.ns, "mlflow")] = world.get(k.REGISTRY, "mlflow")

    def delivery(**data: Any) -> Delivery:
        return Delivery(event="model_version_alias.created", data=data, delivery_id="d")

    assert run(poke_from_webhook(world.op, regs, delivery(name=penguins, alias="challenger", version="2"))) == 0
    assert run(poke_from_webhook(world.op, regs, delivery(name="unknown", alias="champion", version="2"))) == 0
    assert run(poke_from_webhook(world.op, regs, delivery(name=penguins, alias="champion", version="2"))) == 1
    assert world.get(k.ISVC, penguins)["metadata"]["annotations"][c.ANN_RESOLVED_VERSION] == "2"
    assert run(poke_from_webhook(world.op, regs, delivery(name=penguins, alias="champion", version="2"))) == 0
    other = Delivery(event="model_version.created", data={"name": penguins}, delivery_id="d")
    assert run(poke_from_webhook(world.op, regs, other)) == 0
