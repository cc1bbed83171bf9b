"""``GET /metrics``: the Prometheus text exposition of this gateway's metrics (:mod:`modelship_gateway.metrics`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from modelship_gateway.metrics import GatewayMetrics

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this gateway's metrics."""
    gateway_metrics: GatewayMetrics = request.app.state.metrics
    return Response(gateway_metrics.render(), media_type=CONTENT_TYPE_LATEST)
