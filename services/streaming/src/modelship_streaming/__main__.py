"""``python -m modelship_streaming [run|create-topics]``: the worker (default), or create the pipeline's topics."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from modelship_common.kafka import KafkaUnavailable, ensure_topics
from modelship_common.logs import configure_logging
from modelship_common.tracing import configure_tracing, shutdown_tracing
from modelship_streaming.metrics import Heartbeat, WorkerMetrics, serve_http
from modelship_streaming.settings import StreamingSettings, get_settings
from modelship_streaming.worker import build_worker


async def run(settings: StreamingSettings) -> None:
    metrics = WorkerMetrics()
    heartbeat = Heartbeat(settings.stall_after_s)
    stop_http = (
        serve_http(settings.metrics_host, settings.metrics_port, metrics, heartbeat) if settings.metrics_port else None
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with build_worker(settings, metrics, heartbeat) as worker:
            logging.getLogger("modelship_streaming").info(
                "consuming %s as group %s", settings.kafka_images_topic, settings.consumer_group
            )
            await worker.run(stop)
    finally:
        if stop_http is not None:
            stop_http()


def _loop_factory() -> Any:
    """uvloop's event loop when it is installed (a dependency of this package), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelship_streaming", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "create-topics"])
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        if args.command == "create-topics":
            created = ensure_topics(
                settings.client_config(), settings.topic_specs(), timeout_s=settings.kafka_timeout_s
            )
            print("created: " + (", ".join(created) or "nothing (all topics exist)"))
            return 0
        configure_tracing("modelship-streaming")  # only with OTEL_EXPORTER_OTLP_*ENDPOINT set
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(run(settings))
    except KafkaUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutdown_tracing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
