"""The FastAPI application factory: ``create_app(settings)`` (uvicorn runs it with ``factory=True``)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from modelship_common import tracing
from modelship_common.db import make_engine, migrate
from modelship_gateway import __version__, dashboard, errors
from modelship_gateway.api import health, images, models, predictions, rollouts
from modelship_gateway.api import metrics as metrics_api
from modelship_gateway.deps import Components
from modelship_gateway.fast_predict import FastPredict
from modelship_gateway.metrics import GatewayMetrics, RequestMetrics
from modelship_gateway.prediction_service import PredictionService
from modelship_gateway.request_context import RequestContext
from modelship_gateway.settings import GatewaySettings, get_settings
from modelship_gateway.uploads.pipeline import open_image_pipeline
from modelship_scoring.core import open_scoring
from modelship_scoring.rollout.cache import ActiveRollouts

log = logging.getLogger(__name__)

#: Room for multipart boundaries and headers on top of the file itself.
MULTIPART_OVERHEAD = 64 * 1024


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def _allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route serves at this path: one path may have several routes (``GET`` and ``POST
    /api/images``), and Starlette's 405 names only the methods of the first one."""
    methods: set[str] = set()
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON ``{"detail": "..."}`` with a fitting status code (:func:`errors.error_response`)."""

    async def answer(_: Request, exc: Exception) -> JSONResponse:
        return errors.error_response(exc)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(app, request.scope))
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=headers)

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return errors.error(422, _validation_message(exc))

    for cls in errors.ANSWERS:
        app.add_exception_handler(cls, answer)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)


class UploadLimit:
    """Answer 413 before reading a multipart body whose Content-Length already exceeds the upload limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes + MULTIPART_OVERHEAD
        self.limit = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            content_type = headers.get(b"content-type", b"")
            length = headers.get(b"content-length", b"")
            if content_type.startswith(b"multipart/") and length.isdigit() and int(length) > self.max_bytes:
                response = errors.error(413, f"upload is larger than the limit of {self.limit} bytes")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_lifespan(settings: GatewaySettings, metrics: GatewayMetrics) -> Any:
    def model_latency(model: str, seconds: float) -> None:
        metrics.observe_upstream(model, "ok", seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        await asyncio.to_thread(migrate, settings.database_url, settings.database_wait_s)
        engine = make_engine(settings.database_url)
        try:
            async with (
                open_scoring(settings) as scoring,
                open_image_pipeline(
                    engine=engine,
                    scoring=scoring,
                    max_upload_bytes=settings.max_upload_bytes,
                    settings=settings,
                    on_model_latency=model_latency,
                ) as images,
            ):
                store = images.prediction_store
                rollouts = ActiveRollouts(engine, ttl_s=settings.rollouts_refresh_s)
                refresh = asyncio.create_task(rollouts.keep_fresh())
                service = PredictionService(
                    scoring.inventory,
                    scoring.client,
                    scoring.registry,
                    store,
                    max_image_bytes=settings.max_upload_bytes,
                    source="api",
                    on_upstream=metrics.observe_upstream,
                    rollouts=rollouts,
                )
                components = Components(settings, store, scoring.inventory, service)
                # Everything built so far (MLflow's and the other libraries' modules included: a few hundred thousand
                # objects) lives as long as the process: out of the collector's sight, a full collection under load
                # no longer walks them all (such pauses were the gateway's p99).
                gc.collect()
                gc.freeze()
                log.info("%d long-lived objects out of the garbage collector's generations", gc.get_freeze_count())
                try:
                    yield {"components": components, "images": images}
                finally:
                    refresh.cancel()
                    await service.drain_mirrors()
        finally:
            engine.dispose()

    return lifespan


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """Build the gateway application; the database, HTTP client and registry cache are created on startup."""
    settings = settings or get_settings()
    metrics = GatewayMetrics()
    app = FastAPI(
        title="modelship gateway",
        summary="REST API in front of the modelship model servers; stores every prediction.",
        version=__version__,
        lifespan=build_lifespan(settings, metrics),
        # FastAPI's own OpenTelemetry hooks stay off: the gateway's spans come from `instrument` below, on its own
        # provider, and checking whether a global provider exists cost tens of microseconds per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.metrics = metrics
    install_error_handlers(app)
    app.add_middleware(UploadLimit, max_bytes=settings.max_upload_bytes)
    if settings.fast_predict:
        app.add_middleware(FastPredict)
    # Added last, so it is the outermost: it also times the 413 answers of UploadLimit.
    app.add_middleware(RequestMetrics, metrics=metrics)
    # Outside even that: the request id is in the log context of everything the request logs (uvicorn's access line
    # included, which is written when the answer starts).
    app.add_middleware(RequestContext)
    for router in (
        models.router,
        predictions.router,
        predictions.export_router,
        images.router,
        rollouts.router,
        health.router,
        metrics_api.router,
    ):
        app.include_router(router)
    app.include_router(dashboard.router)
    if tracing.enabled():
        instrument(app)
    return app


#: URL patterns (regular expressions, searched in the URL) that get no server span: probes, scrapes, static files.
UNTRACED_PATHS = ("/healthz$", "/readyz$", "/metrics$", "/dashboard/static/")


def instrument(app: FastAPI) -> None:
    """A SERVER span per request, named by route (``POST /api/images``), outside every other middleware."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=tracing.provider(),
        excluded_urls=",".join(UNTRACED_PATHS),
        exclude_spans=["receive", "send"],
    )
