"""modelship_common.tracing: off unless an OTLP endpoint is set; W3C context through Kafka headers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from modelship_common import tracing
from modelship_common.kafka import KafkaPublisher, KafkaSettings
from modelship_common.messages import ImageOutcome, UploadedImage

#: Run in a fresh interpreter: what configure_tracing installed, as JSON.
PROBE = """
import json, sys
import httpx
from opentelemetry import trace
from modelship_common import tracing
on = tracing.configure_tracing("probe")
transport = httpx.AsyncClient()._transport
print(json.dumps({
    "on": on,
    "enabled": tracing.enabled(),
    "provider": type(tracing.provider()).__module__ + "." + type(tracing.provider()).__name__,
    "global": type(trace.get_tracer_provider()).__name__,
    "sdk_imported": any(m.startswith("opentelemetry.sdk") for m in sys.modules),
    "httpx_wrapped": hasattr(type(transport).handle_async_request, "__wrapped__")
        or hasattr(transport.handle_async_request, "__wrapped__"),
}))
tracing.shutdown_tracing()
"""


def run_probe(script: str, **env: str) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter with no OTEL_* variable but ``env``; the JSON object it prints last."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run(
        [sys.executable, "-c", script], env={**clean, **env}, capture_output=True, text=True, timeout=120, check=True
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def probe(**env: str) -> dict[str, Any]:
    return run_probe(PROBE, **env)


def test_without_an_otlp_endpoint_nothing_is_installed() -> None:
    state = probe()
    assert state == {
        "on": False,
        "enabled": False,
        "provider": "builtins.NoneType",
        "global": "ProxyTracerProvider",
        "sdk_imported": False,
        "httpx_wrapped": False,
    }


def test_sdk_disabled_wins_over_an_endpoint() -> None:
    assert probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1", OTEL_SDK_DISABLED="true")["on"] is False


def test_an_otlp_endpoint_turns_tracing_on() -> None:
    # Nothing listens on port 1: the exporter's failure at shutdown is logged, not raised.
    state = probe(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:1/v1/traces", OTEL_EXPORTER_OTLP_TIMEOUT="1")
    assert state["on"] is True and state["enabled"] is True and state["httpx_wrapped"] is True
    assert state["provider"] == "opentelemetry.sdk.trace.TracerProvider"
    # Left alone, so FastAPI's own tracing stays off (no second SERVER span inside kserve's app).
    assert state["global"] == "ProxyTracerProvider"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "false"}, True),
    ],
)
def test_requested(env: dict[str, str], expected: bool) -> None:
    assert tracing.requested(env) is expected


class Message:
    """What the worker reads from confluent-kafka: topic, partition, offset, key, headers."""

    def __init__(self, topic: str, partition: int, offset: int, key: bytes, headers: Any) -> None:
        self._t, self._p, self._o, self._k, self._h = topic, partition, offset, key, headers

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes:
        return self._k

    def headers(self) -> Any:
        return self._h


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, bytes, Any]] = []

    async def publish(self, topic: str, key: Any, value: bytes, headers: Any = None) -> None:
        self.sent.append((topic, key, value, headers))


def image(n: int) -> UploadedImage:
    return UploadedImage(
        image_id=f"id-{n}", storage_key=f"k/{n}.png", content_type="image/png", uploaded_at="2026-12-02T00:00:00Z"
    )


def test_publisher_sends_no_headers_when_tracing_is_off() -> None:
    producer = Producer()
    asyncio.run(KafkaPublisher(producer, KafkaSettings()).uploaded(image(1)))
    assert producer.sent[0][3] is None


def test_upload_context_travels_through_kafka_headers_to_the_consumer_spans(spans: InMemorySpanExporter) -> None:
    producer = Producer()
    publisher = KafkaPublisher(producer, KafkaSettings())
    for n in (1, 2):
        asyncio.run(publisher.uploaded(image(n)))
    sends = {s.attributes["messaging.kafka.message.key"]: s for s in spans.get_finished_spans()}  # type: ignore[index]
    assert {s.name for s in sends.values()} == {"send images.uploaded"}
    assert all(s.kind is trace.SpanKind.PRODUCER for s in sends.values())
    messages = []
    for offset, (topic, key, _value, headers) in enumerate(producer.sent):
        assert set(headers) == {"traceparent"}
        sent = sends[key].context
        version, trace_id, parent_id, flags = headers["traceparent"].decode().split("-")
        assert (version, trace_id, parent_id) == ("00", f"{sent.trace_id:032x}", f"{sent.span_id:016x}")
        assert int(flags, 16) & 1  # sampled
        # confluent-kafka hands headers back as a list of (str, bytes)
        messages.append(Message(topic, 0, offset, key.encode(), list(headers.items())))
    spans.clear()
    with tracing.kafka_consumer_spans(messages, group="g") as opened:
        current = trace.get_current_span()
        assert current is opened[0]
        assert tracing.current_trace_id() == f"{sends['id-1'].context.trace_id:032x}"
    consumed = spans.get_finished_spans()
    assert [s.name for s in consumed] == ["process images.uploaded"] * 2
    by_key = {s.attributes["messaging.kafka.message.key"]: s for s in consumed}  # type: ignore[index]
    for key, span in by_key.items():
        assert span.kind is trace.SpanKind.CONSUMER
        assert span.parent is not None and span.parent.span_id == sends[key].context.span_id
        assert span.context.trace_id == sends[key].context.trace_id
        assert span.attributes is not None and span.attributes["messaging.consumer.group.name"] == "g"
        assert span.attributes["messaging.batch.message_count"] == 2
    # The second message was scored in the first message's trace: its span links there.
    assert [link.context.span_id for link in by_key["id-2"].links] == [by_key["id-1"].context.span_id]


def test_a_failed_batch_marks_every_consumer_span(spans: InMemorySpanExporter) -> None:
    messages = [Message("t", 0, i, b"k", None) for i in range(2)]
    with pytest.raises(RuntimeError), tracing.kafka_consumer_spans(messages):
        raise RuntimeError("model server down")
    finished = spans.get_finished_spans()
    assert len(finished) == 2 and all(s.status.status_code is trace.StatusCode.ERROR for s in finished)
    # No headers: each message starts a trace of its own.
    assert all(s.parent is None for s in finished)


def test_extract_reads_mappings_and_pairs() -> None:
    header = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    for carrier in ({"traceparent": header}, [("TraceParent", header)]):
        ctx = trace.get_current_span(tracing.extract_headers(carrier)).get_span_context()
        assert f"{ctx.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c" and ctx.is_remote
    assert not trace.get_current_span(tracing.extract_headers(None)).get_span_context().is_valid


def outcome(n: int, status: str = "processed") -> ImageOutcome:
    return ImageOutcome(image(n), status, None if status == "processed" else "cannot decode")


def test_each_predictions_message_continues_the_trace_of_the_upload_it_scored(spans: InMemorySpanExporter) -> None:
    """The worker's path: uploads consumed in one batch, then their predictions published together."""
    producer = Producer()
    publisher = KafkaPublisher(producer, KafkaSettings())
    for n in (1, 2, 3):
        asyncio.run(publisher.uploaded(image(n)))
    uploads = [Message(t, 0, i, k.encode(), list(h.items())) for i, (t, k, _v, h) in enumerate(producer.sent)]
    producer.sent.clear()
    spans.clear()
    with tracing.kafka_consumer_spans(uploads) as consumed:
        contexts = tracing.consumed_contexts(uploads, consumed)
        parents = {f"id-{n}": ctx for n, ctx in zip((1, 2, 3), contexts, strict=True)}
        with tracing.message_parents(parents):
            asyncio.run(publisher.predictions([outcome(1), outcome(2), outcome(3, "failed")]))
        assert tracing.parent_context("id-1") is None  # only inside the block
    sends = [s for s in spans.get_finished_spans() if s.kind is trace.SpanKind.PRODUCER]
    by_key = {s.attributes["messaging.kafka.message.key"]: s for s in sends}  # type: ignore[index]
    consumer_of = {f"id-{n}": span.get_span_context() for n, span in zip((1, 2, 3), consumed, strict=True)}
    assert [(topic, key) for topic, key, _v, _h in producer.sent] == [("predictions", "id-1"), ("predictions", "id-2")]
    for _topic, key, _value, headers in producer.sent:
        send = by_key[key]
        assert send.name == "send predictions"
        # under the CONSUMER span of its own upload (not the batch's first), so in that upload's trace
        assert send.parent is not None and send.parent.span_id == consumer_of[key].span_id
        assert send.context.trace_id == consumer_of[key].trace_id
        _, trace_id, parent_id, _ = headers["traceparent"].decode().split("-")
        assert (trace_id, parent_id) == (f"{send.context.trace_id:032x}", f"{send.context.span_id:016x}")
    assert consumer_of["id-1"].trace_id != consumer_of["id-2"].trace_id


def test_with_tracing_off_predictions_carry_the_uploads_own_traceparent() -> None:
    header = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    producer = Producer()
    publisher = KafkaPublisher(producer, KafkaSettings())
    uploads = [Message("images.uploaded", 0, 0, b"id-1", [("traceparent", header)]), Message("t", 0, 1, b"id-2", None)]
    contexts = tracing.consumed_contexts(uploads)  # no spans: what the headers carry
    with tracing.message_parents({"id-1": contexts[0], "id-2": contexts[1]}):
        asyncio.run(publisher.predictions([outcome(1), outcome(2)]))
    asyncio.run(publisher.predictions([outcome(3)]))  # outside a worker batch
    headers = {key: h for _t, key, _v, h in producer.sent}
    assert headers == {"id-1": {"traceparent": header}, "id-2": None, "id-3": None}
