"""``/api/predictions``: the stored predictions, newest first; ``/api/predictions.csv``: the same as a CSV file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from modelship_common.db import Prediction
from modelship_gateway.api.openapi import DATABASE_DOWN, INVALID_REQUEST, ROUTER_DEFAULTS, errors
from modelship_gateway.dashboard.queries import PredictionFilters
from modelship_gateway.deps import SessionDep
from modelship_gateway.prediction_store import PredictionStore
from modelship_gateway.schemas import MAX_OFFSET, IsoDate, PredictionOut

router = APIRouter(prefix="/api/predictions", tags=["predictions"], **ROUTER_DEFAULTS)
export_router = APIRouter(tags=["predictions"], **ROUTER_DEFAULTS)

_ERRORS = errors({422: INVALID_REQUEST, 503: DATABASE_DOWN})

#: The columns of the CSV export, in order (``input`` and ``output`` as JSON text).
CSV_COLUMNS = (
    "id",
    "created_at",
    "request_id",
    "source",
    "model_name",
    "model_version",
    "n_instances",
    "predicted_class",
    "confidence",
    "latency_ms",
    "input",
    "output",
)
CSV_MAX_ROWS = 100_000


@router.get("", response_model=list[PredictionOut], responses=_ERRORS, summary="List stored predictions")
def list_predictions(
    session: SessionDep,
    model: Annotated[str | None, Query(description="Only predictions by this model.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many rows.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Skip this many of the newest rows.")] = 0,
) -> list[PredictionOut]:
    """Stored predictions, newest first (runs in a worker thread: the session is synchronous)."""
    rows = PredictionStore.recent(session, model=model, limit=limit, offset=offset)
    return [PredictionOut.model_validate(row) for row in rows]


def _utc(value: dt.datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat()


@export_router.get(
    "/api/predictions.csv",
    summary="Export stored predictions as CSV",
    response_class=Response,
    responses={
        200: {
            "description": f"One row per prediction, newest first, with a header row: {', '.join(CSV_COLUMNS)}. "
            "Times are UTC (ISO 8601 with offset); input and output are JSON.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **_ERRORS,
    },
)
def export_predictions(
    session: SessionDep,
    model: Annotated[str | None, Query(description="Only predictions by this model.")] = None,
    predicted_class: Annotated[
        str | None, Query(alias="class", description="Only single-row predictions of this class.")
    ] = None,
    source: Annotated[str | None, Query(description="Only predictions from this source (api, stream, ...).")] = None,
    date_from: Annotated[IsoDate | None, Query(description="From this UTC day (YYYY-MM-DD), inclusive.")] = None,
    date_to: Annotated[IsoDate | None, Query(description="Up to this UTC day (YYYY-MM-DD), inclusive.")] = None,
    limit: Annotated[
        int, Query(ge=1, le=CSV_MAX_ROWS, description=f"At most this many rows (newest first; <= {CSV_MAX_ROWS}).")
    ] = 10_000,
) -> Response:
    """The filters of the dashboard's Predictions page (the same parameter names), as a downloadable CSV file."""
    filters = PredictionFilters(
        model=model or None,
        predicted_class=predicted_class or None,
        source=source or None,
        date_from=date_from,
        date_to=date_to,
    )
    query = filters.apply(select(Prediction)).order_by(Prediction.created_at.desc(), Prediction.id.desc()).limit(limit)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for p in session.scalars(query):
        writer.writerow(
            [
                p.id,
                _utc(p.created_at),
                p.request_id,
                p.source,
                p.model_name,
                p.model_version,
                p.n_instances,
                "" if p.predicted_class is None else p.predicted_class,
                "" if p.confidence is None else repr(float(p.confidence)),
                repr(float(p.latency_ms)),
                json.dumps(p.input, separators=(",", ":"), sort_keys=True),
                json.dumps(p.output, separators=(",", ":"), sort_keys=True),
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="predictions.csv"'},
    )
