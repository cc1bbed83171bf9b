"""Rollouts as the dashboard page and ``/api/rollouts`` show them: the row, its decisions, and its gates.

The transport-neutral part both of them call (sync: run it in a worker thread). The state and every decision live
in the ``rollouts`` and ``rollout_decisions`` tables (:mod:`modelship_common.rollout.tables`); this module only
reads them. An active rollout's gates are judged live with :func:`modelship_common.rollout.controller.evaluate`
(which writes nothing), a finished one's are the evidence of its last decision.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine

from modelship_common.db import utcnow
from modelship_common.rollout.controller import evaluate
from modelship_common.rollout.tables import (
    DecisionRecord,
    RolloutRecord,
    active_rollouts,
    get_rollout,
    list_decisions,
    rollout_history,
)

#: Where a view's gates come from: judged now, the last decision's evidence, or nowhere (not judged yet).
LIVE, DECISION, NONE = "live", "decision", "none"


@dataclass(frozen=True)
class GateView:
    """One gate: its measured value against its threshold; ``passed`` is None while it waits for samples."""

    name: str
    value: float | None
    threshold: float | None
    passed: bool | None
    detail: str

    @property
    def result(self) -> str:
        return "waiting" if self.passed is None else ("pass" if self.passed else "fail")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> GateView:
        return cls(
            name=str(raw.get("name", "?")),
            value=_float(raw.get("value")),
            threshold=_float(raw.get("threshold")),
            passed=raw.get("passed") if isinstance(raw.get("passed"), bool) else None,
            detail=str(raw.get("detail", "")),
        )


@dataclass(frozen=True)
class Analysis:
    """The gates of one rollout and what they lead to."""

    #: :data:`LIVE`, :data:`DECISION` or :data:`NONE`.
    source: str
    #: The verdict: ``wait``, ``pass`` or ``fail``; None without one (Pending, or a decision taken by hand).
    status: str | None = None
    #: The verdict's one line (which gate failed with its values, what is awaited, or that all passed).
    reason: str | None = None
    gates: tuple[GateView, ...] = ()
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    #: Requests in the window: ``champion``, ``candidate`` and ``paired`` (scored by both).
    samples: dict[str, int] = field(default_factory=dict)
    #: Live only: what the controller would do now (``hold``, ``step``, ``promote``, ``rollback``) and why.
    next_action: str | None = None
    next_reason: str | None = None
    #: Decision only: the decision whose evidence this is.
    decision_id: int | None = None
    decided_at: dt.datetime | None = None
    #: Live only: judging failed (the message), e.g. the database went away mid-read.
    error: str | None = None


@dataclass(frozen=True)
class RolloutView:
    rollout: RolloutRecord
    decisions: tuple[DecisionRecord, ...]
    analysis: Analysis

    @property
    def last_decision(self) -> DecisionRecord | None:
        return self.decisions[-1] if self.decisions else None

    @property
    def n_steps(self) -> int:
        return len(self.rollout.rollout_spec.steps)

    @property
    def champion_weight(self) -> int:
        return 100 - self.rollout.candidate_weight

    def weight_series(self, now: dt.datetime | None = None) -> list[tuple[dt.datetime, int, float]]:
        """(time, candidate weight %, shadow share) from the start through every decision to now or the end."""
        r = self.rollout
        steps = r.rollout_spec.steps
        first = self.decisions[0] if self.decisions else None
        started_pending = r.phase == "Pending" or (
            first is not None and first.action == "step" and first.step_index == 0
        )
        if started_pending or not steps:
            weight, share = 0, 0.0
        elif r.strategy == "Canary":
            weight, share = steps[0].weight, 0.0
        else:
            weight, share = 0, r.rollout_spec.shadow_share
        points = [(r.started_at, weight, share)]
        for d in self.decisions:
            share = r.rollout_spec.shadow_share if d.phase == "Shadowing" else 0.0
            points.append((d.decided_at, d.candidate_weight, share))
        end = r.finished_at or now or utcnow()
        points.append((max(end, points[-1][0]), points[-1][1], points[-1][2]))
        return points


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _samples(stats: dict[str, Any]) -> dict[str, int]:
    out = {}
    for side in ("champion", "candidate"):
        arm = stats.get(side)
        if isinstance(arm, dict) and isinstance(arm.get("requests"), int):
            out[side] = arm["requests"]
    if isinstance(stats.get("paired"), int):
        out["paired"] = stats["paired"]
    return out


def live_analysis(engine: Engine, rollout: RolloutRecord, now: dt.datetime | None = None) -> Analysis:
    """Judge an active rollout now (:func:`evaluate`, nothing written)."""
    now = now or utcnow()
    action, verdict = evaluate(engine, rollout, now)
    if verdict is None:
        reason = action.reason
        if rollout.phase == "Pending":  # evaluate() says what happens once the candidate is ready, not whether it is
            reason = f"step 1 starts once the model server of candidate {rollout.candidate_version} is ready"
        return Analysis(LIVE, next_action=action.kind, next_reason=reason)
    stats = verdict.stats
    return Analysis(
        LIVE,
        status=verdict.status,
        reason=verdict.reason,
        gates=tuple(GateView.from_dict(g) for g in verdict.to_dict()["gates"]),
        window_start=stats.window_start,
        window_end=stats.window_end,
        samples={"champion": stats.champion.requests, "candidate": stats.candidate.requests, "paired": stats.paired},
        next_action=action.kind,
        next_reason=action.reason,
    )


def recorded_analysis(decisions: tuple[DecisionRecord, ...]) -> Analysis:
    """The gates of the last decision, from its evidence (none if it was taken without a verdict)."""
    if not decisions:
        return Analysis(NONE)
    last = decisions[-1]
    raw_verdict = last.evidence.get("verdict")
    if not isinstance(raw_verdict, dict):
        return Analysis(NONE, decision_id=last.id, decided_at=last.decided_at)
    raw_stats = last.evidence.get("stats")
    stats: dict[str, Any] = raw_stats if isinstance(raw_stats, dict) else {}
    raw_window = stats.get("window")
    window: dict[str, Any] = raw_window if isinstance(raw_window, dict) else {}
    raw_gates = raw_verdict.get("gates")
    gates: list[Any] = raw_gates if isinstance(raw_gates, list) else []
    return Analysis(
        DECISION,
        status=raw_verdict.get("status") if isinstance(raw_verdict.get("status"), str) else None,
        reason=raw_verdict.get("reason") if isinstance(raw_verdict.get("reason"), str) else None,
        gates=tuple(GateView.from_dict(g) for g in gates if isinstance(g, dict)),
        window_start=_time(window.get("start")),
        window_end=_time(window.get("end")),
        samples=_samples(stats),
        decision_id=last.id,
        decided_at=last.decided_at,
    )


def view(engine: Engine, rollout: RolloutRecord, *, live: bool = True, now: dt.datetime | None = None) -> RolloutView:
    """The rollout with its decisions and its gates (judged now if it is active and ``live``).

    A live judgement that fails (its error is kept in :attr:`Analysis.error`) falls back to the last decision's
    evidence, so one broken rollout does not hide the others.
    """
    decisions = tuple(list_decisions(engine, rollout.id))
    if rollout.active and live:
        try:
            analysis = live_analysis(engine, rollout, now)
        except Exception as exc:  # shown on the page / in the answer, never a 500 for one rollout
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            analysis = replace(recorded_analysis(decisions), error=f"{type(exc).__name__}: {first[:300]}")
    else:
        analysis = recorded_analysis(decisions)
    return RolloutView(rollout, decisions, analysis)


def list_views(
    engine: Engine, *, model: str | None = None, limit: int = 50, now: dt.datetime | None = None
) -> list[RolloutView]:
    """Rollouts newest first (of one model or all), each with its decisions and gates."""
    return [view(engine, r, now=now) for r in rollout_history(engine, model, limit)]


def page_views(engine: Engine, *, recent: int = 20, now: dt.datetime | None = None) -> list[RolloutView]:
    """What the Rollouts page shows: every active rollout (oldest first), then the ``recent`` newest finished ones."""
    active = active_rollouts(engine)
    finished = [r for r in rollout_history(engine, None, recent + len(active)) if not r.active][:recent]
    return [view(engine, r, now=now) for r in [*active, *finished]]


def get_view(engine: Engine, rollout_id: int, now: dt.datetime | None = None) -> RolloutView | None:
    rollout = get_rollout(engine, rollout_id)
    return None if rollout is None else view(engine, rollout, now=now)
