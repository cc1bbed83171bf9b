"""Manual promote and rollback requested through an InferenceService's annotations (``modelship promote``/
``rollback --target cluster`` or ``kubectl annotate``; the contract is :mod:`modelship_common.rollout.manual`).

The rollout loop (:mod:`modelship_operator.rollout_loop`) calls :func:`handle_request` once per pass while the
annotations hold a request its status does not record as handled:

- an active rollout: the request is recorded as a decision (:func:`record_decision`, reason ``manual: ...``), so the
  loop applies it right after like an automatic one (MLflow tags and aliases, Event, ``status.history``);
- no active rollout: ``promote`` moves the followed alias to the named version (or the challenger's) and the
  reconciler rolls the main predictor; ``rollback`` is refused;
- the request is then marked handled in the status condition ``RolloutAction`` (True applied, False refused), so it
  is applied once. A decision recorded just before a crash is found by its request id in the decision's reason.

MLflow or the database being unreachable, or another controller deciding first, leaves the request unhandled: the
next pass tries again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from modelship_common.db import utcnow
from modelship_common.errors import ModelNotFound
from modelship_common.registry import CHALLENGER
from modelship_common.rollout import manual
from modelship_common.rollout.analysis import evidence
from modelship_common.rollout.controller import evaluate
from modelship_common.rollout.tables import RolloutConflict, RolloutRecord, list_decisions, record_decision
from modelship_operator import mlflow_access as ml
from modelship_operator import status as st
from modelship_operator.reconcile import Operator
from modelship_operator.spec import ModelRef

log = logging.getLogger(__name__)


@dataclass
class Handled:
    """What :func:`handle_request` did: the rollout after it, the new conditions (None: not handled, try again)."""

    rollout: RolloutRecord | None
    conditions: list[dict[str, Any]] | None = None
    #: The followed alias moved (no active rollout): the reconciler must roll the main predictor.
    alias_moved: bool = False


def pending_request(isvc: dict[str, Any]) -> manual.ManualRequest | None:
    """The request in the annotations if the status does not record it as handled yet."""
    request = manual.read_request(isvc["metadata"].get("annotations"))
    if request is None or manual.is_handled((isvc.get("status") or {}).get("conditions"), request):
        return None
    return request


async def handle_request(
    op: Operator,
    isvc: dict[str, Any],
    engine: Engine,
    request: manual.ManualRequest,
    *,
    rollout: RolloutRecord | None,
    model: str,
    alias: str,
    tracking_uri: str,
    challenger: Any,
) -> Handled:
    """Apply ``request`` to the model's newest ``rollout`` (see the module docstring)."""
    conditions = (isvc.get("status") or {}).get("conditions")

    def done(ok: bool, message: str, reason: str | None = None) -> list[dict[str, Any]]:
        reason = reason or (manual.APPLIED[request.action] if ok else manual.REFUSED)
        text = manual.handled_prefix(request) + message
        if not ok:
            op.event(isvc, "RolloutActionRefused", f"{model}: {text}", warning=True)
        log.info("%s/%s: %s", isvc["metadata"]["namespace"], isvc["metadata"]["name"], text)
        return st.set_condition(
            conditions,
            manual.CONDITION,
            "True" if ok else "False",
            reason,
            text[:1000],
            now=st.now_iso(),
            generation=isvc["metadata"].get("generation"),
        )

    if request.problem:
        return Handled(rollout, done(False, request.problem))
    if rollout is not None:  # recorded by a pass that died before marking it handled
        decisions = await op.call(list_decisions, engine, rollout.id)
        if any(request.key in d.reason for d in decisions if d.action == request.action):
            return Handled(rollout, done(True, f"rollout {rollout.id} {rollout.phase} (recorded before)"))

    if rollout is not None and rollout.active:
        if request.action == "promote" and request.version and request.version != rollout.candidate_version:
            why = f"the active rollout {rollout.id} is of version {rollout.candidate_version}, not {request.version}"
            return Handled(rollout, done(False, why))
        now = utcnow()
        try:
            _, verdict = await op.call(evaluate, engine, rollout, now)
            proof = {**evidence(rollout, verdict, now), "trigger": "manual", "requestId": request.request_id}
            updated, decision = await op.call(
                record_decision,
                engine,
                rollout,
                request.action,
                reason=manual.manual_reason(request),
                evidence=proof,
                now=now,
            )
        except RolloutConflict as exc:  # the analysis moved it on meanwhile: judge the request again next pass
            log.info("rollout %s: manual %s not recorded yet: %s", rollout.id, request.action, exc)
            return Handled(rollout)
        message = (
            f"rollout {updated.id} {updated.phase} (version {updated.candidate_version} against "
            f"{updated.champion_version}), decision {decision.id}"
        )
        return Handled(updated, done(True, message))

    if request.action == "rollback":
        last = f" (the last one, {rollout.id}, is {rollout.phase})" if rollout is not None else ""
        return Handled(rollout, done(False, f"{model} has no active rollout to roll back{last}"))

    version = request.version or (challenger if isinstance(challenger, str) else None)
    if version is None:
        return Handled(rollout, done(False, f"{model} has no active rollout and no {CHALLENGER}: name the version"))
    try:
        await op.call(ml.resolve, tracking_uri, ModelRef(name=model, version=version))
        before = await op.call(ml.alias_version, tracking_uri, model, alias)
        await op.call(ml.move_alias, tracking_uri, model, alias, version, only_from=None)
        await op.call(ml.drop_alias, tracking_uri, model, CHALLENGER, only_at=version)
    except ModelNotFound as exc:
        return Handled(rollout, done(False, str(exc)))
    except ml.RegistryUnreachable as exc:
        log.warning("manual promote of %s waits: %s", model, exc)
        return Handled(rollout)
    op.rollouts.forget_challenger(model)
    message = f"alias {alias} of {model}: {before or '-'} -> {version} (no rollout; the predictor rolls)"
    op.event(isvc, "RolloutActionPromoted", f"{model}: {manual.manual_reason(request)}: {message}")
    return Handled(rollout, done(True, message, reason="AliasMoved"), alias_moved=True)
