"""One analysis pass over the active rollouts: what the operator's loop (cluster) and the demo controller
(``make demo``) call every few seconds. Sync; run it in a worker thread from async code.

Everything it knows is in the database: a controller restarted mid-analysis reads the rollouts back and goes
on from the step it was in (the window restarts at the step's ``step_started_at``, which the table holds).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Engine

from modelship_common.db import utcnow
from modelship_common.rollout.analysis import HOLD, Action, Verdict, advance, evidence, judge
from modelship_common.rollout.stats import rollout_stats
from modelship_common.rollout.tables import (
    DecisionRecord,
    RolloutConflict,
    RolloutRecord,
    active_rollouts,
    record_decision,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one pass did to one rollout."""

    #: The rollout as it is after the pass (unchanged for a hold or a conflict).
    rollout: RolloutRecord
    action: Action
    verdict: Verdict | None
    #: The decision written, or None (hold, or another controller decided first).
    decision: DecisionRecord | None = None
    #: Another controller or a person moved the rollout on first; nothing was written.
    conflict: bool = False


def evaluate(engine: Engine, rollout: RolloutRecord, now: dt.datetime | None = None) -> tuple[Action, Verdict | None]:
    """Judge ``rollout``'s current step and say what to do next, writing nothing.

    A Pending rollout is not judged (its candidate gets no traffic yet): the action is its first step.
    """
    now = now or utcnow()
    verdict = None
    if rollout.active and rollout.phase != "Pending":
        verdict = judge(rollout_stats(engine, rollout, now), rollout.rollout_spec.analysis)
    return advance(rollout, verdict, now), verdict


def decide(engine: Engine, rollout: RolloutRecord, now: dt.datetime | None = None) -> Outcome:
    """:func:`evaluate`, then record any action other than hold (with its evidence) in one transaction."""
    now = now or utcnow()
    action, verdict = evaluate(engine, rollout, now)
    if action.kind == HOLD:
        return Outcome(rollout, action, verdict)
    try:
        updated, decision = record_decision(
            engine,
            rollout,
            action.kind,
            reason=action.reason,
            evidence=evidence(rollout, verdict, now),
            step_index=action.step_index,
            now=now,
        )
    except RolloutConflict as exc:
        log.info("rollout %s: not recorded: %s", rollout.id, exc)
        return Outcome(rollout, action, verdict, conflict=True)
    log.info("rollout %s of %s: %s: %s", rollout.id, rollout.model_name, action.kind, action.reason)
    return Outcome(updated, action, verdict, decision)


def tick(
    engine: Engine,
    now: dt.datetime | None = None,
    *,
    pending_ready: frozenset[str] | None = None,
    models: Collection[str] | None = None,
) -> list[Outcome]:
    """One pass: :func:`decide` for every active rollout (of the ``models`` named, or of all).

    A Pending rollout is started only if its model name is in ``pending_ready`` (the candidates whose model
    server is ready); ``None`` starts every Pending one. The operator passes ``models`` (the model of one
    InferenceService per pass); the demo controller passes nothing.
    """
    now = now or utcnow()
    outcomes = []
    for rollout in active_rollouts(engine):
        if models is not None and rollout.model_name not in models:
            continue
        if rollout.phase == "Pending" and pending_ready is not None and rollout.model_name not in pending_ready:
            outcomes.append(Outcome(rollout, Action(HOLD, "candidate model server not ready"), None))
            continue
        outcomes.append(decide(engine, rollout, now))
    return outcomes
