"""Shadow and Canary rollouts of one InferenceService: one pass of its rollout loop (the kopf daemon in handlers.py).

For an InferenceService with ``spec.rollout.strategy`` Shadow or Canary following an alias (``champion``), a pass

1. reads the model's newest rollout from the rollouts tables (the state; nothing else is needed to go on after a
   restart) and the model's ``challenger`` alias from MLflow (cached, re-read at once after a webhook);
2. starts a rollout (Pending) when ``challenger`` points at a version other than the one the main predictor serves,
   and renders its candidate predictor ``<name>-candidate`` (same renderers as the main one, adopted by the
   InferenceService); aborts it when the challenger moves away or the strategy goes back to Rolling;
3. runs the analysis (:func:`modelship_common.rollout.controller.tick`, in a thread) with the candidate's model
   as ``pending_ready`` once its predictor is ready, and applies every decision not applied yet
   (:func:`modelship_operator.rollout_status.decision_effects`): MLflow tags and aliases, an Event,
   ``status.history``; ``status.rollout.appliedDecision`` records how far it got, so a decision recorded just
   before a crash is applied after the restart;
4. after a promotion keeps the candidate serving until the warm window ends (the reconciler holds the main predictor
   on the old champion meanwhile), then rolls the main predictor to the new champion and, once that is ready,
   deletes the candidate; after a rollback or an abort deletes the candidate at once.

A manual promote or rollback (annotations ``modelship.io/rollout-action``..., written by ``modelship promote`` /
``rollback``) is recorded as a decision before step 3 and applied by the same code as the automatic ones
(:mod:`modelship_operator.rollout_manual`); the ``RolloutAction`` condition marks it handled.

The gateway reads the routing (weight, shadow share) from the rollouts table and the candidate's address from
``status.rollout.candidate.url``.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import kopf

from modelship_common import tracing
from modelship_common.db import utcnow
from modelship_common.registry import CHALLENGER, CHAMPION
from modelship_common.rollout.controller import Outcome, tick
from modelship_common.rollout.tables import (
    DecisionRecord,
    RolloutConflict,
    RolloutExists,
    RolloutRecord,
    list_decisions,
    record_decision,
    rollout_history,
    set_candidate_url,
    start_rollout,
)
from modelship_operator import constants as c
from modelship_operator import kube as k
from modelship_operator import mlflow_access as ml
from modelship_operator import rollout_status as rs
from modelship_operator import status as st
from modelship_operator.metrics import RolloutGauge
from modelship_operator.reconcile import (
    Operator,
    _Conflict,
    apply_children,
    candidate_kinds,
    candidate_url,
    desired_children,
    reconcile_isvc,
    tracking_uri_for,
    write_status,
)
from modelship_operator.render import Resolved, candidate_name, deployment_version, is_owned_by
from modelship_operator.rollout_manual import Handled, handle_request, pending_request
from modelship_operator.rollout_state import describe
from modelship_operator.spec import InvalidSpec, ServiceSpec, parse_spec

log = logging.getLogger(__name__)

#: The challenger could not be read (MLflow down): start nothing, abort nothing.
UNKNOWN = object()


def in_scope(spec: Any, status: Any) -> bool:
    """Whether an InferenceService needs its rollout loop: a Shadow/Canary spec, or a rollout still on its status
    (a candidate to delete after the strategy went back to Rolling)."""
    strategy = ((spec or {}).get("rollout") or {}).get("strategy")
    if strategy in ("Shadow", "Canary"):
        return True
    block = (status or {}).get("rollout") or {}
    return bool(block.get("candidate")) or block.get("phase") in ("Pending", "Shadowing", "Canary")


@dataclass
class Pass:
    """What one pass found and changed (returned for tests and logs)."""

    rollout: RolloutRecord | None = None
    outcome: Outcome | None = None
    applied: list[DecisionRecord] | None = None
    started: bool = False
    reconcile: bool = False
    #: A manual promote/rollback request handled (or retried) in this pass.
    manual: Handled | None = None


async def progress_rollout(op: Operator, namespace: str, name: str) -> Pass:
    """One pass of the rollout loop of InferenceService ``namespace/name`` (see the module docstring); with tracing
    on, inside a span ``rollout pass`` saying which rollout it was and which decisions it applied."""
    attributes = {"k8s.namespace.name": namespace, "modelship.inferenceservice": name}
    with tracing.span("rollout pass", attributes=attributes) as span:
        result = await _progress(op, namespace, name)
        if span is not None and result.rollout is not None:
            span.set_attributes(
                {
                    "modelship.rollout.id": result.rollout.id,
                    "modelship.rollout.strategy": result.rollout.strategy,
                    "modelship.rollout.phase": result.rollout.phase,
                    "modelship.rollout.decisions_applied": [d.action for d in result.applied or []],
                }
            )
        return result


async def _progress(op: Operator, namespace: str, name: str) -> Pass:
    async with op.lock(namespace, name):
        isvc = await op.call(op.kube.get, k.ISVC, namespace, name)
        if isvc is None or isvc["metadata"].get("deletionTimestamp"):
            op.rollouts.unregister(namespace, name)
            op.metrics.rollout_over(namespace, name)
            return Pass()
        result = await _progress_locked(op, isvc)
    if result.reconcile:  # after the lock: the reconciler takes it itself
        try:
            await reconcile_isvc(op, namespace, name, trigger="rollout")
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            log.info("reconcile of %s/%s after the warm window: %s", namespace, name, exc)
    return result


async def _progress_locked(op: Operator, isvc: dict[str, Any]) -> Pass:
    meta = isvc["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    status = isvc.get("status") or {}
    block = copy.deepcopy(status.get("rollout") or {})
    try:
        spec: ServiceSpec | None = parse_spec(isvc.get("spec"))
    except InvalidSpec:
        spec = None  # the reconciler reports it
    model = (spec.model.name if spec else ((isvc.get("spec") or {}).get("model") or {}).get("name")) or ""
    analysed = spec is not None and spec.rollout.analysed and spec.model.alias is not None
    alias = (spec.model.alias if spec else None) or CHAMPION
    op.rollouts.register(namespace, name, model)
    engine = await op.rollouts.engine(op.settings.database_url, op.settings.database_wait_s)
    newest = await op.call(rollout_history, engine, model, 1)
    rollout: RolloutRecord | None = newest[0] if newest else None
    result = Pass(rollout=rollout)

    tracking_uri = op.settings.mlflow_tracking_uri
    if spec is not None:
        try:
            tracking_uri = await tracking_uri_for(op, isvc, spec)
        except kopf.TemporaryError:
            return result  # a missing ModelRegistry; the reconciler reports it
    served = status.get("modelVersion")
    challenger = await _challenger(op, tracking_uri, model) if analysed else None

    # -- an active rollout that must stop ------------------------------------------------------------------
    if rollout is not None and rollout.active:
        why = None
        if not analysed:
            why = f"spec.rollout.strategy is {spec.strategy if spec else 'invalid'} now"
        elif challenger is not UNKNOWN and challenger != rollout.candidate_version:
            why = rs.challenger_gone(challenger)
        elif served and served != rollout.champion_version:
            why = f"the main predictor serves version {served} now, not the champion {rollout.champion_version}"
        if why is not None:
            try:
                rollout, _ = await op.call(record_decision, engine, rollout, "abort", reason=f"aborted: {why}")
            except RolloutConflict as exc:
                log.info("rollout %s: %s", rollout.id, exc)
                return result
            result.rollout = rollout

    # -- no rollout going on: start one for a new challenger -----------------------------------------------
    if (
        analysed
        and spec is not None
        and served
        and isinstance(challenger, str)
        and challenger != served
        and (rollout is None or (not rollout.active and _settled(block, rollout)))
        and _main_ready(status, served)
    ):
        try:
            rollout = await op.call(
                start_rollout,
                engine,
                model_name=model,
                champion_version=served,
                candidate_version=challenger,
                spec=spec.rollout,
                pending=True,
            )
        except RolloutExists:
            return result
        result.rollout, result.started = rollout, True
        block = {"id": rollout.id, "appliedDecision": 0}
        op.event(
            isvc,
            f"{rollout.strategy}Started",
            f"{model}: {rollout.strategy} rollout {rollout.id} of version {challenger} ({CHALLENGER}) against "
            f"{served} ({alias}); starting the candidate predictor {candidate_name(name)}",
        )

    # -- a manual promote or rollback asked for in the annotations (modelship promote/rollback) -----------------
    conditions = None
    request = pending_request(isvc)
    if request is not None:
        result.manual = await handle_request(
            op,
            isvc,
            engine,
            request,
            rollout=rollout,
            model=model,
            alias=alias,
            tracking_uri=tracking_uri,
            challenger=challenger,
        )
        rollout, conditions = result.manual.rollout, result.manual.conditions
        result.rollout = rollout
        result.reconcile = result.manual.alias_moved

    if rollout is None or (not rollout.active and block.get("id") != rollout.id):
        op.metrics.rollout_over(namespace, name)
        if conditions is not None:
            await write_status(op, isvc, {"conditions": conditions})
        return result  # no rollout, or a finished one this InferenceService did not run
    if block.get("id") != rollout.id:
        block = {"id": rollout.id, "appliedDecision": 0}

    # -- the candidate predictor and the analysis ------------------------------------------------------------
    candidate: dict[str, Any] | None = block.get("candidate")
    gates, verdict, reason = block.get("gates"), block.get("verdict"), block.get("reason")
    if rollout.active and spec is not None:
        candidate = await _ensure_candidate(op, isvc, spec, rollout, tracking_uri)
        ready = frozenset({model}) if candidate and candidate["ready"] else frozenset()
        url = candidate["url"] if candidate and candidate["ready"] and candidate.get("url") else None
        if url != rollout.candidate_url:  # the gateway routes the candidate's share to this URL
            await op.call(set_candidate_url, engine, rollout.id, url)
        outcomes = await op.call(tick, engine, utcnow(), pending_ready=ready, models=(model,))
        for outcome in outcomes:
            result.outcome = outcome
            rollout = outcome.rollout
            reason = outcome.action.reason
            if outcome.verdict is not None:
                gates = outcome.verdict.to_dict()["gates"]
                verdict = outcome.verdict.status
    result.rollout = rollout

    # -- decisions not applied yet (also those recorded before a restart) ------------------------------------
    history = copy.deepcopy(status.get("history") or [])
    applied = int(block.get("appliedDecision") or 0)
    result.applied = []
    decisions = await op.call(list_decisions, engine, rollout.id)
    for decision in decisions:
        if decision.id <= applied:
            continue
        effects = rs.decision_effects(rollout, decision, alias=alias)
        try:
            await _apply_mlflow(op, tracking_uri, rollout, effects, alias)
        except ml.RegistryUnreachable as exc:
            log.warning("rollout %s: MLflow effects of decision %s wait: %s", rollout.id, decision.id, exc)
            break
        op.event(isvc, effects.event_reason, effects.event_message, warning=effects.warning)
        history = st.append_decision(history, effects.history_entry, limit=op.settings.history_limit)
        applied = decision.id
        reason = decision.reason
        result.applied.append(decision)
        op.metrics.decision_applied(rollout.strategy, decision.action, manual=is_manual(decision))

    # -- a finished rollout: when the candidate goes ---------------------------------------------------------
    handed_over = bool(block.get("handedOver"))
    all_applied = applied >= max((d.id for d in decisions), default=0)
    if not rollout.active and all_applied:
        if rollout.phase == "Promoted" and not handed_over:
            now = utcnow()
            current = await _alias_now(op, tracking_uri, model, alias)
            if current is not UNKNOWN and current != rollout.candidate_version:
                await _delete_candidate(op, isvc)  # a person moved the alias back: the main predictor serves it
                await op.call(set_candidate_url, engine, rollout.id, None)
                candidate, handed_over = None, True
                reason = f"alias {alias} points at {current} again; candidate predictor deleted"
            elif rollout.warm_until is not None and now >= rollout.warm_until:
                if served == rollout.candidate_version and _main_ready(status, served):
                    await _delete_candidate(op, isvc)
                    await op.call(set_candidate_url, engine, rollout.id, None)
                    candidate, handed_over = None, True
                    reason = f"the main predictor serves version {served}; candidate predictor deleted"
                    op.event(isvc, "RolloutHandedOver", f"{model} {served}: {reason}")
                else:
                    result.reconcile = served != rollout.candidate_version
                    reason = f"warm window over: rolling the main predictor to version {rollout.candidate_version}"
        elif rollout.phase in ("RolledBack", "Aborted") and candidate is not None:
            await _delete_candidate(op, isvc)
            await op.call(set_candidate_url, engine, rollout.id, None)
            candidate = None
        elif rollout.phase in ("RolledBack", "Aborted"):
            candidate = None

    _export_gauges(op, namespace, name, rollout, serving_candidate=candidate is not None and not handed_over)
    new_block = rs.rollout_status(
        rollout,
        candidate=candidate,
        gates=gates,
        verdict=verdict,
        reason=reason,
        applied_decision=applied,
        handed_over=handed_over,
    )
    # A merge patch merges nested objects: a key the block no longer has (the deleted candidate...) is sent as null.
    dropped = {key: None for key in status.get("rollout") or {} if key not in new_block}
    new_status: dict[str, Any] = {"rollout": {**new_block, **dropped}, "history": history}
    if conditions is not None:
        new_status["conditions"] = conditions
    await write_status(op, isvc, new_status)
    return result


def is_manual(decision: DecisionRecord) -> bool:
    """Whether a person asked for ``decision`` (``modelship promote/rollback``), not the analysis or the loop."""
    return decision.evidence.get("trigger") == "manual" or decision.reason.startswith("manual:")


def _export_gauges(op: Operator, namespace: str, name: str, rollout: RolloutRecord, *, serving_candidate: bool) -> None:
    """The rollout gauges while the candidate gets traffic (an active rollout, or a promoted one in its warm window
    until the main predictor takes over); removed after."""
    if rollout.active or (rollout.phase == "Promoted" and serving_candidate):
        gauge = RolloutGauge(
            strategy=rollout.strategy,
            phase=rollout.phase,
            weight=rollout.candidate_weight / 100.0,
            shadow=float(rollout.shadow_share),
        )
        op.metrics.rollout_running(namespace, name, gauge)
    else:
        op.metrics.rollout_over(namespace, name)


def _settled(block: dict[str, Any], rollout: RolloutRecord) -> bool:
    """Whether a finished rollout's effects are all done, so another one may start."""
    if block.get("id") != rollout.id:
        return True  # not ours (an InferenceService recreated since): nothing to finish
    if block.get("candidate"):
        return False
    return rollout.phase != "Promoted" or bool(block.get("handedOver"))


def _main_ready(status: dict[str, Any], version: str) -> bool:
    ready = st.get_condition(status.get("conditions"), c.READY) or {}
    return ready.get("status") == "True" and status.get("modelVersion") == version


async def _challenger(op: Operator, tracking_uri: str, model: str) -> Any:
    fresh, value = op.rollouts.cached_challenger(tracking_uri, model, op.settings.challenger_seconds)
    if fresh:
        return value
    try:
        value = await op.call(ml.alias_version, tracking_uri, model, CHALLENGER)
    except ml.RegistryUnreachable as exc:
        log.warning("cannot read the %s alias of %s: %s", CHALLENGER, model, exc)
        return UNKNOWN
    op.rollouts.remember_challenger(tracking_uri, model, value)
    return value


async def _alias_now(op: Operator, tracking_uri: str, model: str, alias: str) -> Any:
    try:
        return await op.call(ml.alias_version, tracking_uri, model, alias)
    except ml.RegistryUnreachable:
        return UNKNOWN


async def _apply_mlflow(
    op: Operator, tracking_uri: str, rollout: RolloutRecord, effects: rs.DecisionEffects, alias: str
) -> None:
    model, cand = rollout.model_name, rollout.candidate_version
    await op.call(ml.tag_version, tracking_uri, model, cand, effects.tags)
    if effects.move_alias:
        await op.call(ml.move_alias, tracking_uri, model, alias, cand, only_from=rollout.champion_version)
    if effects.drop_challenger:
        await op.call(ml.drop_alias, tracking_uri, model, CHALLENGER, only_at=cand)
    if effects.move_alias or effects.drop_challenger:
        op.rollouts.forget_challenger(model)


async def _ensure_candidate(
    op: Operator, isvc: dict[str, Any], spec: ServiceSpec, rollout: RolloutRecord, tracking_uri: str
) -> dict[str, Any] | None:
    """Create or update the candidate predictor; ``status.rollout.candidate`` (None if it cannot be created)."""
    meta = isvc["metadata"]
    name, namespace = meta["name"], meta["namespace"]
    resolved = Resolved(version=rollout.candidate_version, tracking_uri=tracking_uri)
    manifests = desired_children(op, name, namespace, spec, resolved, candidate=True)
    for manifest in manifests:
        manifest["metadata"]["labels"][c.LABEL_ROLLOUT_ID] = str(rollout.id)
    try:
        children = await apply_children(op, isvc, manifests)
    except _Conflict as exc:
        log.warning("rollout %s: %s", rollout.id, exc)
        return rs.candidate_info(candidate_name(name), "", rollout.candidate_version, False, str(exc))
    serving = children[0] if children else None
    if op.settings.target.value == "kserve":
        readiness = st.kserve_readiness(serving, rollout.candidate_version)
    else:
        readiness = st.deployment_readiness(serving, rollout.candidate_version)
    if serving is not None and deployment_version(serving) != rollout.candidate_version:
        readiness = st.Readiness(False, st.ROLLOUT_IN_PROGRESS, "the candidate predictor is being updated")
    url = candidate_url(op, name, namespace, serving)
    return rs.candidate_info(candidate_name(name), url, rollout.candidate_version, readiness.ready, readiness.message)


async def _delete_candidate(op: Operator, isvc: dict[str, Any]) -> None:
    """Delete the candidate predictor's objects owned by this InferenceService (not found is fine)."""
    meta = isvc["metadata"]
    name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
    for kind in candidate_kinds(op):
        existing = await op.call(op.kube.get, kind, namespace, candidate_name(name))
        if existing is None or not is_owned_by(existing, uid):
            continue
        try:
            await op.call(op.kube.delete, kind, namespace, candidate_name(name), uid=existing["metadata"]["uid"])
        except k.KubeError as exc:
            log.warning("cannot delete %s %s/%s: %s", kind.kind, namespace, candidate_name(name), describe(exc))
            raise
        log.info("%s %s/%s deleted (rollout finished)", kind.kind, namespace, candidate_name(name))
