"""The worker's pure pieces, without servers: message parsing, offsets, dedupe, settings, the metrics it counts;
and the metrics/probes HTTP endpoint on a loopback port (marked integration)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest

from devtools.procs import free_port
from modelship_common.kafka import KafkaSettings, KafkaUnavailable, TopicSpec
from modelship_streaming.metrics import Heartbeat, WorkerMetrics, serve_http
from modelship_streaming.settings import StreamingSettings
from modelship_streaming.worker import consumer_config, dedupe, first_offsets, next_offsets, parse_message


class Msg:
    """The part of confluent_kafka.Message the worker reads."""

    def __init__(
        self,
        value: bytes | None,
        key: bytes | None = None,
        partition: int = 0,
        offset: int = 0,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        self._value, self._key, self._partition, self._offset = value, key, partition, offset
        self._headers = headers

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def topic(self) -> str:
        return "images.uploaded"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


def uploaded(image_id: str, **kw: object) -> bytes:
    return json.dumps(
        {"image_id": image_id, "storage_key": f"k/{image_id}.png", "content_type": "image/png", **kw}
    ).encode()


def test_parse_message() -> None:
    ok = parse_message(Msg(uploaded("a1"), key=b"a1"))
    assert ok.image is not None and ok.image.image_id == "a1" and ok.error is None
    assert parse_message(Msg(uploaded("a1"), key=None)).image is not None
    for msg, why in [
        (Msg(b"{oops"), "unreadable message"),
        (Msg(None), "unreadable message"),
        (Msg(b"[1]"), "JSON object"),
        (Msg(json.dumps({"image_id": "x"}).encode()), "storage_key"),
        (Msg(uploaded("a1"), key=b"b2"), "is not the image id"),
    ]:
        parsed = parse_message(msg)
        assert parsed.image is None and why in (parsed.error or ""), parsed


def test_offsets_and_dedupe() -> None:
    msgs = [Msg(uploaded("a"), partition=0, offset=5), Msg(uploaded("b"), partition=1, offset=9)]
    msgs += [Msg(uploaded("a"), partition=0, offset=7), Msg(b"junk", partition=0, offset=6)]
    assert next_offsets(msgs) == {("images.uploaded", 0): 8, ("images.uploaded", 1): 10}
    assert first_offsets(msgs) == {("images.uploaded", 0): 5, ("images.uploaded", 1): 9}
    kept = dedupe([parse_message(m) for m in msgs])
    assert [(p.image.image_id if p.image else None) for p in kept] == ["a", "b", None]


def test_settings_fields_are_documented_and_kafka_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in (StreamingSettings, KafkaSettings):
        undocumented = [name for name, f in cls.model_fields.items() if not f.description]
        assert not undocumented, f"{cls.__name__} fields without a description: {undocumented}"
    monkeypatch.delenv("MODELSHIP_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    settings = StreamingSettings()
    with pytest.raises(KafkaUnavailable, match="MODELSHIP_KAFKA_BOOTSTRAP_SERVERS"):
        consumer_config(settings)
    monkeypatch.setenv("MODELSHIP_KAFKA_BOOTSTRAP_SERVERS", "k:9092")
    monkeypatch.setenv("MODELSHIP_KAFKA_CONFIG", '{"client.id": "w1"}')
    monkeypatch.setenv("MODELSHIP_CONSUMER_GROUP", "g1")
    monkeypatch.setenv("MODELSHIP_INFERENCE_LOG", "true")
    settings = StreamingSettings()
    config = consumer_config(settings)
    assert config["bootstrap.servers"] == "k:9092" and config["client.id"] == "w1" and config["group.id"] == "g1"
    assert config["enable.auto.commit"] is False
    assert settings.topic_specs() == [
        TopicSpec("images.uploaded", 3, 1),
        TopicSpec("predictions", 3, 1),
        TopicSpec("images.uploaded.dlq", 1, 1),
        TopicSpec("inference.log", 3, 1),
    ]


@pytest.mark.integration
def test_metrics_and_probes_endpoint() -> None:
    metrics, heartbeat = WorkerMetrics(), Heartbeat(stall_after_s=60)
    port = free_port()
    stop = serve_http("127.0.0.1", port, metrics, heartbeat)
    try:
        metrics.consumed.inc(3)
        metrics.observe_model("digits-fast", 0.02)
        metrics.lag.labels("images.uploaded", "0").set(7)
        url = f"http://127.0.0.1:{port}"
        text = httpx.get(f"{url}/metrics").text
        assert "modelship_streaming_consumed_total 3.0" in text
        assert 'modelship_streaming_model_latency_seconds_count{model="digits-fast"} 1.0' in text
        assert 'modelship_streaming_consumer_lag{partition="0",topic="images.uploaded"} 7.0' in text
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 503  # no partitions yet
        heartbeat.ready = True
        assert httpx.get(f"{url}/readyz").status_code == 200
        heartbeat.last -= 120
        assert httpx.get(f"{url}/healthz").status_code == 503
        assert httpx.get(f"{url}/nope").status_code == 404
    finally:
        stop()


class FakeFanout:
    """ImageFanout.process: image ids starting with "bad" fail (dead-lettered), the others are processed."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    async def process(self, images: list[Any]) -> list[Any]:
        from modelship_common.messages import ImageOutcome

        for _ in images:
            self.metrics.observe_model("digits-fast", 0.03)
        return [
            ImageOutcome(i, "failed", "cannot decode", dead_letter=True)
            if i.image_id.startswith("bad")
            else ImageOutcome(i, "processed")
            for i in images
        ]


TRACEPARENT = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None]] = []
        self.headers: dict[bytes | None, dict[str, bytes]] = {}

    async def publish(self, topic: str, key: bytes | None, value: bytes, headers: dict[str, bytes]) -> None:
        self.sent.append((topic, key))
        self.headers[key] = headers


def test_handle_counts_every_message_by_outcome() -> None:
    """One batch through StreamWorker.handle (fake fan-out and producer), then the exposition /metrics serves
    (``generate_latest`` of the worker's registry; the endpoint itself is test_metrics_and_probes_endpoint)."""
    import asyncio

    from prometheus_client import generate_latest

    from modelship_streaming.worker import StreamWorker

    metrics, heartbeat = WorkerMetrics(), Heartbeat(stall_after_s=60)
    producer = FakeProducer()
    settings = StreamingSettings(kafka_bootstrap_servers="127.0.0.1:1")
    worker = StreamWorker(settings, FakeFanout(metrics), None, producer, metrics, heartbeat)  # type: ignore[arg-type]
    batch = [
        Msg(uploaded("a1"), key=b"a1", offset=0),
        Msg(uploaded("a2"), key=b"a2", offset=1),
        Msg(uploaded("a1"), key=b"a1", offset=2),  # a replayed duplicate
        Msg(uploaded("bad1"), key=b"bad1", offset=3, headers=[("traceparent", TRACEPARENT)]),
        Msg(b"{not json", key=b"junk", offset=4, headers=[("traceparent", TRACEPARENT), ("tracestate", b"v=1")]),
    ]
    text = generate_latest(metrics.registry).decode()
    for outcome in ("processed", "failed", "unreadable", "duplicate"):  # all exported at 0 from the start
        assert f'modelship_streaming_messages_total{{outcome="{outcome}"}} 0.0' in text
    asyncio.run(worker.handle(batch))
    text = generate_latest(metrics.registry).decode()
    assert 'modelship_streaming_messages_total{outcome="processed"} 2.0' in text
    assert 'modelship_streaming_messages_total{outcome="failed"} 1.0' in text
    assert 'modelship_streaming_messages_total{outcome="unreadable"} 1.0' in text
    assert 'modelship_streaming_messages_total{outcome="duplicate"} 1.0' in text
    assert "modelship_streaming_dlq_total 2.0" in text
    # Tracing off: the dead letters still carry the trace of the message they copy (nothing recorded here).
    assert producer.headers[b"bad1"]["traceparent"] == TRACEPARENT and "tracestate" not in producer.headers[b"bad1"]
    assert producer.headers[b"junk"]["traceparent"] == TRACEPARENT and producer.headers[b"junk"]["tracestate"] == b"v=1"
    assert producer.headers[b"junk"]["modelship.source.offset"] == b"4"
    assert "modelship_streaming_failed_total 2.0" in text and "modelship_streaming_processed_total 2.0" in text
    assert 'modelship_streaming_model_latency_seconds_count{model="digits-fast"} 3.0' in text
    assert 'modelship_streaming_model_latency_seconds_bucket{le="0.05",model="digits-fast"} 3.0' in text
    assert sorted(key for _, key in producer.sent) == [b"bad1", b"junk"]
    assert {topic for topic, _ in producer.sent} == {settings.kafka_dlq_topic}


def test_cli_without_kafka_fails_fast_with_a_message() -> None:
    env = {"PATH": "/usr/bin:/bin", "MODELSHIP_DATABASE_URL": "sqlite:///:memory:", "MODELSHIP_METRICS_PORT": "0"}
    for command in (["create-topics"], []):
        done = subprocess.run(
            [sys.executable, "-m", "modelship_streaming", *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        assert "MODELSHIP_KAFKA_BOOTSTRAP_SERVERS" in done.stderr
