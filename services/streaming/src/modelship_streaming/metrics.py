"""Worker metrics (prometheus_client, own registry) and a tiny HTTP server for /metrics, /healthz and /readyz."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

#: The ``outcome`` label values of ``modelship_streaming_messages_total``.
MESSAGE_OUTCOMES = ("processed", "failed", "unreadable", "duplicate")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class WorkerMetrics:
    """The ``modelship_streaming_*`` metrics of one worker process."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter("modelship_streaming_consumed", "Messages taken from images.uploaded.", registry=r)
        self.processed = Counter(
            "modelship_streaming_processed", "Images scored by every image model and stored.", registry=r
        )
        self.failed = Counter("modelship_streaming_failed", "Images that failed (dead-lettered).", registry=r)
        self.dlq = Counter("modelship_streaming_dlq", "Messages published to the dead-letter topic.", registry=r)
        self.messages = Counter(
            "modelship_streaming_messages",
            "Messages of images.uploaded handled, by outcome: processed (scored and stored), failed (the image "
            "could not be scored), unreadable (not a valid message), duplicate (a replay within one batch).",
            ["outcome"],
            registry=r,
        )
        for outcome in MESSAGE_OUTCOMES:  # every outcome exported from the start, so rate() sees the first one
            self.messages.labels(outcome=outcome)
        self.retries = Counter(
            "modelship_streaming_batch_retries", "Batches retried after a transient failure.", ["reason"], registry=r
        )
        self.model_latency = Histogram(
            "modelship_streaming_model_latency_seconds",
            "Duration of one batched call to a model server.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "modelship_streaming_batch_seconds",
            "Time from taking a batch from Kafka to committing it.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "modelship_streaming_batch_size",
            "Messages per batch.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=r,
        )
        self.lag = Gauge(
            "modelship_streaming_consumer_lag",
            "Messages of images.uploaded not yet committed by this worker, per partition.",
            ["topic", "partition"],
            registry=r,
        )

    def observe_model(self, model: str, seconds: float) -> None:
        self.model_latency.labels(model=model).observe(seconds)


class Heartbeat:
    """When the consume loop last turned, and whether the worker is ready (connected and assigned)."""

    def __init__(self, stall_after_s: float) -> None:
        self.stall_after_s = stall_after_s
        self.last = time.monotonic()
        self.ready = False

    def beat(self) -> None:
        self.last = time.monotonic()

    def alive(self) -> bool:
        return time.monotonic() - self.last < self.stall_after_s


def serve_http(host: str, port: int, metrics: WorkerMetrics, heartbeat: Heartbeat) -> Callable[[], None]:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` in a daemon thread; returns the function stopping it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                ok = heartbeat.alive()
                self._send(200 if ok else 503, b"ok\n" if ok else b"consume loop stalled\n")
            elif path == "/readyz":
                ok = heartbeat.ready and heartbeat.alive()
                self._send(200 if ok else 503, b"ok\n" if ok else b"not ready\n")
            else:
                self._send(404, b"not found\n")

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # scrapes are not news
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop
