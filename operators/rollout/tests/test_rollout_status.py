"""The pure parts of Shadow/Canary in the operator: the candidate predictor on both targets, what each recorded
decision does (tags, aliases, Event, history), the status.rollout block, and the history bookkeeping."""

from __future__ import annotations

import datetime as dt

import jsonschema
import pytest

from modelship_common.rollout.analysis import Action
from modelship_common.rollout.controller import Outcome
from modelship_common.rollout.spec import parse_rollout_spec
from modelship_common.rollout.tables import DecisionRecord, RolloutRecord
from modelship_operator import constants as c
from modelship_operator import status as st
from modelship_operator.kserve import render_kserve
from modelship_operator.render import (
    PodConfig,
    Resolved,
    render_deployment,
    render_service,
    selector_labels,
)
from modelship_operator.rollout_loop import in_scope
from modelship_operator.rollout_status import decision_effects, outcome_effects, rollout_status
from modelship_operator.spec import parse_spec

from .helpers import CRD_DIR, closed, crd_schema

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
CANARY = parse_rollout_spec({"strategy": "Canary", "warmDuration": "5m"})
SPEC = parse_spec({"model": {"name": "penguins", "alias": "champion"}, "rollout": {"strategy": "Canary"}})
RESOLVED = Resolved(version="4", tracking_uri="http://mlflow:5000")


def _rollout(**kw) -> RolloutRecord:
    base = dict(
        id=7,
        model_name="penguins",
        champion_version="3",
        candidate_version="4",
        strategy="Canary",
        phase="Canary",
        step_index=1,
        candidate_weight=50,
        shadow_share=0.0,
        started_at=T0,
        step_started_at=T0 + dt.timedelta(minutes=1),
        finished_at=None,
        spec=CANARY.to_dict(),
    )
    return RolloutRecord(**(base | kw))


EVIDENCE = {
    "stats": {
        "window": {"start": "2026-11-29T12:01:00.123+00:00", "end": "2026-11-29T12:03:00+00:00"},
        "candidate": {"requests": 300, "error_rate": 0.1, "p95_latency_ms": 12.5, "mean_confidence": 0.6},
        "champion": {"requests": 600, "error_rate": 0.0, "p95_latency_ms": 10.0, "mean_confidence": 0.9},
        "paired": 270,
        "agreement": 0.4,
    },
    "verdict": {
        "status": "fail",
        "reason": "gate agreement failed",
        "gates": [
            {"name": "error_rate", "value": 0.1, "threshold": 0.02, "passed": False, "detail": "0.1 > 0.02"},
            {"name": "agreement", "value": 0.4, "threshold": 0.9, "passed": False, "detail": "0.4 < 0.9"},
            {"name": "latency_p95", "value": None, "threshold": 1.5, "passed": None, "detail": "10 of 100"},
        ],
    },
}


def _decision(action: str, **kw) -> DecisionRecord:
    base = dict(
        id=12,
        rollout_id=7,
        decided_at=T0 + dt.timedelta(minutes=3),
        action=action,
        phase={"step": "Canary", "promote": "Promoted", "rollback": "RolledBack", "abort": "Aborted"}[action],
        step_index=1,
        candidate_weight={"step": 50, "promote": 100}.get(action, 0),
        reason=f"step 2/3 at 50 %: {action} because",
        evidence=EVIDENCE,
    )
    return DecisionRecord(**(base | kw))


# --- the candidate predictor --------------------------------------------------------------------------------


def test_the_candidate_deployment_is_the_main_one_pinned_to_the_candidate_with_its_own_selector() -> None:
    main = render_deployment(
        "penguins", "ml", SPEC, Resolved(version="3", tracking_uri="http://mlflow:5000"), PodConfig()
    )
    cand = render_deployment("penguins", "ml", SPEC, RESOLVED, PodConfig(), candidate=True)
    assert cand["metadata"]["name"] == "penguins-candidate"
    assert cand["metadata"]["labels"][c.LABEL_ROLLOUT_ROLE] == "candidate"
    assert cand["metadata"]["labels"][c.LABEL_ISVC] == "penguins"  # the child watch maps it to its owner
    assert cand["metadata"]["labels"][c.LABEL_MODEL_VERSION] == "4"
    container = cand["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["--model-uri", "models:/penguins/4"]
    # The main Service selects name + instance: the candidate's pods must not match it.
    main_selector = main["spec"]["selector"]["matchLabels"]
    pod = cand["spec"]["template"]["metadata"]["labels"]
    assert not all(pod.get(key) == value for key, value in main_selector.items())
    assert cand["spec"]["selector"]["matchLabels"] == selector_labels("penguins", candidate=True)
    # Same model server otherwise: probes, security, ports.
    main_container = main["spec"]["template"]["spec"]["containers"][0]
    for key in ("readinessProbe", "livenessProbe", "securityContext", "ports"):
        assert container[key] == main_container[key]
    assert c.LABEL_ROLLOUT_ROLE not in main["metadata"]["labels"]


def test_the_candidate_service_and_a_replica_even_when_the_spec_scales_to_zero() -> None:
    svc = render_service("penguins", "ml", candidate=True)
    assert svc["metadata"]["name"] == "penguins-candidate"
    assert svc["spec"]["selector"] == selector_labels("penguins", candidate=True)
    zero = parse_spec({"model": {"name": "penguins", "alias": "champion"}, "replicas": 0})
    assert render_deployment("penguins", "ml", zero, RESOLVED, PodConfig(), candidate=True)["spec"]["replicas"] == 1
    assert render_deployment("penguins", "ml", zero, RESOLVED, PodConfig())["spec"]["replicas"] == 0


def test_the_candidate_on_kserve() -> None:
    cand = render_kserve("penguins", "ml", SPEC, RESOLVED, PodConfig(), candidate=True)
    assert cand["kind"] == "InferenceService" and cand["apiVersion"] == "serving.kserve.io/v1beta1"
    assert cand["metadata"]["name"] == "penguins-candidate"
    assert cand["metadata"]["labels"][c.LABEL_ROLLOUT_ROLE] == "candidate"
    assert cand["metadata"]["labels"][c.LABEL_INSTANCE] == "penguins-candidate"
    container = cand["spec"]["predictor"]["containers"][0]
    assert container["args"][1] == "models:/penguins/4"
    assert cand["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    main = render_kserve("penguins", "ml", SPEC, RESOLVED, PodConfig())
    assert main["metadata"]["name"] == "penguins" and c.LABEL_ROLLOUT_ROLE not in main["metadata"]["labels"]


# --- outcome -> effects -------------------------------------------------------------------------------------


def test_a_rollback_tags_drops_the_challenger_deletes_the_candidate_and_warns() -> None:
    effects = decision_effects(_rollout(phase="RolledBack", finished_at=T0), _decision("rollback"), alias="champion")
    assert effects.tags[c.TAG_ROLLOUT_DECISION] == "rollback"
    assert effects.tags[c.TAG_ROLLOUT_ID] == "7" and effects.tags[c.TAG_ROLLOUT_PHASE] == "RolledBack"
    assert effects.tags[c.TAG_ROLLOUT_REASON] == "step 2/3 at 50 %: rollback because"
    assert effects.drop_challenger and effects.delete_candidate and not effects.move_alias
    assert effects.warning and effects.event_reason == "RolloutRolledBack"
    assert "all traffic to version 3" in effects.event_message
    entry = effects.history_entry
    assert entry["action"] == "rollback" and entry["result"] == "RolledBack" and entry["version"] == "4"
    assert entry["championVersion"] == "3" and entry["rolloutId"] == 7 and entry["decisionId"] == 12
    assert entry["at"] == "2026-11-29T12:03:00Z"
    assert entry["evidence"] == {
        "windowStart": "2026-11-29T12:01:00Z",
        "windowEnd": "2026-11-29T12:03:00Z",
        "candidateRequests": 300,
        "championRequests": 600,
        "paired": 270,
        "agreement": 0.4,
        "errorRate": 0.1,
        "candidateP95Ms": 12.5,
        "championP95Ms": 10.0,
        "confidenceShift": pytest.approx(0.3),
        "verdict": "fail",
        "failedGates": ["error_rate", "agreement"],
    }


def test_a_promotion_moves_the_alias_and_keeps_the_candidate_for_the_warm_window() -> None:
    effects = decision_effects(_rollout(phase="Promoted", finished_at=T0), _decision("promote"), alias="champion")
    assert effects.move_alias and effects.drop_challenger and not effects.delete_candidate
    assert not effects.warning and effects.event_reason == "RolloutPromoted"
    assert "alias champion -> version 4" in effects.event_message


def test_a_step_only_tags_and_records() -> None:
    effects = decision_effects(_rollout(), _decision("step"), alias="champion")
    assert not (effects.move_alias or effects.drop_challenger or effects.delete_candidate)
    assert effects.event_reason == "RolloutStepped" and "step 2/3: 50 % of callers" in effects.event_message
    assert effects.history_entry["step"] == 2 and effects.history_entry["weight"] == 50
    shadow = parse_rollout_spec({"strategy": "Shadow", "shadow": {"share": 0.25}})
    rollout = _rollout(strategy="Shadow", phase="Shadowing", step_index=0, shadow_share=0.25, spec=shadow.to_dict())
    message = decision_effects(rollout, _decision("step", phase="Shadowing", step_index=0), alias="champion")
    assert "shadowing 25 % of requests" in message.event_message


def test_an_abort_deletes_the_candidate_but_leaves_the_aliases() -> None:
    effects = decision_effects(_rollout(phase="Aborted"), _decision("abort"), alias="champion")
    assert effects.delete_candidate and not (effects.move_alias or effects.drop_challenger)


def test_a_hold_or_a_conflict_does_nothing() -> None:
    hold = Outcome(_rollout(), Action("hold", "waiting for samples"), None)
    assert outcome_effects(hold, alias="champion") is None
    decided = Outcome(_rollout(phase="RolledBack"), Action("rollback", "x"), None, decision=_decision("rollback"))
    effects = outcome_effects(decided, alias="champion")
    assert effects is not None and effects.delete_candidate


def test_long_reasons_are_cut_for_tags_events_and_history() -> None:
    effects = decision_effects(_rollout(), _decision("step", reason="x" * 20_000), alias="champion")
    assert len(effects.tags[c.TAG_ROLLOUT_REASON]) <= 4000 and len(effects.event_message) <= 1000
    assert len(effects.history_entry["reason"]) <= 1500


# --- status.rollout and history, checked against the CRD ----------------------------------------------------


def _status_schema() -> dict:
    return closed(crd_schema(CRD_DIR / "inferenceservices.modelship.io.yaml", "v1alpha1"))["properties"]["status"]


def test_rollout_status_and_decision_history_fit_the_crd() -> None:
    rollout = _rollout(phase="Promoted", candidate_weight=100, finished_at=T0 + dt.timedelta(minutes=3))
    block = rollout_status(
        rollout,
        candidate={"name": "penguins-candidate", "url": "http://penguins-candidate.ml.svc:8080", "ready": True},
        gates=EVIDENCE["verdict"]["gates"],
        verdict="pass",
        reason="promoted",
        applied_decision=12,
    )
    assert block["phase"] == "Promoted" and block["weight"] == 100 and block["handedOver"] is False
    assert block["warmUntil"] == "2026-11-29T12:08:00Z" and "step" not in block
    assert block["gates"][2] == {"name": "latency_p95", "threshold": 1.5, "detail": "10 of 100"}
    history = st.append_decision([], decision_effects(rollout, _decision("promote"), alias="c").history_entry, limit=5)
    status = {"modelVersion": "3", "rollout": block, "history": history}
    jsonschema.validate(status, _status_schema())
    canary = rollout_status(_rollout())
    assert canary["step"] == 2 and canary["steps"] == 3 and "handedOver" not in canary
    jsonschema.validate({"rollout": canary}, _status_schema())


def test_decision_entries_never_push_out_the_version_rollout_nor_repeat() -> None:
    history = st.start_rollout([], "3", now="2026-11-29T12:00:00Z", limit=3)
    history, _ = st.finish_rollout(history, "3", st.SUCCEEDED, now="2026-11-29T12:00:05Z")
    for i in range(5):
        entry = decision_effects(_rollout(), _decision("step", id=100 + i), alias="c").history_entry
        history = st.append_decision(history, entry, limit=3)
        history = st.append_decision(history, entry, limit=3)  # applied twice: recorded once
    assert len(history) == 3
    assert history[0] == {
        "version": "3",
        "at": "2026-11-29T12:00:00Z",
        "result": "Succeeded",
        "finishedAt": "2026-11-29T12:00:05Z",
    }
    assert [h["decisionId"] for h in history[1:]] == [103, 104]
    assert st.last_rollout_entry(history) is history[0]
    # The reconciler's next version rollout replaces the entry of version 3, not the decisions.
    after = st.start_rollout(history, "4", now="2026-11-29T12:10:00Z", limit=3)
    assert after[-1]["result"] == "Progressing" and after[-1]["version"] == "4"
    assert st.finish_rollout(after, "4", st.SUCCEEDED, now="2026-11-29T12:10:05Z")[1]


def test_the_rollout_loop_runs_for_shadow_canary_and_for_leftovers() -> None:
    assert in_scope({"rollout": {"strategy": "Canary"}}, {})
    assert in_scope({"rollout": {"strategy": "Shadow"}}, None)
    assert not in_scope({"rollout": {"strategy": "Rolling"}}, {})
    assert not in_scope({}, {"rollout": {"phase": "RolledBack"}})
    assert in_scope({}, {"rollout": {"phase": "Canary"}})
    assert in_scope({}, {"rollout": {"phase": "Promoted", "candidate": {"name": "x-candidate"}}})
