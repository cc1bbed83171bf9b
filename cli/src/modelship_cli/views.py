"""The JSON shapes the command prints (``--json``), the same for both targets: plain dicts with snake_case keys.

- a model: ``name``, ``champion``, ``challenger``, ``rollout`` (None without an active one) and ``analysis``;
- a rollout: ``id``, ``strategy``, ``phase``, ``step`` (1-based, None outside Shadowing/Canary), ``steps``,
  ``weight`` (percent of callers the candidate answers), ``shadow_share``, ``champion_version``,
  ``candidate_version``, ``started_at``, ``step_started_at``, ``finished_at``;
- an analysis: ``verdict`` (wait, pass, fail), ``reason``, ``gates`` (``name``, ``value``, ``threshold``,
  ``passed``, ``detail``) and ``next`` (what the next pass does: ``action``, ``reason``; None when unknown);
- a decision: ``id``, ``decided_at``, ``action``, ``phase``, ``step``, ``weight``, ``reason``, ``evidence``.

Built from the rollouts tables' records (demo) or from an InferenceService's ``status.rollout`` and
``status.history`` (cluster).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from modelship_common.rollout.analysis import Action, Verdict
from modelship_common.rollout.tables import ACTIVE_PHASES, DecisionRecord, RolloutRecord

STEPPING_PHASES = ("Shadowing", "Canary")


def rollout_view(rollout: RolloutRecord) -> dict[str, Any]:
    record = rollout.to_dict()
    return {
        "id": rollout.id,
        "strategy": rollout.strategy,
        "phase": rollout.phase,
        "step": rollout.step_index + 1 if rollout.phase in STEPPING_PHASES else None,
        "steps": len(rollout.rollout_spec.steps),
        "weight": rollout.candidate_weight,
        "shadow_share": rollout.shadow_share,
        "champion_version": rollout.champion_version,
        "candidate_version": rollout.candidate_version,
        "started_at": record["started_at"],
        "step_started_at": record["step_started_at"],
        "finished_at": record["finished_at"],
    }


def analysis_view(action: Action | None, verdict: Verdict | None) -> dict[str, Any]:
    return {
        "verdict": verdict.status if verdict else None,
        "reason": verdict.reason if verdict else (action.reason if action else None),
        "gates": [asdict(g) for g in verdict.gates] if verdict else [],
        "next": {"action": action.kind, "reason": action.reason} if action else None,
    }


def decision_view(decision: DecisionRecord) -> dict[str, Any]:
    return {
        "id": decision.id,
        "decided_at": decision.decided_at.isoformat(),
        "action": decision.action,
        "phase": decision.phase,
        "step": decision.step_index + 1 if decision.phase in STEPPING_PHASES else None,
        "weight": decision.candidate_weight,
        "reason": decision.reason,
        "evidence": decision.evidence,
    }


# -- cluster: an InferenceService's status ---------------------------------------------------------------------


def is_active(block: dict[str, Any] | None) -> bool:
    return bool(block) and (block or {}).get("phase") in ACTIVE_PHASES


def status_rollout_view(block: dict[str, Any]) -> dict[str, Any]:
    """``status.rollout`` as a rollout view."""
    return {
        "id": block.get("id"),
        "strategy": block.get("strategy"),
        "phase": block.get("phase"),
        "step": block.get("step"),
        "steps": block.get("steps"),
        "weight": block.get("weight", 0),
        "shadow_share": block.get("shadowShare", 0.0),
        "champion_version": block.get("championVersion"),
        "candidate_version": block.get("candidateVersion"),
        "started_at": block.get("startedAt"),
        "step_started_at": block.get("stepStartedAt"),
        "finished_at": block.get("finishedAt"),
    }


def status_analysis_view(block: dict[str, Any]) -> dict[str, Any]:
    """The last analysis pass the operator recorded in ``status.rollout``."""
    gates = [
        {
            "name": g.get("name"),
            "value": g.get("value"),
            "threshold": g.get("threshold"),
            "passed": g.get("passed"),
            "detail": g.get("detail"),
        }
        for g in block.get("gates") or []
    ]
    return {"verdict": block.get("verdict"), "reason": block.get("reason"), "gates": gates, "next": None}


def history_decision_view(entry: dict[str, Any]) -> dict[str, Any]:
    """A decision entry of ``status.history`` (its evidence is the operator's compact summary)."""
    return {
        "id": entry.get("decisionId"),
        "decided_at": entry.get("at"),
        "action": entry.get("action"),
        "phase": entry.get("result"),
        "step": entry.get("step"),
        "weight": entry.get("weight"),
        "reason": entry.get("reason"),
        "evidence": entry.get("evidence") or {},
    }
