"""The reconcilers against an in-memory API (tests/fakes.py) and a stubbed MLflow: flows, not manifests."""

import asyncio
from dataclasses import dataclass

import kopf
import pytest

from modelship_common.errors import ModelNotFound
from modelship_operator import constants as c
from modelship_operator import kube as k
from modelship_operator import mlflow_access as ml
from modelship_operator.metrics import Metrics
from modelship_operator.reconcile import Operator, observe_child, reconcile_isvc
from modelship_operator.registry_sync import Registries, Trigger, sync_registry
from modelship_operator.settings import OperatorSettings, Target

from .fakes import FakeKube
from .helpers import isvc

NS = "ml"


@dataclass
class Info:
    version: str
    source: str = "models:/m-src"


class Registry:
    """Stub MLflow: alias -> version per model, or down."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.versions: dict[str, set[str]] = {}
        self.down = False
        self.served: list[str] = []

    def resolve(self, tracking_uri, ref):
        if self.down:
            raise ml.RegistryUnreachable(f"MLflow at {tracking_uri} is unreachable: connection refused")
        if ref.alias:
            if ref.name not in self.aliases:
                raise ModelNotFound("no alias")
            return Info(self.aliases[ref.name], f"models:/src-{self.aliases[ref.name]}")
        if ref.version not in self.versions.get(ref.name, set()):
            raise ModelNotFound("no version")
        return Info(ref.version)

    def read(self, tracking_uri, tag, value, alias):
        if self.down:
            raise ml.RegistryUnreachable("MLflow unreachable")
        return [ml.RegistryModel(name, self.aliases.get(name)) for name in self.served]


@pytest.fixture
def world(monkeypatch):
    kube = FakeKube()
    registry = Registry()
    events = []
    monkeypatch.setattr(ml, "resolve", registry.resolve)
    monkeypatch.setattr(ml, "read_registry", registry.read)
    op = Operator(
        settings=OperatorSettings(serving_image="img:1", mlflow_tracking_uri="http://mlflow:5000"),
        kube=kube,
        metrics=Metrics(),
        poster=lambda body, type_, reason, message: events.append((body["metadata"]["name"], type_, reason, message)),
    )
    return op, kube, registry, events


def run(coro):
    return asyncio.run(coro)


def _make_available(kube, name):
    dep = kube.objects[("apps/v1/Deployment", NS, f"{name}-predictor")]
    replicas = dep["spec"]["replicas"]
    dep["status"] = {
        "observedGeneration": dep["metadata"]["generation"],
        "replicas": replicas,
        "updatedReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [{"type": "Available", "status": "True"}],
    }


def _status(kube, name="penguins"):
    return kube.objects[("modelship.io/v1alpha1/InferenceService", NS, name)].get("status", {})


def _cond(status, type_):
    return next(x for x in status["conditions"] if x["type"] == type_)


def test_first_rollout_then_available(world):
    op, kube, registry, events = world
    registry.aliases["penguins"] = "1"
    kube.put(isvc(namespace=NS))
    run(reconcile_isvc(op, NS, "penguins", trigger="create"))

    dep = kube.get(k.DEPLOYMENT, NS, "penguins-predictor")
    svc = kube.get(k.SERVICE, NS, "penguins-predictor")
    owner_uid = kube.get(k.ISVC, NS, "penguins")["metadata"]["uid"]
    assert dep["metadata"]["ownerReferences"][0]["uid"] == owner_uid
    assert svc["metadata"]["ownerReferences"][0]["controller"] is True
    assert dep["spec"]["template"]["spec"]["containers"][0]["args"][1] == "models:/penguins/1"
    status = _status(kube)
    assert status["modelVersion"] == "1"
    assert status["modelUri"] == "models:/src-1"
    assert status["url"] == "http://penguins-predictor.ml.svc:8080"
    assert _cond(status, "Ready")["status"] == "False"
    assert _cond(status, "Ready")["reason"] == "RolloutInProgress"
    assert _cond(status, "Resolved")["status"] == "True"
    assert [h["result"] for h in status["history"]] == ["Progressing"]
    assert [e[2] for e in events] == ["RolloutStarted"]

    _make_available(kube, "penguins")
    run(observe_child(op, NS, "penguins"))
    status = _status(kube)
    assert _cond(status, "Ready")["status"] == "True"
    assert status["history"][-1]["result"] == "Succeeded"
    assert [e[2] for e in events] == ["RolloutStarted", "RolloutSucceeded"]
    assert 'modelship_operator_rollouts_total{result="succeeded"} 1.0' in op.metrics.render().decode()


def test_no_diff_no_write_and_alias_move_rolls(world):
    op, kube, registry, events = world
    registry.aliases["penguins"] = "1"
    kube.put(isvc(namespace=NS))
    run(reconcile_isvc(op, NS, "penguins", trigger="create"))
    _make_available(kube, "penguins")
    run(observe_child(op, NS, "penguins"))
    kube.calls.clear()
    run(reconcile_isvc(op, NS, "penguins", trigger="resync"))
    assert not [x for x in kube.calls if x[0] in ("apply", "create")]  # nothing changed -> nothing written
    assert not [x for x in kube.calls if x[0].startswith("patch")]

    registry.aliases["penguins"] = "2"
    run(reconcile_isvc(op, NS, "penguins", trigger="update"))
    dep = kube.get(k.DEPLOYMENT, NS, "penguins-predictor")
    assert dep["spec"]["template"]["spec"]["containers"][0]["args"][1] == "models:/penguins/2"
    status = _status(kube)
    assert status["modelVersion"] == "2"
    assert _cond(status, "Ready")["status"] == "False"  # new generation not observed yet
    assert [(h["version"], h["result"]) for h in status["history"]] == [("1", "Replaced"), ("2", "Progressing")]
    assert "from version 1 to 2" in events[-1][3]
    # only the Deployment changed; the Service hash is the same
    assert ("apply", "Service", "penguins-predictor") not in kube.calls
    _make_available(kube, "penguins")
    run(observe_child(op, NS, "penguins"))
    assert [(h["version"], h["result"]) for h in _status(kube)["history"]] == [("1", "Replaced"), ("2", "Succeeded")]


def test_stale_child_event_is_ignored(world):
    op, kube, registry, _events = world
    registry.aliases["penguins"] = "1"
    kube.put(isvc(namespace=NS))
    run(reconcile_isvc(op, NS, "penguins", trigger="create"))
    _make_available(kube, "penguins")
    # the status says v2 but the Deployment is still v1 (an event from before the patch)
    kube.objects[("modelship.io/v1alpha1/InferenceService", NS, "penguins")]["status"]["modelVersion"] = "2"
    run(observe_child(op, NS, "penguins"))
    assert _cond(_status(kube), "Ready")["status"] == "False"


def test_invalid_spec_is_permanent_with_a_condition(world):
    op, kube, _registry, events = world
    kube.put(isvc(namespace=NS, resources={"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}))
    with pytest.raises(kopf.PermanentError, match="exceeds"):
        run(reconcile_isvc(op, NS, "penguins", trigger="create"))
    status = _status(kube)
    assert _cond(status, "Ready")["reason"] == "InvalidSpec"
    assert "exceeds" in _cond(status, "Ready")["message"]
    assert kube.get(k.DEPLOYMENT, NS, "penguins-predictor") is None
    assert events[-1][1:3] == ("Warning", "InvalidSpec")


def test_registry_down_is_temporary_and_keeps_serving(world):
    op, kube, registry, events = world
    registry.aliases["penguins"] = "1"
    kube.put(isvc(namespace=NS))
    run(reconcile_isvc(op, NS, "penguins", trigger="create"))
    _make_available(kube, "penguins")
    run(observe_child(op, NS, "penguins"))
    dep_before = kube.get(k.DEPLOYMENT, NS, "penguins-predictor")
    registry.down = True
    kube.calls.clear()
    with pytest.raises(kopf.TemporaryError) as info:
        run(reconcile_isvc(op, NS, "penguins", trigger="resync"))
    assert info.value.delay == op.settings.retry_seconds
    status = _status(kube)
    assert _cond(status, "Resolved")["reason"] == "RegistryUnreachable"
    assert "keeping version 1" in _cond(status, "Resolved")["message"]
    assert _cond(status, "Ready")["status"] == "True"  # still serving v1
    assert kube.get(k.DEPLOYMENT, NS, "penguins-predictor") == dep_before
    assert not [x for x in kube.calls if x[0] in ("apply", "delete")]
    # a second failure with the same message posts no second event
    n = len(events)
    with pytest.raises(kopf.TemporaryError):
        run(reconcile_isvc(op, NS, "penguins", trigger="resync"))
    assert len(events) == n


def test_missing_alias_and_missing_version(world):
    op, kube, _registry, _events = world
    kube.put(isvc(namespace=NS))
    with pytest.raises(kopf.TemporaryError):
        run(reconcile_isvc(op, NS, "penguins", trigger="create"))
    assert "has no alias 'champion'" in _cond(_status(kube), "Resolved")["message"]
    kube.put(isvc("pinned", namespace=NS, model={"name": "pinned", "version": "9"}))
    with pytest.raises(kopf.PermanentError, match="no version 9"):
        run(reconcile_isvc(op, NS, "pinned", trigger="create"))
    assert _cond(_status(kube, "pinned"), "Ready")["reason"] == "ModelNotFound"


def test_missing_model_registry_is_temporary(world):
    op, kube, registry, _events = world
    registry.aliases["penguins"] = "1"
    kube.put(isvc(namespace=NS, registry="nope"))
    with pytest.raises(kopf.TemporaryError, match="does not exist"):
        run(reconcile_isvc(op, NS, "penguins", trigger="create"))
    assert _cond(_status(kube), "Resolved")["reason"] == "RegistryNotFound"


def test_foreign_child_is_not_taken_over(world):
    op, kube, registry, _events = world
    registry.aliases["penguins"] = "1"
    kube.put(isvc(namespace=NS))
    kube.put(
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "penguins-predictor", "namespace": NS}}
    )
    with pytest.raises(kopf.TemporaryError, match="not owned"):
        run(reconcile_isvc(op, NS, "penguins", trigger="create"))
    assert _cond(_status(kube), "Ready")["reason"] == "ChildConflict"


def test_kserve_target(world):
    op, kube, registry, _events = world
    op.settings = OperatorSettings(target=Target.kserve, serving_image="img:1")
    registry.aliases["penguins"] = "3"
    kube.put(isvc(namespace=NS))
    run(reconcile_isvc(op, NS, "penguins", trigger="create"))
    assert kube.get(k.DEPLOYMENT, NS, "penguins-predictor") is None
    ks = kube.objects[("serving.kserve.io/v1beta1/InferenceService", NS, "penguins")]
    assert ks["spec"]["predictor"]["containers"][0]["args"][1] == "models:/penguins/3"
    ks["status"] = {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True"}],
                    "address": {"url": "http://penguins.ml.svc.cluster.local"}}  # fmt: skip
    run(observe_child(op, NS, "penguins"))
    status = _status(kube)
    assert _cond(status, "Ready")["status"] == "True"


# --- registry sync -------------------------------------------------------------------------------------


def _registry_obj(**spec):
    return {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "ModelRegistry",
        "metadata": {"name": "mlflow", "namespace": NS},
        "spec": {"trackingUri": "http://mlflow:5000", "alias": "champion", "pollSeconds": 30, **spec},
    }


def test_registry_sync_creates_pokes_and_reports(world):
    op, kube, registry, events = world
    reg = kube.put(_registry_obj())
    registry.served = ["penguins", "digits-fast"]
    registry.aliases = {"penguins": "1"}
    assert run(sync_registry(op, reg, trigger="poll"))
    created = kube.get(k.ISVC, NS, "penguins")
    assert created["metadata"]["ownerReferences"][0]["uid"] == reg["metadata"]["uid"]
    assert created["metadata"]["annotations"][c.ANN_RESOLVED_VERSION] == "1"
    assert created["spec"]["registry"] == "mlflow"
    status = kube.get(k.REGISTRY, NS, "mlflow")["status"]
    assert status["models"] == [
        {"name": "penguins", "inferenceService": "penguins", "version": "1"},
        {"name": "digits-fast", "inferenceService": "digits-fast"},
    ]
    assert status["modelCount"] == 2
    assert status["lastSync"]
    assert [e[2] for e in events] == ["InferenceServiceCreated", "InferenceServiceCreated"]

    kube.calls.clear()
    assert run(sync_registry(op, kube.get(k.REGISTRY, NS, "mlflow"), trigger="poll"))
    assert not [x for x in kube.calls if x[0] == "patch" and x[1] == "InferenceService"]  # no change, no poke
    registry.aliases["penguins"] = "2"
    run(sync_registry(op, kube.get(k.REGISTRY, NS, "mlflow"), trigger="webhook"))
    assert kube.get(k.ISVC, NS, "penguins")["metadata"]["annotations"][c.ANN_RESOLVED_VERSION] == "2"


def test_registry_down_changes_nothing(world):
    op, kube, registry, events = world
    reg = kube.put(_registry_obj(prune=True))
    registry.served = ["penguins"]
    registry.aliases = {"penguins": "1"}
    run(sync_registry(op, reg, trigger="poll"))
    registry.down = True
    kube.calls.clear()
    assert not run(sync_registry(op, kube.get(k.REGISTRY, NS, "mlflow"), trigger="poll"))
    assert kube.get(k.ISVC, NS, "penguins") is not None
    assert [x[0] for x in kube.calls if x[0] != "get"] == ["patch/status"]
    status = kube.get(k.REGISTRY, NS, "mlflow")["status"]
    synced = next(x for x in status["conditions"] if x["type"] == "Synced")
    assert synced["status"] == "False" and synced["reason"] == "RegistryUnreachable"
    assert status["models"] == [{"name": "penguins", "inferenceService": "penguins", "version": "1"}]  # kept
    assert events[-1][2] == "RegistryUnreachable"


def test_prune_deletes_only_owned_unselected(world):
    op, kube, registry, _events = world
    reg = kube.put(_registry_obj(prune=True))
    registry.served = ["penguins", "old"]
    registry.aliases = {"penguins": "1", "old": "1"}
    run(sync_registry(op, reg, trigger="poll"))
    kube.put(isvc("handmade", namespace=NS))  # not owned by the registry
    registry.served = ["penguins"]
    run(sync_registry(op, kube.get(k.REGISTRY, NS, "mlflow"), trigger="poll"))
    assert kube.get(k.ISVC, NS, "old") is None
    assert kube.get(k.ISVC, NS, "handmade") is not None
    assert kube.get(k.ISVC, NS, "penguins") is not None


def test_foreign_isvc_blocks_only_that_model(world):
    op, kube, registry, _events = world
    reg = kube.put(_registry_obj())
    kube.put(isvc("penguins", namespace=NS))
    registry.served = ["penguins", "digits-fast"]
    registry.aliases = {"penguins": "1", "digits-fast": "4"}
    run(sync_registry(op, reg, trigger="poll"))
    status = kube.get(k.REGISTRY, NS, "mlflow")["status"]
    assert [m["name"] for m in status["models"]] == ["digits-fast"]
    synced = next(x for x in status["conditions"] if x["type"] == "Synced")
    assert synced["reason"] == "Conflict" and "not owned by this ModelRegistry" in synced["message"]


def test_triggers():
    async def main():
        regs = Registries()
        t = regs.trigger_for("ml", "a")
        regs.trigger_for("other", "b")
        assert await t.wait(0.01) == "poll"
        assert regs.fire("webhook", "ml", None) == 1
        assert await t.wait(1) == "webhook"
        assert regs.fire("webhook") == 2
        regs.drop("ml", "a")
        assert regs.fire("webhook") == 1

    asyncio.run(main())
    assert Trigger().reason == "poll"


def test_webhook_fast_path_pokes_the_owned_isvc(world):
    from modelship_operator.registry_sync import poke_from_webhook
    from modelship_operator.webhook import Delivery

    op, kube, registry, _events = world
    reg = kube.put(_registry_obj())
    registry.served = ["penguins"]
    registry.aliases = {"penguins": "1"}
    run(sync_registry(op, reg, trigger="poll"))
    regs = Registries()
    regs.bodies[(NS, "mlflow")] = kube.get(k.REGISTRY, NS, "mlflow")

    def delivery(**data):
        return Delivery(event="model_version_alias.created", data=data, delivery_id="d")

    assert run(poke_from_webhook(op, regs, delivery(name="penguins", alias="challenger", version="2"))) == 0
    assert run(poke_from_webhook(op, regs, delivery(name="unknown", alias="champion", version="2"))) == 0
    assert run(poke_from_webhook(op, regs, delivery(name="penguins", alias="champion", version="2"))) == 1
    assert kube.get(k.ISVC, NS, "penguins")["metadata"]["annotations"][c.ANN_RESOLVED_VERSION] == "2"
    assert run(poke_from_webhook(op, regs, delivery(name="penguins", alias="champion", version="2"))) == 0
    other = Delivery(event="model_version.created", data={"name": "penguins"}, delivery_id="d")
    assert run(poke_from_webhook(op, regs, other)) == 0
