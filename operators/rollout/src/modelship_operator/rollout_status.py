"""What a Shadow/Canary rollout shows and does outside the database (pure: records in, plans out).

The rollouts tables (:mod:`modelship_common.rollout.tables`) are the state; this module turns their records into

- :func:`decision_effects`: what one recorded decision does outside the table: MLflow model-version tags on the
  candidate, the alias moves, a Kubernetes Event, a ``status.history`` entry, whether the candidate predictor goes;
- :func:`rollout_status`: the ``status.rollout`` block of the InferenceService (phase, step, weight, versions,
  the candidate predictor, the gates of the last analysis).

:mod:`modelship_operator.rollout_loop` applies them; nothing here talks to a cluster, MLflow or the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from modelship_common.registry import CHALLENGER
from modelship_common.rollout.controller import Outcome
from modelship_common.rollout.tables import DecisionRecord, RolloutRecord
from modelship_operator import constants as c
from modelship_operator import status as st

#: MLflow caps a tag value at 5000 characters (8000 in newer servers); reasons are cut well below.
TAG_VALUE_LIMIT = 4000
#: Kubernetes truncates an Event message at 1 KiB in kubectl's view; the history keeps a little more.
EVENT_MESSAGE_LIMIT = 1000
HISTORY_REASON_LIMIT = 1500

#: Event reasons, by decision action.
EVENT_REASONS = {
    "step": "RolloutStepped",
    "promote": "RolloutPromoted",
    "rollback": "RolloutRolledBack",
    "abort": "RolloutAborted",
}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def iso(value: dt.datetime | None) -> str | None:
    """A record's timestamp as Kubernetes writes them (RFC 3339, UTC, seconds)."""
    return st.now_iso(value) if value is not None else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def evidence_summary(evidence: dict[str, Any]) -> dict[str, Any]:
    """The compact evidence of a decision for ``status.history`` (the full one is in ``rollout_decisions``)."""
    stats = evidence.get("stats") or {}
    cand = stats.get("candidate") or {}
    champ = stats.get("champion") or {}
    verdict = evidence.get("verdict") or {}
    window = stats.get("window") or {}
    out: dict[str, Any] = {
        "windowStart": window.get("start"),
        "windowEnd": window.get("end"),
        "candidateRequests": cand.get("requests"),
        "championRequests": champ.get("requests"),
        "paired": stats.get("paired"),
        "agreement": _number(stats.get("agreement")),
        "errorRate": _number(cand.get("error_rate")),
        "candidateP95Ms": _number(cand.get("p95_latency_ms")),
        "championP95Ms": _number(champ.get("p95_latency_ms")),
        "verdict": verdict.get("status"),
        "failedGates": [g["name"] for g in verdict.get("gates") or [] if g.get("passed") is False],
    }
    shift = None
    if _number(cand.get("mean_confidence")) is not None and _number(champ.get("mean_confidence")) is not None:
        shift = abs(float(cand["mean_confidence"]) - float(champ["mean_confidence"]))
    out["confidenceShift"] = shift
    for key in ("windowStart", "windowEnd"):
        if out[key]:
            parsed = st.parse_time(out[key])
            out[key] = st.now_iso(parsed) if parsed else None
    return {k: v for k, v in out.items() if v is not None and v != []}


@dataclass(frozen=True)
class DecisionEffects:
    """What one recorded decision does outside the rollouts table, in the order the loop applies it."""

    #: Model-version tags set on the candidate version in MLflow.
    tags: dict[str, str]
    #: ``champion`` (the followed alias) moves to the candidate (promote).
    move_alias: bool
    #: The ``challenger`` alias leaves the candidate (promote, rollback), if it still points there.
    drop_challenger: bool
    #: The candidate predictor is deleted now (rollback, abort); after a promotion it goes once the warm window
    #: ended and the main predictor serves the new champion.
    delete_candidate: bool
    event_reason: str
    event_message: str
    warning: bool
    #: Appended to ``status.history``.
    history_entry: dict[str, Any] = field(default_factory=dict)


def challenger_gone(challenger: str | None) -> str:
    """Why a rollout is aborted when its candidate is no longer the ``challenger``: the alias moved or was removed."""
    return f"alias {CHALLENGER} moved to version {challenger}" if challenger else f"alias {CHALLENGER} removed"


def decision_effects(rollout: RolloutRecord, decision: DecisionRecord, *, alias: str) -> DecisionEffects:
    """The effects of ``decision`` on ``rollout`` (``alias``: the alias the InferenceService follows)."""
    action = decision.action
    steps = rollout.rollout_spec.steps
    model = rollout.model_name
    cand, champ = rollout.candidate_version, rollout.champion_version
    where = f"{model} {cand} against {champ}"
    if action == "step":
        if rollout.strategy == "Canary":
            what = f"step {decision.step_index + 1}/{len(steps)}: {decision.candidate_weight} % of callers"
        else:
            what = f"shadowing {round(rollout.shadow_share * 100)} % of requests"
        message = f"{where}: {what} ({decision.reason})"
    elif action == "promote":
        message = f"{where}: promoted, alias {alias} -> version {cand} ({decision.reason})"
    elif action == "rollback":
        message = f"{where}: rolled back, all traffic to version {champ} ({decision.reason})"
    else:
        message = f"{where}: aborted ({decision.reason})"
    tags = {
        c.TAG_ROLLOUT_DECISION: action,
        c.TAG_ROLLOUT_REASON: _cut(decision.reason, TAG_VALUE_LIMIT),
        c.TAG_ROLLOUT_ID: str(rollout.id),
        c.TAG_ROLLOUT_PHASE: decision.phase,
        c.TAG_ROLLOUT_DECIDED_AT: iso(decision.decided_at) or "",
    }
    entry: dict[str, Any] = {
        "version": cand,
        "at": iso(decision.decided_at),
        "result": decision.phase,
        "action": action,
        "rolloutId": rollout.id,
        "decisionId": decision.id,
        "championVersion": champ,
        "weight": decision.candidate_weight,
        "reason": _cut(decision.reason, HISTORY_REASON_LIMIT),
    }
    if decision.phase in ("Shadowing", "Canary"):
        entry["step"] = decision.step_index + 1
    summary = evidence_summary(decision.evidence)
    if summary:
        entry["evidence"] = summary
    return DecisionEffects(
        tags=tags,
        move_alias=action == "promote",
        drop_challenger=action in ("promote", "rollback"),
        delete_candidate=action in ("rollback", "abort"),
        event_reason=EVENT_REASONS.get(action, "RolloutDecided"),
        event_message=_cut(message, EVENT_MESSAGE_LIMIT),
        warning=action in ("rollback", "abort"),
        history_entry=entry,
    )


def outcome_effects(outcome: Outcome, *, alias: str) -> DecisionEffects | None:
    """The effects of one controller pass on one rollout: None for a hold or a conflict (nothing was written)."""
    if outcome.decision is None:
        return None
    return decision_effects(outcome.rollout, outcome.decision, alias=alias)


def rollout_status(
    rollout: RolloutRecord,
    *,
    candidate: dict[str, Any] | None = None,
    gates: list[dict[str, Any]] | None = None,
    verdict: str | None = None,
    reason: str | None = None,
    applied_decision: int | None = None,
    handed_over: bool = False,
) -> dict[str, Any]:
    """The ``status.rollout`` block (see the CRD for every field); ``candidate`` None once it is deleted."""
    steps = rollout.rollout_spec.steps
    out: dict[str, Any] = {
        "id": rollout.id,
        "strategy": rollout.strategy,
        "phase": rollout.phase,
        "step": rollout.step_index + 1 if rollout.phase in ("Shadowing", "Canary") else None,
        "steps": len(steps),
        "weight": rollout.candidate_weight,
        "shadowShare": rollout.shadow_share,
        "championVersion": rollout.champion_version,
        "candidateVersion": rollout.candidate_version,
        "startedAt": iso(rollout.started_at),
        "stepStartedAt": iso(rollout.step_started_at),
        "finishedAt": iso(rollout.finished_at),
        "warmUntil": iso(rollout.warm_until),
        "candidate": candidate,
        "verdict": verdict,
        "reason": _cut(reason, HISTORY_REASON_LIMIT) if reason else None,
        "gates": [_gate(g) for g in gates] if gates is not None else None,
        "appliedDecision": applied_decision,
        "handedOver": handed_over if rollout.phase == "Promoted" else None,
    }
    return {k: v for k, v in out.items() if v is not None}


def _gate(gate: dict[str, Any]) -> dict[str, Any]:
    out = {
        "name": gate.get("name"),
        "value": _number(gate.get("value")),
        "threshold": _number(gate.get("threshold")),
        "passed": gate.get("passed"),
        "detail": gate.get("detail"),
    }
    return {k: v for k, v in out.items() if v is not None}


def candidate_info(name: str, url: str, version: str, ready: bool, message: str) -> dict[str, Any]:
    """``status.rollout.candidate``: where the gateway finds the candidate's model server."""
    return {"name": name, "url": url, "version": version, "ready": ready, "message": _cut(message, 500)}
