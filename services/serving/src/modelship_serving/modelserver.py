"""kserve's ModelServer with the inference fast path in front of its REST app and uvloop as the event loop."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import orjson
from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER
from kserve.errors import InvalidInput, ModelNotFound
from kserve.model_server import ModelServer
from kserve.model_server import app as kserve_app
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.model_repository_extension import ModelRepositoryExtension

from modelship_common import tracing
from modelship_serving import kserve_private
from modelship_serving.fastpath import BINARY_MEDIA_TYPE, InferenceFastPath

log = logging.getLogger(__name__)


def use_uvloop(event_loop: str) -> bool:
    """Honour kserve's ``--event_loop`` (auto: uvloop when installed) for the loop ``ModelServer.start`` runs.

    kserve passes the choice to uvicorn's config, but ``ModelServer.start`` runs the server with ``asyncio.run``,
    where uvicorn never applies it; the event loop policy is what ``asyncio.run`` does follow.
    """
    if event_loop not in ("auto", "uvloop"):
        return False
    try:
        import uvloop
    except ImportError:
        if event_loop == "uvloop":
            raise
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # ModelServer.start asks for the current loop (to set its handlers) before asyncio.run makes a new one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    return True


class ModelshipInferenceServicer(InferenceServicer):
    """kserve's gRPC servicer, whose ModelMetadata also carries the served versions (as the REST metadata does)."""

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Any) -> pb.ModelMetadataResponse:
        metadata = await kserve_private.servicer_data_plane(self).model_metadata(model_name=request.name)
        return pb.ModelMetadataResponse(
            name=metadata["name"],
            versions=metadata.get("versions", []),
            platform=metadata["platform"],
            inputs=metadata["inputs"],
            outputs=metadata["outputs"],
        )


class FixedModelRepository(ModelRepositoryExtension):
    """The model repository extension (``POST /v2/repository/models/{name}/load|unload``, gRPC
    ``RepositoryModelLoad|Unload``) of a server whose one model is loaded at start and stays.

    kserve's unloads the model on request: one unauthenticated POST left the pod answering 404 to every
    prediction while ``/v2/health/ready`` still said ready. And a load of an unknown name answered 503. Here a
    load of the served model is the no-op it is, a load of any other name a 404, an unload a 400 that says why.
    """

    async def load(self, model_name: str) -> None:
        if kserve_private.repository_models(self).get_model(model_name) is None:
            raise ModelNotFound(model_name)

    async def unload(self, model_name: str) -> None:
        if kserve_private.repository_models(self).get_model(model_name) is None:
            raise ModelNotFound(model_name)
        raise InvalidInput(
            f"model {model_name} is served by this server for its whole life; unloading it is not supported "
            "(scale or delete the deployment instead)"
        )


class ModelshipModelServer(ModelServer):
    """A kserve ``ModelServer`` whose single-process REST server answers the inference routes with the fast path."""

    def __init__(self, *, fast_path: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fast_path = fast_path
        self.model_repository_extension = FixedModelRepository(model_registry=self.registered_models)
        # kserve's GRPCServer builds its servicer from this module global (one model server per process).
        kserve_private.replace_grpc_servicer(ModelshipInferenceServicer)

    async def _serve(self) -> None:  # kserve's private hook (see modelship_serving.kserve_private)
        # ModelServer.start has built the REST server (uvicorn not started yet); put the front before kserve's app.
        rest = kserve_private.rest_server(self)
        if self.fast_path and rest is not None:
            rest.config.app = InferenceFastPath(kserve_app, self.dataplane, kserve_app.exception_handlers)
            log.info("inference fast path in front of kserve's REST app")
        elif self.fast_path:
            log.info("inference fast path off: %d uvicorn workers serve kserve's app", self.workers)
        if tracing.enabled():
            if rest is not None:  # outermost, so the fast path's requests get a span too
                rest.config.app = tracing.asgi_middleware(rest.config.app, excluded_urls=UNTRACED_PATHS)
            else:  # several uvicorn workers import kserve's app: trace inside it
                kserve_app.add_middleware(_TracingMiddleware)
        await super()._serve()


#: URL patterns (regular expressions, searched in the URL) that get no server span: probes and scrapes.
UNTRACED_PATHS = ("/metrics$", "/ready$", "/v2/health/", "/$")


class _TracingMiddleware:
    """:func:`modelship_common.tracing.asgi_middleware` as a Starlette middleware class."""

    def __init__(self, app: Any) -> None:
        self.app = tracing.asgi_middleware(app, excluded_urls=UNTRACED_PATHS)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


_BINARY_HEADER = INFERENCE_CONTENT_LENGTH_HEADER.encode()
_V1_VERB = re.compile(r"/v1/models/[^/]+:(predict|explain)")


class PostOnlyVerbs:
    """405 with ``Allow: POST`` for any other method on ``/v1/models/{name}:predict`` (and ``:explain``).

    In kserve's app the model-readiness route ``/v1/models/{model_name}`` (GET) matches those paths too, with
    ``penguins:predict`` as the name, so an OPTIONS got a 405 that advertised ``Allow: GET`` and a GET a 404
    about a model named ``penguins:predict``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] != "POST" and _V1_VERB.fullmatch(scope["path"]):
            body = orjson.dumps({"error": f"method {scope['method']} not allowed here; use POST"})
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"allow", b"POST"),
            ]
            await send({"type": "http.response.start", "status": 405, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class BinaryResponseType:
    """``Content-Type: application/octet-stream`` on a response with binary tensors (it has the
    ``Inference-Header-Content-Length`` header), as the binary tensor extension says; kserve's V2 route sent none."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_typed(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                if any(name.lower() == _BINARY_HEADER for name, _ in headers):
                    kept = [(name, value) for name, value in headers if name.lower() != b"content-type"]
                    message = {**message, "headers": [*kept, (b"content-type", BINARY_MEDIA_TYPE)]}
            await send(message)

        await self.app(scope, receive, send_typed)


_V2_VERSIONED = re.compile(r"/v2/models/([^/]+)/versions/([^/]+)(/ready|/infer)?")


class ServedVersionRoutes:
    """The protocol's versioned V2 routes (``/v2/models/{name}/versions/{version}[/ready|/infer]``) for the one
    version served: answered as the unversioned route; another version of the served model is a 404.

    kserve's handlers answer any version with 501 ("Model versioning not supported yet").
    """

    def __init__(self, app: Any, model_name: str, version: str) -> None:
        self.app = app
        self.model_name = model_name
        self.version = version

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        match = _V2_VERSIONED.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        name, version, rest = match.group(1), match.group(2), match.group(3) or ""
        if name == self.model_name and version != self.version:
            error = f"version {version} of model {name} is not served here; version {self.version} is"
            body = orjson.dumps({"error": error})
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 404, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        path = f"/v2/models/{name}{rest}"  # an unknown model's name gets kserve's 404 there
        await self.app({**scope, "path": path, "raw_path": path.encode()}, receive, send)
