"""The Kafka side of the image pipeline: consume ``images.uploaded`` in batches, run the shared fan-out core
(:class:`modelship_scoring.fanout.ImageFanout`), dead-letter what cannot be scored, commit.

Delivery: offsets are committed only after the batch's prediction rows, image statuses and dead letters are
written, so a crash replays the batch; the predictions table's unique key turns the replay into no new rows
(at-least-once delivery + idempotent writes = exactly-once rows). A transient failure (a model server, the
database or object storage down) seeks back and retries the same batch with a growing pause. The
confluent-kafka client reconnects by itself after a broker restart; commits that fail meanwhile are kept and
retried (commits are cumulative per partition).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from modelship_common import tracing
from modelship_common.db import make_engine, migrate
from modelship_common.errors import InvalidInput
from modelship_common.kafka import AsyncProducer, KafkaPublisher, KafkaUnavailable, wait_for_topics
from modelship_common.messages import UploadedImage
from modelship_common.storage import make_object_store
from modelship_scoring.core import open_scoring
from modelship_scoring.errors import TransientFailure
from modelship_scoring.fanout import ImageFanout
from modelship_streaming.metrics import Heartbeat, WorkerMetrics
from modelship_streaming.settings import StreamingSettings

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0
ERROR_HEADER = "modelship.error"


@dataclass(frozen=True)
class Parsed:
    """One consumed message: the image it announces, or why it cannot be read."""

    message: Any
    image: UploadedImage | None
    error: str | None = None


def parse_message(message: Any) -> Parsed:
    """Decode an ``images.uploaded`` message (JSON value; the key, when there is one, must be the image id)."""
    try:
        value = json.loads(message.value() or b"")
        image = UploadedImage.from_message(value)
    except (ValueError, InvalidInput) as exc:
        return Parsed(message, None, f"unreadable message: {exc}")
    key = message.key()
    if key is not None and key.decode("utf-8", "replace") != image.image_id:
        return Parsed(message, None, f"message key {key!r} is not the image id {image.image_id}")
    return Parsed(message, image)


def next_offsets(messages: Sequence[Any]) -> dict[tuple[str, int], int]:
    """Per (topic, partition): the offset to commit after ``messages`` (highest offset + 1)."""
    out: dict[tuple[str, int], int] = {}
    for m in messages:
        key = (m.topic(), m.partition())
        out[key] = max(out.get(key, -1), m.offset() + 1)
    return out


def first_offsets(messages: Sequence[Any]) -> dict[tuple[str, int], int]:
    """Per (topic, partition): the lowest offset in ``messages`` (where to seek back to replay them)."""
    out: dict[tuple[str, int], int] = {}
    for m in messages:
        key = (m.topic(), m.partition())
        out[key] = min(out.get(key, m.offset()), m.offset())
    return out


def dedupe(parsed: Sequence[Parsed]) -> list[Parsed]:
    """Keep the first message per image id (a batch may hold a replayed duplicate)."""
    seen: set[str] = set()
    out = []
    for p in parsed:
        if p.image is None:
            out.append(p)
        elif p.image.image_id not in seen:
            seen.add(p.image.image_id)
            out.append(p)
    return out


def consumer_config(settings: StreamingSettings) -> dict[str, Any]:
    return settings.client_config(
        **{
            "group.id": settings.consumer_group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "max.poll.interval.ms": 600_000,
            "session.timeout.ms": 30_000,
            # Let the broker gather a batch (up to 50 ms) instead of answering every fetch with the one or two
            # messages that just arrived: a tenth of the fetch requests under load, at most 50 ms later.
            "fetch.wait.max.ms": 50,
            "fetch.min.bytes": 64 * 1024,
            "reconnect.backoff.max.ms": 2_000,
            "partition.assignment.strategy": "cooperative-sticky",
        }
    )


class StreamWorker:
    """One consumer in the group; ``await run(stop)`` until ``stop`` is set, then commit and close."""

    def __init__(
        self,
        settings: StreamingSettings,
        fanout: ImageFanout,
        consumer: Any,
        producer: AsyncProducer,
        metrics: WorkerMetrics,
        heartbeat: Heartbeat,
    ) -> None:
        self.settings = settings
        self.fanout = fanout
        self.consumer = consumer
        self.producer = producer
        self.metrics = metrics
        self.heartbeat = heartbeat
        self.pending: dict[tuple[str, int], int] = {}
        self.backoff_s = settings.retry_backoff_s
        self._lag_at = 0.0

    # ---------------------------------------------------------------------------------------------- kafka

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing")
        self.heartbeat.ready = True

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Commit what was processed of the partitions leaving us (best effort: the next owner replays the rest)."""
        revoked = {(p.topic, p.partition) for p in partitions}
        mine = {k: v for k, v in self.pending.items() if k in revoked}
        if mine:
            with contextlib.suppress(Exception):
                self._commit_now(mine)
        for k in revoked:
            self.pending.pop(k, None)
            with contextlib.suppress(Exception):
                self.metrics.lag.remove(k[0], str(k[1]))

    def _commit_now(self, offsets: dict[tuple[str, int], int]) -> None:
        from confluent_kafka import TopicPartition

        self.consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
            asynchronous=False,
        )

    async def _commit_pending(self) -> bool:
        if not self.pending:
            return True
        offsets = dict(self.pending)
        try:
            await asyncio.to_thread(self._commit_now, offsets)
        except Exception as exc:  # broker away or rebalancing: keep them, commits are cumulative
            log.warning("offset commit failed (will retry): %s", exc)
            return False
        for k, v in offsets.items():
            if self.pending.get(k) == v:
                del self.pending[k]
        return True

    def _seek_back(self, messages: Sequence[Any]) -> None:
        from confluent_kafka import TopicPartition

        for (topic, partition), offset in first_offsets(messages).items():
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except Exception as exc:  # partition revoked meanwhile: its next owner replays it
                log.info("seek %s[%d] to %d failed: %s", topic, partition, offset, exc)

    def _update_lag(self) -> None:
        try:
            assigned = self.consumer.assignment()
            if not assigned:
                return
            for tp in self.consumer.position(assigned):
                _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    continue
                position = tp.offset if tp.offset >= 0 else high
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - position))
        except Exception as exc:
            log.debug("lag update failed: %s", exc)

    async def _poll(self) -> list[Any]:
        messages = await asyncio.to_thread(
            self.consumer.consume, num_messages=self.settings.batch_size, timeout=self.settings.batch_wait_s
        )
        good = []
        for m in messages:
            err = m.error()
            if err is None:
                good.append(m)
            else:
                log.warning("consume error: %s", err)
        return good

    async def _dead_letter(self, parsed: Parsed, reason: str, context: tracing.Context) -> None:
        """Copy the message to the dead-letter topic with why, where it came from and its trace: with tracing on
        a PRODUCER span ``send <dlq topic>`` under the message's CONSUMER span, off the message's own
        ``traceparent``/``tracestate``."""
        m = parsed.message
        topic = self.settings.kafka_dlq_topic
        headers = {
            ERROR_HEADER: reason[:4000].encode(),
            "modelship.source.topic": m.topic().encode(),
            "modelship.source.partition": str(m.partition()).encode(),
            "modelship.source.offset": str(m.offset()).encode(),
        }
        if not tracing.enabled():
            headers = tracing.inject_headers(headers, context=context)
            await self.producer.publish(topic, m.key(), m.value() or b"", headers)
        else:
            key = m.key()
            text_key = key.decode("utf-8", "replace") if key is not None else None
            with tracing.kafka_producer_span(topic, text_key, context=context) as trace_headers:
                await self.producer.publish(topic, key, m.value() or b"", {**headers, **trace_headers})
        self.metrics.dlq.inc()

    # ----------------------------------------------------------------------------------------------- main

    async def handle(self, messages: Sequence[Any]) -> None:
        """Score, store and dead-letter one batch; raises :class:`TransientFailure` / :class:`KafkaUnavailable`.

        With tracing on, each message gets a CONSUMER span continuing the trace its headers carry (the gateway's
        PRODUCER span); the batch's model-server calls are in the first message's trace.
        """
        if not tracing.enabled():
            await self._handle(messages, tracing.consumed_contexts(messages))
            return
        with tracing.kafka_consumer_spans(messages, group=self.settings.consumer_group) as spans:
            await self._handle(messages, tracing.consumed_contexts(messages, spans))

    async def _handle(self, messages: Sequence[Any], contexts: Sequence[tracing.Context]) -> None:
        """``contexts``: the trace each message's results continue (:func:`tracing.consumed_contexts`)."""
        of_message = {id(m): ctx for m, ctx in zip(messages, contexts, strict=True)}
        every = [parse_message(m) for m in messages]
        parsed = dedupe(every)
        readable = [p for p in parsed if p.image is not None]
        parents = {p.image.image_id: of_message[id(p.message)] for p in readable if p.image is not None}
        with tracing.message_parents(parents):  # each predictions message continues its upload's trace
            outcomes = await self.fanout.process([p.image for p in readable if p.image is not None])
        letters = [(p, p.error or "unreadable message") for p in parsed if p.image is None]
        letters += [(p, o.error or "failed") for p, o in zip(readable, outcomes, strict=True) if o.dead_letter]
        await asyncio.gather(*(self._dead_letter(p, reason, of_message[id(p.message)]) for p, reason in letters))
        counts = {  # every message of the batch by outcome (a batch replayed after a crash counts again)
            "processed": sum(1 for o in outcomes if o.status == "processed"),
            "failed": sum(1 for o in outcomes if o.status == "failed"),
            "unreadable": sum(1 for p in parsed if p.image is None),
            "duplicate": len(every) - len(parsed),
        }
        self.metrics.failed.inc(counts["failed"] + counts["unreadable"])
        self.metrics.processed.inc(counts["processed"])
        for outcome, n in counts.items():
            if n:
                self.metrics.messages.labels(outcome=outcome).inc(n)

    async def run(self, stop: asyncio.Event) -> None:
        self.consumer.subscribe(
            [self.settings.kafka_images_topic], on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        try:
            while not stop.is_set():
                self.heartbeat.beat()
                await self._commit_pending()
                messages = await self._poll()
                if time.monotonic() - self._lag_at > 2.0:
                    self._update_lag()
                    self._lag_at = time.monotonic()
                if not messages:
                    continue
                self.metrics.consumed.inc(len(messages))
                self.metrics.batch_size.observe(len(messages))
                started = time.perf_counter()
                try:
                    await self.handle(messages)
                except (TransientFailure, KafkaUnavailable) as exc:
                    self.metrics.retries.labels(reason=type(exc).__name__).inc()
                    log.warning("batch of %d failed, retrying in %.1fs: %s", len(messages), self.backoff_s, exc)
                    self._seek_back(messages)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.backoff_s)
                    self.backoff_s = min(self.backoff_s * 2, MAX_BACKOFF_S)
                    continue
                self.backoff_s = self.settings.retry_backoff_s
                for k, v in next_offsets(messages).items():
                    self.pending[k] = max(self.pending.get(k, -1), v)
                await self._commit_pending()
                self.metrics.batch_seconds.observe(time.perf_counter() - started)
        finally:
            await self._commit_pending()
            await asyncio.to_thread(self.consumer.close)


@contextlib.asynccontextmanager
async def build_worker(
    settings: StreamingSettings, metrics: WorkerMetrics, heartbeat: Heartbeat
) -> AsyncIterator[StreamWorker]:
    """Everything the worker needs, from the settings; closed on exit."""
    from confluent_kafka import Consumer

    if not settings.kafka_enabled():
        raise KafkaUnavailable("the streaming worker needs Kafka: set MODELSHIP_KAFKA_BOOTSTRAP_SERVERS")
    await asyncio.to_thread(migrate, settings.database_url, settings.database_wait_s)
    if settings.create_topics:
        await asyncio.to_thread(
            wait_for_topics,
            settings.client_config(),
            settings.topic_specs(),
            timeout_s=settings.kafka_timeout_s,
            wait_s=settings.kafka_wait_s,
        )
    engine = make_engine(settings.database_url)
    objects = await asyncio.to_thread(make_object_store, settings)
    producer = AsyncProducer(settings.client_config(), timeout_s=settings.kafka_timeout_s)
    try:
        async with open_scoring(settings, max_connections=64) as scoring:
            fanout = scoring.image_fanout(
                objects=objects,
                engine=engine,
                max_image_bytes=settings.max_image_bytes,
                model_batch_size=settings.model_batch_size,
                publisher=KafkaPublisher(producer, settings),
                on_model_latency=metrics.observe_model,
            )
            consumer = Consumer(consumer_config(settings))
            yield StreamWorker(settings, fanout, consumer, producer, metrics, heartbeat)
    finally:
        await asyncio.to_thread(producer.close)
        engine.dispose()
