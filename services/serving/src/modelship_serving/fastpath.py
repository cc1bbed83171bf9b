"""A lean ASGI front for kserve's two inference routes; every other request goes to kserve's FastAPI app.

For ``POST /v1/models/{name}:predict`` and ``POST /v2/models/{name}/infer`` with a plain JSON body, most of a
small model's request time went to FastAPI's per-request machinery (route matching, dependency solving,
``jsonable_encoder``, the response model's validation) and to the middleware stack, not to the model. This front
answers those two routes itself and does what kserve's handlers do, in their order, with kserve's own pieces:

- V2: the body is validated against kserve's ``InferenceRequest`` schema (a bad body is a 400 before the model is
  looked up, as with FastAPI), then ``DataPlane.model_ready`` -> ``decode`` -> ``infer`` -> ``encode``;
- V1: ``DataPlane.model_ready`` -> ``decode`` (the raw body) -> ``infer`` -> ``encode``;
- an exception is answered by the handler kserve's app has registered for its type (400/404/503/500 JSON);
  a bad V2 body raises the ``RequestValidationError`` FastAPI would raise, so the same handler answers it.

CloudEvents, the V2 binary tensor extension, a non-JSON content type and any other method or path go to kserve's
app untouched. ``MODELSHIP_FAST_PATH=false`` turns the front off.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER, PredictorProtocol
from kserve.errors import ModelNotReady
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.rest.v2_datamodels import InferenceRequest
from pydantic import ValidationError
from starlette.requests import Request

Message = dict[str, Any]
ASGIApp = Callable[[Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]
Handler = Callable[[Request, Exception], Awaitable[Any]]

_V1_PREDICT = re.compile(r"/v1/models/([^/]+):predict")
_V2_INFER = re.compile(r"/v2/models/([^/]+)/infer")
_JSON_MEDIA_TYPE = b"application/json"
#: A response with binary tensors: its JSON header, then the tensors' bytes (the binary tensor extension).
BINARY_MEDIA_TYPE = b"application/octet-stream"
#: Request headers that select a kserve feature this front does not implement (it then delegates).
_BINARY_TENSORS = b"inference-header-content-length"
_CLOUDEVENT_PREFIX = b"ce-"


def describe_validation_errors(errors: Iterable[Mapping[str, Any]]) -> str:
    """``invalid request body: body.inputs.0.shape: Field required; ...`` (the same words on both paths).

    kserve types the V2 body as ``InferenceRequest | bytes``, so FastAPI reports each problem under the union
    member (``body.InferenceRequest.inputs...``) and adds ``body.bytes: Input should be a valid bytes``; both are
    noise for a JSON client and are left out.
    """
    problems = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        if loc[:2] == ["body", "bytes"]:
            continue
        if loc[1:2] == ["InferenceRequest"]:
            del loc[1]
        problems.append(f"{'.'.join(loc)}: {err.get('msg', '')}")
    return f"invalid request body: {'; '.join(problems)}"


def is_plain_json(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """True when the request is a JSON body the front answers: no CloudEvent, no binary tensors, JSON or no type."""
    for name, value in headers:
        if name == b"content-type":
            if value.split(b";", 1)[0].strip().lower() != _JSON_MEDIA_TYPE:
                return False
        elif name == _BINARY_TENSORS or name.startswith(_CLOUDEVENT_PREFIX):
            return False
    return True


class InferenceFastPath:
    """ASGI app: answers the two inference routes with ``dataplane``; delegates everything else to ``app``.

    ``exception_handlers`` is the ``{exception class: handler}`` map of kserve's app (read on every error, so
    handlers added after this front was built still apply).
    """

    def __init__(self, app: ASGIApp, dataplane: DataPlane, exception_handlers: Mapping[Any, Handler]) -> None:
        self.app = app
        self.dataplane = dataplane
        self.exception_handlers = exception_handlers

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            match = _V2_INFER.fullmatch(path)
            v2 = match is not None
            if match is None:
                match = _V1_PREDICT.fullmatch(path)
            if match is not None and is_plain_json(scope["headers"]):
                await self._infer(scope, receive, send, match.group(1), v2)
                return
        await self.app(scope, receive, send)

    async def _infer(self, scope: dict[str, Any], receive: Any, send: Any, model_name: str, v2: bool) -> None:
        body = await _read_body(receive)
        if body is None:  # the client went away before sending its body
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        try:
            payload, extra_headers = await self._answer(model_name, body, headers, v2)
        except Exception as exc:  # every error is answered by kserve's handler for its type
            await self._error(scope, receive, send, exc)
            return
        await _respond(send, 200, payload, extra_headers)

    async def _answer(
        self, model_name: str, body: bytes, headers: dict[str, str], v2: bool
    ) -> tuple[bytes, dict[str, str]]:
        dataplane = self.dataplane
        parsed = _v2_request(body) if v2 else None  # FastAPI validates the body before the handler runs
        if not await dataplane.model_ready(model_name, True):
            raise ModelNotReady(model_name)
        if parsed is not None:
            request, attributes = dataplane.decode(
                parsed, headers, protocol_version=PredictorProtocol.REST_V2.value, model_name=model_name
            )
        else:
            request, attributes = dataplane.decode(body=body, headers=headers)
        response, response_headers = await dataplane.infer(model_name=model_name, request=request, headers=headers)
        response, encode_headers = dataplane.encode(
            model_name=model_name, response=response, headers=headers, req_attributes=attributes
        )
        response_headers.update(encode_headers)
        response_headers.pop("content-length", None)
        if isinstance(response, str):
            response = response.encode()
        if not isinstance(response, bytes):
            response = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
        return response, response_headers

    async def _error(self, scope: dict[str, Any], receive: Any, send: Any, exc: Exception) -> None:
        handler = self._handler_for(exc)
        if handler is None:
            raise exc
        response = await handler(Request(scope, receive), exc)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Handler | None:
        for cls in type(exc).__mro__:
            handler = self.exception_handlers.get(cls)
            if handler is not None:
                return handler
        return None


def _v2_request(body: bytes) -> InferenceRequest:
    """The V2 body as kserve's schema; a bad one raises the ``RequestValidationError`` FastAPI would raise."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestValidationError([{"loc": ("body", exc.pos), "msg": "JSON decode error"}]) from exc
    try:
        return InferenceRequest.model_validate(data, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]) from exc


async def _read_body(receive: Any) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _respond(send: Any, status: int, payload: bytes, headers: Mapping[str, str]) -> None:
    binary = any(name.lower() == INFERENCE_CONTENT_LENGTH_HEADER for name in headers)
    content_type = BINARY_MEDIA_TYPE if binary else b"application/json"
    raw_headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
    raw_headers += [
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items() if k.lower() != "content-type"
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
