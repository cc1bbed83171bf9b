"""Shadow/Canary rollouts driven by the operator's rollout loop, called directly (as test_reconcile_bookkeeping_on_kwok
does with the reconciler), against the REAL API server (kwok marks the predictor pods Ready), a REAL MLflow and a REAL
PostgreSQL. Predictions are fed into the table directly (insert_predictions), as the gateway would store them.

- a bad candidate is rolled back: tags on its version, challenger removed, Event, status.history, candidate deleted;
- a good one walks its canary steps and is promoted: champion alias moves, the main predictor keeps the old champion
  through the warm window, then rolls, and the candidate goes;
- a decision recorded by a pass that died before applying it is applied by a fresh operator (restart), which also
  goes on from the step the table holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from prometheus_client.parser import text_string_to_metric_families

from devtools.control_plane import wait_for
from modelship_common import db
from modelship_common.rollout.controller import tick
from modelship_common.rollout.tables import active_rollout, list_decisions
from modelship_operator import constants as c
from modelship_operator import kube as k
from modelship_operator.metrics import Metrics
from modelship_operator.reconcile import Operator, observe_child, reconcile_isvc
from modelship_operator.rollout_loop import progress_rollout
from services.common.tests.rollout_helpers import feed

from . import test_reconcile_bookkeeping_on_kwok as bookkeeping
from .test_reconcile_bookkeeping_on_kwok import World, _settings, _uid, run

pytestmark = pytest.mark.integration


#: The reconciler tests' world (real API server as the operator's ServiceAccount, MLflow, an Operator), shared.
world = bookkeeping.world


@pytest.fixture(autouse=True)
def _close_engines(world: World) -> Iterator[None]:
    yield
    world.op.rollouts.close()


def _canary(warm: str = "3s") -> dict[str, Any]:
    return {
        "strategy": "Canary",
        "canary": {"minRequests": 20, "minDuration": "0s", "steps": [{"weight": 50}, {"weight": 100}]},
        "analysis": {"minSamples": 20},
        "warmDuration": warm,
    }


def _use_db(world: World, url: str) -> None:
    world.op.settings = _settings(world.mlflow, database_url=url)


def _fresh_operator(world: World, url: str) -> Operator:
    """What a restarted operator has: nothing in memory but its settings and clients."""
    events = world.events
    return Operator(
        settings=_settings(world.mlflow, database_url=url),
        kube=world.kube,
        metrics=Metrics(),
        poster=lambda body, type_, reason, message: events.append((body["metadata"]["name"], type_, reason, message)),
    )


def _serving(world: World, name: str, rollout: dict[str, Any]) -> World:
    """A Canary InferenceService whose main predictor serves version 1 and is Ready."""
    world.add_version(name)
    world.isvc(name, rollout=rollout)
    run(reconcile_isvc(world.op, world.ns, name, trigger="create"))
    world.wait_available(name, "1")
    run(observe_child(world.op, world.ns, name))
    return world


def _candidate_ready(world: World, name: str) -> None:
    wait_for(
        lambda: (
            (dep := world.get(k.DEPLOYMENT, f"{name}-candidate")) and dep.get("status", {}).get("availableReplicas")
        ),
        timeout=60,
        what=f"Deployment {name}-candidate to be available",
    )


def _mlflow_version(world: World, name: str, version: str) -> Any:
    return world.mlflow.client().get_model_version(name, version)


def _alias(world: World, name: str, alias: str) -> str | None:
    aliases = world.mlflow.client().get_registered_model(name).aliases
    return aliases.get(alias) if isinstance(aliases, dict) else None


def _decisions(op: Operator, action: str, trigger: str = "automatic") -> float:
    """``modelship_operator_rollout_decisions_total`` of a Canary ``action``, as the operator's /metrics shows it."""
    labels = {"strategy": "Canary", "action": action, "trigger": trigger}
    for family in text_string_to_metric_families(op.metrics.render().decode()):
        for sample in family.samples:
            if sample.name == "modelship_operator_rollout_decisions_total" and sample.labels == labels:
                return sample.value
    raise AssertionError(f"no modelship_operator_rollout_decisions_total{labels} exported")


def _weight(op: Operator, namespace: str, name: str) -> float | None:
    """The candidate weight gauge of InferenceService ``namespace/name`` (None: no such series)."""
    labels = {"namespace": namespace, "inferenceservice": name}
    for family in text_string_to_metric_families(op.metrics.render().decode()):
        for sample in family.samples:
            if sample.name == "modelship_operator_rollout_candidate_weight_ratio" and sample.labels == labels:
                return sample.value
    return None


def _gone(world: World, kind: k.Kind, name: str) -> bool:
    obj = world.get(kind, name)
    return obj is None or bool(obj["metadata"].get("deletionTimestamp"))


def test_a_bad_candidate_is_rolled_back_with_tags_event_and_history(world: World, pg_database: str, spans: Any) -> None:
    _use_db(world, pg_database)
    name = f"penguins-{_uid()}"
    _serving(world, name, _canary())
    world.add_version(name, alias="challenger")  # version 2

    first = run(progress_rollout(world.op, world.ns, name))
    assert first.started and first.rollout.phase == "Pending" and first.rollout.candidate_version == "2"
    cand = world.get(k.DEPLOYMENT, f"{name}-candidate")
    isvc = world.get(k.ISVC, name)
    assert cand["metadata"]["ownerReferences"][0]["uid"] == isvc["metadata"]["uid"]  # deletion cascades
    assert cand["metadata"]["labels"][c.LABEL_ROLLOUT_ROLE] == "candidate"
    assert cand["spec"]["template"]["spec"]["containers"][0]["args"][1] == f"models:/{name}/2"
    assert world.get(k.SERVICE, f"{name}-candidate") is not None
    block = world.status(name)["rollout"]
    assert block["phase"] == "Pending" and block["candidate"]["url"] == f"http://{name}-candidate.{world.ns}.svc:8080"

    _candidate_ready(world, name)
    stepped = run(progress_rollout(world.op, world.ns, name))
    assert stepped.rollout.phase == "Canary" and stepped.rollout.candidate_weight == 50
    assert world.status(name)["rollout"]["candidate"]["ready"] is True
    assert _weight(world.op, world.ns, name) == 0.5
    rollbacks = _decisions(world.op, "rollback")

    engine = world.op.rollouts.engine_
    feed(engine, stepped.rollout, 40, bad=True)
    done = run(progress_rollout(world.op, world.ns, name))
    assert done.rollout.phase == "RolledBack" and [d.action for d in done.applied] == ["rollback"]
    assert _decisions(world.op, "rollback") == rollbacks + 1
    assert _weight(world.op, world.ns, name) is None  # the rollout is over: its series goes
    # Traced (the `spans` fixture turns tracing on): the pass that applied the rollback, its MLflow calls inside it.
    finished = spans.get_finished_spans()
    passes = [s for s in finished if s.name == "rollout pass"]
    assert len(passes) == 3 and all(s.attributes["modelship.inferenceservice"] == name for s in passes)
    rolled = passes[-1]
    assert rolled.attributes["modelship.rollout.decisions_applied"] == ("rollback",)
    assert rolled.attributes["modelship.rollout.phase"] == "RolledBack"
    assert rolled.attributes["k8s.namespace.name"] == world.ns
    inside = {s.name for s in finished if s.parent is not None and s.parent.span_id == rolled.context.span_id}
    assert {"mlflow tag_version", "mlflow drop_alias"} <= inside, inside
    # ... and its Kubernetes API calls: CLIENT spans named by verb and resource, never by object.
    kube_calls = [s for s in finished if s.name.startswith("kube ") and s.parent is not None]
    kube_inside = [s for s in kube_calls if s.parent.span_id == rolled.context.span_id]
    assert kube_inside, inside
    for call in kube_inside:
        assert call.kind is trace.SpanKind.CLIENT and name not in call.name, call.name
        assert call.attributes["k8s.namespace.name"] == world.ns
        assert call.attributes["http.request.method"] == call.name.split()[1]
        assert call.attributes["server.address"] == "127.0.0.1" and call.attributes["server.port"] > 0
    reconciled = [s for s in finished if s.name == "reconcile InferenceService"]
    assert reconciled and all(s.attributes["modelship.inferenceservice"] == name for s in reconciled)

    status = world.status(name)
    assert status["rollout"]["phase"] == "RolledBack" and "candidate" not in status["rollout"]
    entry = status["history"][-1]
    assert entry["action"] == "rollback" and entry["version"] == "2" and entry["championVersion"] == "1"
    assert "gate error_rate failed" in entry["reason"] and "error_rate" in entry["evidence"]["failedGates"]
    assert [h["action"] for h in status["history"] if "action" in h] == ["step", "rollback"]
    tags = _mlflow_version(world, name, "2").tags
    assert tags[c.TAG_ROLLOUT_DECISION] == "rollback" and tags[c.TAG_ROLLOUT_ID] == str(done.rollout.id)
    assert "gate error_rate failed" in tags[c.TAG_ROLLOUT_REASON]
    assert _alias(world, name, "challenger") is None and _alias(world, name, "champion") == "1"
    reasons = [e[2] for e in world.events if e[0] == name]
    assert reasons[-3:] == ["CanaryStarted", "RolloutStepped", "RolloutRolledBack"]
    assert _gone(world, k.DEPLOYMENT, f"{name}-candidate") and _gone(world, k.SERVICE, f"{name}-candidate")
    main = world.get(k.DEPLOYMENT, f"{name}-predictor")
    assert main["spec"]["template"]["spec"]["containers"][0]["args"][1] == f"models:/{name}/1"
    # Nothing more happens: no challenger, no new rollout.
    again = run(progress_rollout(world.op, world.ns, name))
    assert not again.started and again.applied == []
    assert _decisions(world.op, "rollback") == rollbacks + 1  # counted once, when applied


def test_a_good_candidate_is_promoted_through_the_steps_and_an_operator_restart_resumes(
    world: World, pg_database: str
) -> None:
    _use_db(world, pg_database)
    name = f"penguins-{_uid()}"
    _serving(world, name, _canary(warm="15s"))
    world.add_version(name, alias="challenger")
    run(progress_rollout(world.op, world.ns, name))
    _candidate_ready(world, name)
    stepped = run(progress_rollout(world.op, world.ns, name))
    assert stepped.rollout.candidate_weight == 50

    # The operator restarts mid-analysis: a fresh one (empty memory, new engine) goes on from the table.
    engine = world.op.rollouts.engine_
    world.op.rollouts.close()
    world.op = _fresh_operator(world, pg_database)
    fresh_engine = db.make_engine(pg_database)
    try:
        feed(fresh_engine, stepped.rollout, 30, bad=False)
        second = run(progress_rollout(world.op, world.ns, name))
        assert second.rollout.phase == "Canary" and second.rollout.candidate_weight == 100, second
        feed(fresh_engine, second.rollout, 30, bad=False)
        promoted = run(progress_rollout(world.op, world.ns, name))
    finally:
        fresh_engine.dispose()
    assert promoted.rollout.phase == "Promoted", promoted
    # The restarted operator applied the second step and the promotion (its counters started at 0).
    assert _decisions(world.op, "step") == 1 and _decisions(world.op, "promote") == 1
    assert _weight(world.op, world.ns, name) == 1.0  # the candidate answers everything in the warm window
    assert [d.action for d in list_decisions(world.op.rollouts.engine_, promoted.rollout.id)] == [
        "step",
        "step",
        "promote",
    ]
    assert _alias(world, name, "champion") == "2" and _alias(world, name, "challenger") is None
    assert _mlflow_version(world, name, "2").tags[c.TAG_ROLLOUT_DECISION] == "promote"
    block = world.status(name)["rollout"]
    assert block["phase"] == "Promoted" and block["handedOver"] is False and block["candidate"]["version"] == "2"

    # Warm window: the alias says 2, but the main predictor keeps 1 (a rollback would be instant).
    run(reconcile_isvc(world.op, world.ns, name, trigger="update"))
    main = world.get(k.DEPLOYMENT, f"{name}-predictor")
    assert main["spec"]["template"]["spec"]["containers"][0]["args"][1] == f"models:/{name}/1"
    assert world.get(k.DEPLOYMENT, f"{name}-candidate") is not None

    # After it, the main predictor rolls to 2; once that is ready the candidate goes.
    wait_for(
        lambda: run(progress_rollout(world.op, world.ns, name)).reconcile, timeout=60, what="the warm window to end"
    )
    main = world.get(k.DEPLOYMENT, f"{name}-predictor")
    assert main["spec"]["template"]["spec"]["containers"][0]["args"][1] == f"models:/{name}/2"
    world.wait_available(name, "2")
    run(observe_child(world.op, world.ns, name))
    run(progress_rollout(world.op, world.ns, name))
    block = world.status(name)["rollout"]
    assert block["handedOver"] is True and "candidate" not in block
    assert _gone(world, k.DEPLOYMENT, f"{name}-candidate")
    assert _weight(world.op, world.ns, name) is None and _decisions(world.op, "promote") == 1
    actions = [h["action"] for h in world.status(name)["history"] if "action" in h]
    assert actions == ["step", "step", "promote"]
    assert "RolloutHandedOver" in [e[2] for e in world.events if e[0] == name]
    engine.dispose()


def test_a_decision_recorded_before_a_crash_is_applied_after_the_restart(world: World, pg_database: str) -> None:
    _use_db(world, pg_database)
    name = f"penguins-{_uid()}"
    _serving(world, name, _canary())
    world.add_version(name, alias="challenger")
    run(progress_rollout(world.op, world.ns, name))
    _candidate_ready(world, name)
    stepped = run(progress_rollout(world.op, world.ns, name))
    engine = world.op.rollouts.engine_
    feed(engine, stepped.rollout, 40, bad=True)

    # The pass that died: the analysis recorded the rollback (one transaction), nothing else happened.
    (outcome,) = tick(engine, models=(name,))
    assert outcome.action.kind == "rollback" and active_rollout(engine, name) is None
    assert world.status(name)["rollout"]["phase"] == "Canary"
    assert _alias(world, name, "challenger") == "2"
    world.op.rollouts.close()

    world.op = _fresh_operator(world, pg_database)
    after = run(progress_rollout(world.op, world.ns, name))
    assert [d.action for d in after.applied] == ["rollback"] and not after.started
    assert _decisions(world.op, "rollback") == 1  # the decision recorded before the crash, counted when applied
    status = world.status(name)
    assert status["rollout"]["phase"] == "RolledBack"
    assert status["rollout"]["appliedDecision"] == outcome.decision.id
    assert status["history"][-1]["action"] == "rollback"
    assert _alias(world, name, "challenger") is None
    assert _mlflow_version(world, name, "2").tags[c.TAG_ROLLOUT_DECISION] == "rollback"
    assert "RolloutRolledBack" in [e[2] for e in world.events if e[0] == name]
    assert _gone(world, k.DEPLOYMENT, f"{name}-candidate")
    world.op.rollouts.close()
