"""MLflow model-registry webhook receiver (MLflow >= 3.3).

MLflow POSTs ``{"entity", "action", "timestamp", "data"}`` with the headers ``X-MLflow-Delivery-Id``,
``X-MLflow-Timestamp`` (unix seconds) and ``X-MLflow-Signature: v1,<base64 HMAC-SHA256>`` over
``"<delivery id>.<timestamp>.<raw body>"`` keyed with the webhook's secret. A verified registry event
triggers an immediate sync of the ModelRegistries; polling stays the fallback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
MAX_BODY_BYTES = 1 << 20

#: Registry events that can change what is served. Others (prompts, budgets) are acknowledged and ignored.
REGISTRY_EVENTS = frozenset(
    {
        "registered_model.created",
        "model_version.created",
        "model_version_tag.set",
        "model_version_tag.deleted",
        "model_version_alias.created",
        "model_version_alias.deleted",
    }
)

log = logging.getLogger(__name__)


class SignatureError(Exception):
    """The delivery is not authentic (or too old); the message is safe to return."""


def sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``X-MLflow-Signature`` value MLflow sends for this delivery."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def verify_signature(
    secret: str,
    *,
    delivery_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    max_age_seconds: float,
    now: float | None = None,
) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is MLflow's HMAC of this body, recent enough."""
    if not signature:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not delivery_id or not timestamp:
        raise SignatureError(f"missing {DELIVERY_ID_HEADER} or {TIMESTAMP_HEADER} header")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - sent) > max_age_seconds:
        raise SignatureError(f"{TIMESTAMP_HEADER} is more than {int(max_age_seconds)}s away from now")
    expected = sign(secret, delivery_id, timestamp, body)
    # Accept a space-separated list of signatures (rotation), like other HMAC webhook schemes.
    candidates = [s.strip() for s in signature.split(" ") if s.strip()]
    if not any(hmac.compare_digest(expected.encode(), cand.encode()) for cand in candidates):
        raise SignatureError("signature does not match")


@dataclass(frozen=True)
class Delivery:
    """A verified webhook delivery."""

    event: str
    data: dict[str, Any]
    delivery_id: str
    namespace: str | None = None
    registry: str | None = None

    @property
    def model(self) -> str | None:
        name = self.data.get("name")
        return name if isinstance(name, str) else None


#: Called for each verified registry event; returns how many ModelRegistries it triggered.
Trigger = Callable[[Delivery], Awaitable[int]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def create_webhook_app(
    secret: str, trigger: Trigger, *, max_age_seconds: float = 300, on_result: Callable[[str], None] | None = None
) -> web.Application:
    """The aiohttp app: ``POST /webhooks/mlflow[/<namespace>/<registry>]`` and ``GET /healthz``."""
    count = on_result or (lambda _result: None)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        if len(body) > MAX_BODY_BYTES:
            count("too_large")
            return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        delivery_id = request.headers.get(DELIVERY_ID_HEADER)
        try:
            verify_signature(
                secret,
                delivery_id=delivery_id,
                timestamp=request.headers.get(TIMESTAMP_HEADER),
                signature=request.headers.get(SIGNATURE_HEADER),
                body=body,
                max_age_seconds=max_age_seconds,
            )
        except SignatureError as exc:
            count("bad_signature")
            log.warning("rejected webhook delivery %s: %s", delivery_id, exc)
            return _error(401, f"invalid webhook signature: {exc}")
        try:
            payload = json.loads(body)
            entity, action = payload["entity"], payload["action"]
            data = payload.get("data") or {}
            if not isinstance(data, dict):
                raise TypeError("data must be an object")
        except (ValueError, KeyError, TypeError) as exc:
            count("bad_request")
            return _error(400, f"not an MLflow webhook payload: {exc}")
        event = f"{entity}.{action}"
        if event not in REGISTRY_EVENTS:
            count("ignored")
            return web.json_response({"status": "ignored", "event": event, "triggered": 0}, status=202)
        delivery = Delivery(
            event=event,
            data=data,
            delivery_id=str(delivery_id),
            namespace=request.match_info.get("namespace"),
            registry=request.match_info.get("registry"),
        )
        triggered = await trigger(delivery)
        count("accepted")
        log.info("webhook %s for model %s triggered %d registry sync(s)", event, delivery.model, triggered)
        return web.json_response({"status": "accepted", "event": event, "triggered": triggered}, status=202)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(client_max_size=MAX_BODY_BYTES + 1)
    app.router.add_post("/webhooks/mlflow", receive)
    app.router.add_post("/webhooks/mlflow/{namespace}/{registry}", receive)
    app.router.add_get("/healthz", healthz)
    return app
