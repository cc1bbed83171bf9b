"""The predict route's lean path: ``POST /api/models/{name}/predict`` answered without FastAPI's per-request work.

Under load, FastAPI's routing, dependency solving, body model and response-model serialization cost the gateway
about as much CPU per request as scoring and storing the prediction (py-spy, 1-row penguins requests). This pure
ASGI middleware answers the common request itself: a JSON object whose ``instances`` is a non-empty list, with at
most one ``X-Request-ID`` that matches the route's pattern. It calls the same :class:`PredictionService` the
route calls, and errors get :func:`modelship_gateway.errors.error_response`, the answer FastAPI's handlers give.

Everything else goes to FastAPI unchanged, body included: another method, path or content type, a body that is
not such an object (or that ``orjson`` cannot read, e.g. ``NaN``), a bad header, a body over
:data:`MAX_BODY_BYTES`. So FastAPI's validation and its 4xx answers stay the only ones, and the route stays the
reference (and the OpenAPI document's source); the tests send the same requests both ways and compare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelship_gateway.api.models import REQUEST_ID_PATTERN
from modelship_gateway.errors import error_response
from modelship_gateway.prediction_service import PredictionResult

#: The route's path (Starlette's ``{name}`` matches one path segment).
PATH = re.compile(r"/api/models/([^/]+)/predict")
ROUTE_PATH = "/api/models/{name}/predict"
#: Larger bodies go to FastAPI (they are not the requests that need a lean path).
MAX_BODY_BYTES = 4 * 1024 * 1024
_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
_JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass(frozen=True)
class RouteTemplate:
    """What ``scope["route"]`` holds for a request this path answers: the route's path template, all that
    :class:`~modelship_gateway.metrics.RequestMetrics` reads of the route Starlette's router puts there."""

    path: str


_ROUTE = RouteTemplate(ROUTE_PATH)


def _is_json(content_type: bytes) -> bool:
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json"


def encode(result: PredictionResult) -> bytes:
    """The route's ``PredictResponse`` for ``result``, as FastAPI writes it (compact JSON, the same fields). The
    service already built plain ints, floats and strings (the model-server clients parse them so)."""
    return orjson.dumps(
        {
            "request_id": result.request_id,
            "model": result.model,
            "version": result.version,
            "latency_ms": result.latency_ms,
            "predictions": [
                {"class_id": p.class_id, "class_name": p.class_name, "probabilities": p.probabilities}
                for p in result.predictions
            ],
        }
    )


class FastPredict:
    """Pure ASGI middleware: the lean path described above, in front of the FastAPI app ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        match = PATH.fullmatch(scope["path"])
        state = scope.get("state")
        components = state.get("components") if state is not None else None
        if match is None or components is None:
            await self.app(scope, receive, send)
            return
        content_type = b""
        request_ids = []
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"x-request-id":
                request_ids.append(value)
        body, more, receive = await _read_body(receive)
        if more or not _is_json(content_type) or len(request_ids) > 1:
            await self.app(scope, receive, send)
            return
        request_id = request_ids[0].decode("latin-1") if request_ids else None
        rows = _rows(body)
        if rows is None or (request_id is not None and _REQUEST_ID.match(request_id) is None):
            await self.app(scope, receive, send)
            return
        scope["route"] = _ROUTE  # as Starlette's router would: metrics label requests by the path template
        try:
            result = await components.predictions.predict_rows(match.group(1), rows, request_id=request_id)
        except Exception as exc:  # the same answer as the route's exception handlers give
            await error_response(exc)(scope, receive, send)
            return
        payload = encode(result)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _rows(body: bytes) -> list[Any] | None:
    """The ``instances`` of a JSON object body, if they are a non-empty list; None for FastAPI to answer."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    rows = data.get("instances")
    return rows if isinstance(rows, list) and rows else None


async def _read_body(receive: Receive) -> tuple[bytes, bool, Receive]:
    """The request body (up to :data:`MAX_BODY_BYTES`), whether more was left unread, and a ``receive`` that
    hands the app what was read, then the rest of the request."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more and size <= MAX_BODY_BYTES:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: the app sees it next
            pending: list[Message] = [
                {"type": "http.request", "body": b"".join(chunks), "more_body": True},
                message,
            ]
            return b"", True, _replay(pending, receive)
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
    body = b"".join(chunks)
    return body, more, _replay([{"type": "http.request", "body": body, "more_body": more}], receive)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replayed() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replayed
