"""Command line and wiring: parse, build settings, load the model, hand it to kserve's ModelServer."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

from modelship_common.logs import configure_logging as configure_log_output
from modelship_common.logs import set_process_fields
from modelship_common.tracing import configure_tracing, shutdown_tracing
from modelship_serving.settings import ServingSettings, get_settings

log = logging.getLogger(__name__)

#: Loggers that kserve's default logging config gives handlers of their own (ours joins them).
TAKEN_OVER_LOGGERS = ("kserve", "kserve.trace", "uvicorn", "uvicorn.access", "modelship_serving")


def build_parser() -> argparse.ArgumentParser:
    """kserve's model-server arguments (``--http_port``, ``--model_name``, ``--workers``...) plus ``--model-uri``."""
    from kserve.model_server import parser as kserve_parser

    parser = argparse.ArgumentParser(
        prog="python -m modelship_serving",
        parents=[kserve_parser],
        description="Serve one MLflow model version over the KServe V1 and V2 (Open Inference) protocols.",
    )
    parser.add_argument(
        "--model-uri",
        "--model_uri",
        dest="model_uri",
        required=True,
        help="models:/<name>/<version> or models:/<name>@<alias>; an alias is resolved once, at start.",
    )
    # The served name defaults to the registered model's name; one log line per request is opt-in.
    # (set_defaults also changes these actions' defaults in kserve's parser, which it has already used.)
    parser.set_defaults(model_name=None, enable_latency_logging=False)
    return parser


def configure_logging(args: argparse.Namespace, settings: ServingSettings) -> None:
    """kserve's logging set-up, our logger on its handler, and no per-request lines unless asked for."""
    if not args.configure_logging:
        return
    from kserve import logging as kserve_logging

    kserve_logging.configure_logging(args.log_config_file)
    if not args.log_config_file:  # kserve's default config: every logger onto our one handler and format
        configure_log_output(None, settings.log_format, take_over=TAKEN_OVER_LOGGERS)
    else:  # the operator's own logging config: ours follows kserve's handlers
        ours = logging.getLogger("modelship_serving")
        ours.handlers = list(logging.getLogger("kserve").handlers)
        ours.propagate = False
    logging.getLogger("modelship_serving").setLevel(settings.log_level.upper())
    if not settings.access_log:
        # uvicorn's access log and kserve's TimingMiddleware both write a line per request at INFO.
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
        logging.getLogger("kserve.trace").setLevel(logging.WARNING)


def _bad_request_handler() -> Any:
    from fastapi.responses import JSONResponse

    from modelship_serving.fastpath import describe_validation_errors

    async def handler(_request: Any, exc: Any) -> JSONResponse:
        return JSONResponse(status_code=400, content={"error": describe_validation_errors(exc.errors())})

    return handler


def _http_error_handler() -> Any:
    from fastapi.responses import JSONResponse

    async def handler(_request: Any, exc: Any) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"error": str(exc.detail)}, headers=exc.headers)

    return handler


def serve_openapi_document(app: Any, model: Any) -> None:
    """``GET /openapi.json`` answers this server's own document (:mod:`modelship_serving.openapi`), not the one
    FastAPI derives from kserve's handlers (FastAPI's openapi route calls ``app.openapi()``)."""
    from modelship_serving.openapi import document

    predictor = model.predictor
    doc = document(model.name, str(model.version), predictor.task, list(predictor.classes))
    app.openapi = lambda: doc


def run(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    configure_logging(args, settings)

    from fastapi.exceptions import RequestValidationError
    from kserve.model_server import app as kserve_app
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from modelship_serving.dataplane import ModelshipDataPlane
    from modelship_serving.metrics import ServingMetrics
    from modelship_serving.model import MlflowModel, default_model_name
    from modelship_serving.modelserver import (
        BinaryResponseType,
        ModelshipModelServer,
        PostOnlyVerbs,
        ServedVersionRoutes,
        use_uvloop,
    )

    metrics = ServingMetrics()
    model = MlflowModel(
        args.model_name or default_model_name(args.model_uri), args.model_uri, settings, metrics=metrics
    )
    model.load()
    set_process_fields(model=model.name, version=model.version)  # on every log line of this server
    # Only with OTEL_EXPORTER_OTLP_*ENDPOINT set; the model server then puts a SERVER span on every HTTP request.
    configure_tracing(
        "modelship-serving", attributes={"modelship.model.name": model.name, "modelship.model.version": model.version}
    )

    if use_uvloop(args.event_loop):
        log.info("event loop: uvloop")
    server = ModelshipModelServer(
        fast_path=settings.fast_path,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        workers=args.workers,
        max_threads=args.max_threads,
        max_asyncio_workers=args.max_asyncio_workers,
        enable_grpc=args.enable_grpc,
        enable_docs_url=args.enable_docs_url,
        enable_latency_logging=args.enable_latency_logging,
        access_log_format=args.access_log_format,
        event_loop=args.event_loop,
        timeout_keep_alive=args.timeout_keep_alive,
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
    )
    server.dataplane = ModelshipDataPlane(server.registered_models, metrics)
    # A V2 body that does not fit the protocol's schema is bad input (400 {"error": ...}), like the rest.
    kserve_app.add_exception_handler(RequestValidationError, _bad_request_handler())
    # FastAPI's and Starlette's own errors (a body that does not parse, no such route, a wrong method) too, with
    # their headers (Allow): they answered {"detail": ...}.
    kserve_app.add_exception_handler(StarletteHTTPException, _http_error_handler())
    serve_openapi_document(kserve_app, model)
    kserve_app.add_middleware(PostOnlyVerbs)
    kserve_app.add_middleware(BinaryResponseType)
    kserve_app.add_middleware(ServedVersionRoutes, model_name=model.name, version=str(model.version))
    try:
        server.start([model])
    finally:
        shutdown_tracing()
