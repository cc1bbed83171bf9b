"""Clients for the model servers' inference protocols (Open Inference Protocol v2, and KServe v1).

One shared :class:`aiohttp.ClientSession` carries every call (about a quarter of httpx's CPU per request, which
is most of what the gateway spends on a prediction). Failures become :class:`UpstreamError`: a model server's
4xx keeps its status and message, anything else (5xx, refused connection, timeout, garbage) is 502.
"""

from __future__ import annotations

import asyncio
import base64
import json as jsonlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import numpy as np

from modelship_common.schemas import TASK_IMAGE, TASK_TABULAR
from modelship_scoring.discovery import Endpoint
from modelship_scoring.errors import UpstreamError

TABULAR_INPUT = "input-0"
IMAGE_INPUT = "image"


@dataclass(frozen=True)
class ServerStatus:
    """What a model server says about one of its models."""

    ready: bool
    version: str | None = None
    task: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Scores:
    """A model server's answer for n instances: class ids and names, and [n, C] probabilities."""

    version: str | None
    class_ids: list[int]
    class_names: list[str]
    probabilities: list[list[float]]
    #: Name of each probability column, when the server said (v1 dicts, or a v2 ``classes`` parameter).
    classes: list[str] | None = None


class ModelServerClient(Protocol):
    """Talks to a model server in one inference protocol."""

    async def status(self, endpoint: Endpoint, timeout: float) -> ServerStatus: ...

    async def infer_matrix(self, endpoint: Endpoint, matrix: np.ndarray, request_id: str) -> Scores: ...

    async def infer_image(self, endpoint: Endpoint, data: bytes, request_id: str) -> Scores: ...

    async def infer_images(self, endpoint: Endpoint, images: Sequence[bytes], request_id: str) -> Scores:
        """Score several images in ONE call (V2 BYTES ``[n]`` or V1 ``instances``); one answer row per image."""
        ...


def error_message(status: int, reason: str | None, content: bytes) -> str:
    """The message in a model server's error body (``{"error": ...}`` or ``{"detail": ...}``), else its text."""
    try:
        body = jsonlib.loads(content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            if body.get(key):
                value = body[key]
                return value if isinstance(value, str) else str(value)
    text = content.decode("utf-8", "replace").strip()
    return text[:500] if text else (reason or f"HTTP {status}")


def _dumps(value: Any) -> str:
    return jsonlib.dumps(value, separators=(",", ":"))


def model_server_session(connector: aiohttp.BaseConnector, timeout: aiohttp.ClientTimeout) -> aiohttp.ClientSession:
    """An HTTP client to model servers. Responses are read whole and parsed here; no cookies or proxies from the
    environment between services."""
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
    )


#: Pauses before the retries of a request whose connection could not be made. Nothing was sent, so any request may
#: be retried: a model server pod that is being replaced refuses connections until its Service stops naming it.
CONNECT_RETRY_DELAYS_S = (0.05, 0.2, 0.5)


async def _request(
    http: aiohttp.ClientSession, method: str, url: str, kwargs: dict[str, Any]
) -> tuple[int, str | None, bytes]:
    """Send once; again after a refused connection (:data:`CONNECT_RETRY_DELAYS_S`); and again, once and at once, on
    a new connection outside the pool, when the server dropped the connection before it answered.

    A server that stops closes its kept-alive connections, and a request sent on one as it closes is reset: a
    replaced model server pod cost a caller a 502 (``Connection reset by peer``) in the real-node canary e2e. The
    calls this client makes (health, metadata, predictions) change nothing on the model server, so the one resend
    on a new connection is safe; only one, so that a request that kills the server is not sent to it four times.
    Timeouts are not retried.
    """
    pauses = iter(CONNECT_RETRY_DELAYS_S)
    while True:
        try:
            async with http.request(method, url, **kwargs) as response:
                return response.status, response.reason, await response.read()
        except aiohttp.ClientConnectorError:
            delay = next(pauses, None)
            if delay is None:
                raise
            await asyncio.sleep(delay)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            # Not through the pool: its other kept-alive connections to that server are being closed too (the
            # real-node e2e saw a resend reset again). A new connection goes where the Service routes now.
            async with (
                model_server_session(aiohttp.TCPConnector(force_close=True), http.timeout) as fresh,
                fresh.request(method, url, **kwargs) as response,
            ):
                return response.status, response.reason, await response.read()


async def call_json(
    http: aiohttp.ClientSession, method: str, url: str, *, json: Any = None, timeout: float | None = None
) -> dict[str, Any]:
    """One request to a model server; the JSON object it answered, or :class:`UpstreamError`."""
    kwargs: dict[str, Any] = {}
    if json is not None:
        kwargs["data"] = _dumps(json)
        kwargs["headers"] = {"Content-Type": "application/json"}
    if timeout is not None:
        kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
    try:
        status, reason, content = await _request(http, method, url, kwargs)
    except TimeoutError as exc:
        raise UpstreamError(f"model server timed out: {method} {url} ({type(exc).__name__})") from exc
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"model server unreachable: {method} {url}: {exc or type(exc).__name__}") from exc
    if status >= 500:
        raise UpstreamError(f"model server failed ({status}): {error_message(status, reason, content)}")
    if status >= 400:
        raise UpstreamError(f"model server rejected the request: {error_message(status, reason, content)}", status)
    try:
        body = jsonlib.loads(content)
    except ValueError as exc:
        raise UpstreamError(f"model server sent a non-JSON answer to {method} {url}") from exc
    if not isinstance(body, dict):
        raise UpstreamError(f"model server sent an unexpected answer to {method} {url}")
    return body


def _task_from_metadata(inputs: Any) -> str | None:
    """Guess the task from V2 metadata inputs: BYTES or 4-D tensors are images, 2-D numeric ones tabular."""
    if not isinstance(inputs, list) or not inputs or not isinstance(inputs[0], dict):
        return None
    first = inputs[0]
    shape = first.get("shape") or []
    if first.get("datatype") == "BYTES" or len(shape) == 4:
        return TASK_IMAGE
    if len(shape) == 2:
        return TASK_TABULAR
    return None


class V2Client:
    """Open Inference Protocol v2: ``/v2/models/{name}[/ready|/infer]``."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def status(self, endpoint: Endpoint, timeout: float) -> ServerStatus:
        base = f"{endpoint.url}/v2/models/{endpoint.name}"
        try:
            meta = await call_json(self.http, "GET", base, timeout=timeout)
        except UpstreamError as exc:
            return ServerStatus(ready=False, error=str(exc))
        versions = [str(v) for v in meta.get("versions") or []]
        version = versions[-1] if versions else None
        task = _task_from_metadata(meta.get("inputs"))
        try:
            ready = await call_json(self.http, "GET", f"{base}/ready", timeout=timeout)
        except UpstreamError as exc:
            return ServerStatus(ready=False, version=version, task=task, error=str(exc))
        return ServerStatus(ready=bool(ready.get("ready", True)), version=version, task=task)

    async def _infer(self, endpoint: Endpoint, tensor: dict[str, Any], request_id: str) -> Scores:
        url = f"{endpoint.url}/v2/models/{endpoint.name}/infer"
        body = await call_json(self.http, "POST", url, json={"id": request_id, "inputs": [tensor]})
        return parse_v2_response(body)

    async def infer_matrix(self, endpoint: Endpoint, matrix: np.ndarray, request_id: str) -> Scores:
        matrix = np.asarray(matrix, dtype=np.float32)
        tensor = {
            "name": TABULAR_INPUT,
            "shape": list(matrix.shape),
            "datatype": "FP32",
            "data": matrix.reshape(-1).tolist(),
        }
        return await self._infer(endpoint, tensor, request_id)

    async def infer_image(self, endpoint: Endpoint, data: bytes, request_id: str) -> Scores:
        tensor = {
            "name": IMAGE_INPUT,
            "shape": [1],
            "datatype": "BYTES",
            "data": [base64.b64encode(data).decode("ascii")],
        }
        return await self._infer(endpoint, tensor, request_id)

    async def infer_images(self, endpoint: Endpoint, images: Sequence[bytes], request_id: str) -> Scores:
        encoded = [base64.b64encode(data).decode("ascii") for data in images]
        tensor = {"name": IMAGE_INPUT, "shape": [len(encoded)], "datatype": "BYTES", "data": encoded}
        return await self._infer(endpoint, tensor, request_id)


def parse_v2_response(body: dict[str, Any]) -> Scores:
    """``class_id`` INT64 [N], ``class_name`` BYTES [N], ``probabilities`` FP32 [N, C] -> :class:`Scores`."""
    outputs = {o.get("name"): o for o in body.get("outputs") or [] if isinstance(o, dict)}
    missing = [name for name in ("class_id", "class_name", "probabilities") if name not in outputs]
    if missing:
        raise UpstreamError(f"model server answer lacks the outputs {', '.join(missing)}")
    try:
        probs = outputs["probabilities"]
        matrix = np.asarray(probs["data"], dtype=np.float64).reshape(probs["shape"])
        if matrix.ndim != 2:
            raise ValueError(f"probabilities has shape {list(matrix.shape)}, expected [N, C]")
        ids = np.asarray(outputs["class_id"]["data"], dtype=np.int64).reshape(-1).tolist()
        names = [str(v) for v in np.asarray(outputs["class_name"]["data"], dtype=object).reshape(-1).tolist()]
        if not len(ids) == len(names) == matrix.shape[0]:
            raise ValueError("class_id, class_name and probabilities disagree on the number of instances")
    except (KeyError, TypeError, ValueError) as exc:
        raise UpstreamError(f"model server sent malformed outputs: {exc}") from exc
    params = probs.get("parameters") or {}
    classes = params.get("classes") if isinstance(params, dict) else None
    version = body.get("model_version")
    return Scores(
        version=str(version) if version not in (None, "") else None,
        class_ids=[int(i) for i in ids],
        class_names=names,
        probabilities=matrix.tolist(),
        classes=[str(c) for c in classes] if isinstance(classes, list) else None,
    )


class V1Client:
    """KServe v1: ``/v1/models/{name}`` and ``/v1/models/{name}:predict``."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def status(self, endpoint: Endpoint, timeout: float) -> ServerStatus:
        try:
            body = await call_json(self.http, "GET", f"{endpoint.url}/v1/models/{endpoint.name}", timeout=timeout)
        except UpstreamError as exc:
            return ServerStatus(ready=False, error=str(exc))
        return ServerStatus(ready=bool(body.get("ready", False)))

    async def _predict(self, endpoint: Endpoint, instances: list[Any]) -> Scores:
        url = f"{endpoint.url}/v1/models/{endpoint.name}:predict"
        body = await call_json(self.http, "POST", url, json={"instances": instances})
        return parse_v1_response(body)

    async def infer_matrix(self, endpoint: Endpoint, matrix: np.ndarray, request_id: str) -> Scores:
        return await self._predict(endpoint, np.asarray(matrix, dtype=np.float32).tolist())

    async def infer_image(self, endpoint: Endpoint, data: bytes, request_id: str) -> Scores:
        return await self._predict(endpoint, [{"b64": base64.b64encode(data).decode("ascii")}])

    async def infer_images(self, endpoint: Endpoint, images: Sequence[bytes], request_id: str) -> Scores:
        return await self._predict(endpoint, [{"b64": base64.b64encode(data).decode("ascii")} for data in images])


def parse_v1_response(body: dict[str, Any]) -> Scores:
    """``{"predictions": [{"class_id", "class_name", "probabilities": {class: p}}], "model_version"}``."""
    rows = body.get("predictions")
    try:
        if not isinstance(rows, list) or not rows:
            raise ValueError("no predictions")
        classes = [str(c) for c in rows[0]["probabilities"]]
        probabilities = [[float(row["probabilities"][c]) for c in classes] for row in rows]
        ids = [int(row["class_id"]) for row in rows]
        names = [str(row["class_name"]) for row in rows]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UpstreamError(f"model server sent malformed predictions: {exc}") from exc
    version = body.get("model_version")
    return Scores(
        version=str(version) if version not in (None, "") else None,
        class_ids=ids,
        class_names=names,
        probabilities=probabilities,
        classes=classes,
    )


def make_client(protocol: str, http: aiohttp.ClientSession) -> ModelServerClient:
    """The client for ``protocol`` ("v2" or "v1")."""
    if protocol == "v2":
        return V2Client(http)
    if protocol == "v1":
        return V1Client(http)
    raise ValueError(f"unknown inference protocol {protocol!r}; use v1 or v2")
