"""Every log record written while a request is handled carries its ``request_id`` (JSON logs, text ``[key=value]``).

A caller's ``X-Request-ID`` is used as is (the routes check it and answer 4xx to a bad one); without one the
middleware makes one up and passes it on as that header, so the id in the logs is the id the prediction is stored
under and the one the answer carries (``X-Request-ID`` response header).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelship_common.logs import log_context
from modelship_gateway.prediction_service import new_request_id

HEADER = b"x-request-id"


class RequestContext:
    """Pure ASGI middleware: a request id for every HTTP request, in the log context and the response headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((value for key, value in scope["headers"] if key == HEADER), None)
        if given is None:
            request_id = new_request_id().encode()
            scope = {**scope, "headers": [*scope["headers"], (HEADER, request_id)]}
        else:
            request_id = given

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, request_id)]}
            await send(message)

        with log_context(request_id=request_id.decode("latin-1")):
            await self.app(scope, receive, send_with_id)
