"""``/api/rollouts``: shadow and canary rollouts with their decisions and gates (what the Rollouts page shows).

Read-only: the operator (or the demo controller) decides; see docs/rollouts.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool

from modelship_common.errors import ModelNotFound
from modelship_gateway import rollouts
from modelship_gateway.api.openapi import DATABASE_DOWN, INVALID_REQUEST, ROUTER_DEFAULTS, errors
from modelship_gateway.deps import StoreDep
from modelship_gateway.schemas import AnalysisOut, DecisionOut, RolloutDetail, RolloutOut

router = APIRouter(prefix="/api/rollouts", tags=["rollouts"], **ROUTER_DEFAULTS)

_LIST_ERRORS = errors({422: INVALID_REQUEST, 503: DATABASE_DOWN})
_ONE_ERRORS = errors({404: "No rollout has this id.", 422: "The id is not an integer.", 503: DATABASE_DOWN})
#: The ids the database can hold (a larger one is answered 404 rather than overflowing the driver).
MAX_ID = 2**31 - 1


def rollout_out(v: rollouts.RolloutView) -> RolloutOut:
    r = v.rollout
    last = v.last_decision
    return RolloutOut(
        id=r.id,
        model=r.model_name,
        strategy=r.strategy,  # type: ignore[arg-type]
        champion_version=r.champion_version,
        candidate_version=r.candidate_version,
        phase=r.phase,  # type: ignore[arg-type]
        active=r.active,
        step_index=r.step_index,
        steps=v.n_steps,
        candidate_weight=r.candidate_weight,
        champion_weight=v.champion_weight,
        shadow_share=r.shadow_share,
        started_at=r.started_at,
        step_started_at=r.step_started_at,
        finished_at=r.finished_at,
        warm_until=r.warm_until,
        candidate_url=r.candidate_url,
        spec=r.spec,
        last_decision=DecisionOut.model_validate(last) if last else None,
        analysis=AnalysisOut.model_validate(v.analysis),
    )


def rollout_detail(v: rollouts.RolloutView) -> RolloutDetail:
    return RolloutDetail(**rollout_out(v).model_dump(), decisions=[DecisionOut.model_validate(d) for d in v.decisions])


@router.get("", response_model=list[RolloutOut], responses=_LIST_ERRORS, summary="List rollouts")
async def list_rollouts(
    store: StoreDep,
    model: Annotated[str | None, Query(description="Only the rollouts of this model.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many rollouts.")] = 50,
) -> list[RolloutOut]:
    """Rollouts newest first, each with its gates (judged now for an active one, from its last decision's
    evidence for a finished one) and its newest decision."""
    if model is not None and "\x00" in model:
        return []  # no model name holds a NUL (and PostgreSQL text cannot be compared with one)
    views = await run_in_threadpool(rollouts.list_views, store.engine, model=model, limit=limit)
    return [rollout_out(v) for v in views]


@router.get("/{rollout_id}", response_model=RolloutDetail, responses=_ONE_ERRORS, summary="A rollout and its timeline")
async def get_rollout(
    rollout_id: Annotated[int, Path(description="The rollout's id, as the list gives it.")], store: StoreDep
) -> RolloutDetail:
    """One rollout with every decision (oldest first, each with its evidence) and its gates."""
    found = None
    if 0 < rollout_id <= MAX_ID:
        found = await run_in_threadpool(rollouts.get_view, store.engine, rollout_id)
    if found is None:
        raise ModelNotFound(f"no rollout {rollout_id}")
    return rollout_detail(found)
