"""Prometheus metrics of the gateway, served at ``GET /metrics`` (the port the pod annotations name, 8000).

Each application gets its own :class:`~prometheus_client.CollectorRegistry` (``create_app`` builds many apps in
one test process). :class:`RequestMetrics` is a pure ASGI middleware: after the router has run it reads the
matched route from the ASGI scope (Starlette puts it there), so the ``route`` label is the path template
(``/api/models/{name}/predict``), never the raw path; requests no route matched are ``route="unmatched"``.
Methods outside the standard set are ``method="OTHER"``. Label children are cached, so a request costs two
clock reads, one dict lookup, one observe and one increment.

With several worker processes (``MODELSHIP_WORKERS``), ``PROMETHEUS_MULTIPROC_DIR`` is set before they start:
prometheus_client then keeps every sample in a file per process under it, and :meth:`GatewayMetrics.render`
sums all the workers' files, so any worker answering a scrape reports the whole gateway. The per-process
collectors (CPU, memory, GC) are left out in that mode, as they would describe one worker only.
"""

from __future__ import annotations

import os
import time
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
#: Request latency buckets (seconds): sub-millisecond health checks up to slow uploads.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Model-server call buckets (seconds).
UPSTREAM_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class GatewayMetrics:
    """The gateway's metrics on a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        if process and self.multiprocess_dir is None:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self.request_seconds = Histogram(
            "modelship_gateway_request_duration_seconds",
            "Time from request to the end of the response, by method, route template and status code.",
            ("method", "route", "status"),
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.requests = Counter(
            "modelship_gateway_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.upstream_seconds = Histogram(
            "modelship_gateway_upstream_request_duration_seconds",
            "Inference calls to the model servers, by served model and outcome (ok; rejected = the model server "
            "answered 4xx; error = 5xx, unreachable, timeout or a malformed answer).",
            ("model", "outcome"),
            buckets=UPSTREAM_BUCKETS,
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._upstream_children: dict[tuple[str, str], Any] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            labels = (method, route, str(status))
            children = (self.request_seconds.labels(*labels), self.requests.labels(*labels))
            self._request_children[key] = children
        children[0].observe(seconds)
        children[1].inc()

    def observe_upstream(self, model: str, outcome: str, seconds: float) -> None:
        key = (model, outcome)
        child = self._upstream_children.get(key)
        if child is None:
            child = self._upstream_children[key] = self.upstream_seconds.labels(model, outcome)
        child.observe(seconds)

    def render(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)
        return generate_latest(merged)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestMetrics:
    """Pure ASGI middleware timing every HTTP request into :class:`GatewayMetrics`."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope["method"]
            self.metrics.observe_request(
                method if method in METHODS else "OTHER", _route_of(scope), status, time.perf_counter() - started
            )
