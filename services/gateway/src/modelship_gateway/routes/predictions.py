"""``/api/predictions``: the stored predictions, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from modelship_gateway.deps import SessionDep
from modelship_gateway.schemas import PredictionOut
from modelship_gateway.store import PredictionStore

router = APIRouter(prefix="/api/predictions", tags=["predictions"])


@router.get("", response_model=list[PredictionOut], summary="List stored predictions")
def list_predictions(
    session: SessionDep,
    model: Annotated[str | None, Query(description="Only predictions by this model.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many rows.")] = 50,
    offset: Annotated[int, Query(ge=0, description="Skip this many of the newest rows.")] = 0,
) -> list[PredictionOut]:
    """Stored predictions, newest first (runs in a worker thread: the session is synchronous)."""
    rows = PredictionStore.recent(session, model=model, limit=limit, offset=offset)
    return [PredictionOut.model_validate(row) for row in rows]
