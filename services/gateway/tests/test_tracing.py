"""The gateway is instrumented only when tracing is on; then a request's SERVER span continues its traceparent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from modelship_common import tracing
from modelship_gateway.app import create_app
from modelship_gateway.settings import GatewaySettings

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def settings(tmp_path: Path) -> GatewaySettings:
    """No server behind it: the app is only built, and asked for routes that need no component."""
    return GatewaySettings(
        database_url=f"sqlite:///{tmp_path / 'p.db'}", model_servers={}, mlflow_tracking_uri="http://127.0.0.1:9"
    )


def test_no_instrumentation_when_tracing_is_off(settings: GatewaySettings) -> None:
    assert not tracing.enabled()
    app = create_app(settings)
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)


def test_a_request_continues_the_callers_trace(settings: GatewaySettings, spans: InMemorySpanExporter) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app = create_app(settings)
    try:
        assert getattr(app, "_is_instrumented_by_opentelemetry", False)

        async def calls() -> None:
            transport = httpx.ASGITransport(app=app)  # no lifespan: only routes that need no components
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                assert (await client.get("/no/such/page", headers={"traceparent": PARENT})).status_code == 404
                await client.get("/healthz")  # excluded: no span

        asyncio.run(calls())
    finally:
        FastAPIInstrumentor.uninstrument_app(app)
    server = [s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
    assert len(server) == 1, [s.name for s in server]
    span = server[0]
    assert f"{span.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent is not None and f"{span.parent.span_id:016x}" == "b7ad6b7169203331"
