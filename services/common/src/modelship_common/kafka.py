"""Kafka helpers (confluent-kafka): settings, topic creation, an asyncio-friendly producer, and the publisher of
the image pipeline's messages (:mod:`modelship_common.messages`).

Topics (``docs/contracts.md``): ``images.uploaded`` (key: image id), ``predictions`` (key: image id),
``images.uploaded.dlq`` and the optional ``inference.log``. confluent-kafka is imported lazily: nothing here
needs a broker until a producer or admin client is built.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship_common import tracing
from modelship_common.messages import ImageOutcome, UploadedImage
from modelship_common.settings import ENV_PREFIX

log = logging.getLogger(__name__)


class KafkaUnavailable(RuntimeError):
    """The broker could not be reached, or refused a message or topic; the message says why."""


class KafkaSettings(BaseSettings):
    """How to reach Kafka and which topics to use. Mixed into the gateway's and the worker's settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=None, extra="ignore", use_attribute_docstrings=True
    )

    kafka_bootstrap_servers: str | None = None
    """Kafka bootstrap servers (``host:port,...``); empty = no Kafka (the gateway scores uploads in-process)."""

    kafka_config: dict[str, str] = Field(default_factory=dict)
    """Extra librdkafka settings as JSON, applied to every producer, consumer and admin client."""

    kafka_images_topic: str = "images.uploaded"
    """Topic of uploaded images (key: image id)."""

    kafka_predictions_topic: str = "predictions"
    """Topic of the streamed predictions, one message per image (key: image id)."""

    kafka_dlq_topic: str = "images.uploaded.dlq"
    """Dead-letter topic: uploaded images that cannot be decoded, with the reason."""

    kafka_inference_log_topic: str = "inference.log"
    """Topic receiving every prediction when ``inference_log`` is on."""

    inference_log: bool = False
    """Also publish every prediction (streamed and synchronous) to the ``inference.log`` topic."""

    kafka_topic_partitions: int = Field(default=3, ge=1)
    """Partitions of the topics this service creates when they are missing."""

    kafka_replication_factor: int = Field(default=1, ge=1)
    """Replication factor of the topics this service creates when they are missing."""

    kafka_timeout_s: float = Field(default=10.0, gt=0)
    """How long to wait for the broker to acknowledge a message or an admin call."""

    kafka_wait_s: float = Field(default=120.0, ge=0)
    """At start, how long to keep trying to reach the broker (it may start after this service)."""

    def kafka_enabled(self) -> bool:
        return bool(self.kafka_bootstrap_servers)

    def client_config(self, **extra: Any) -> dict[str, Any]:
        """librdkafka configuration: bootstrap servers, then ``kafka_config``, then ``extra``."""
        if not self.kafka_bootstrap_servers:
            raise KafkaUnavailable("Kafka is not configured (set MODELSHIP_KAFKA_BOOTSTRAP_SERVERS)")
        return {"bootstrap.servers": self.kafka_bootstrap_servers, **self.kafka_config, **extra}

    def topic_specs(self) -> list[TopicSpec]:
        """Every topic the image pipeline uses (the DLQ with one partition)."""
        n, rf = self.kafka_topic_partitions, self.kafka_replication_factor
        topics = [
            TopicSpec(self.kafka_images_topic, n, rf),
            TopicSpec(self.kafka_predictions_topic, n, rf),
            TopicSpec(self.kafka_dlq_topic, 1, rf),
        ]
        if self.inference_log:
            topics.append(TopicSpec(self.kafka_inference_log_topic, n, rf))
        return topics


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 1
    replication_factor: int = 1


def wait_for_topics(
    config: Mapping[str, Any], topics: Iterable[TopicSpec], *, timeout_s: float = 10.0, wait_s: float = 0.0
) -> list[str]:
    """:func:`ensure_topics`, tried again for up to ``wait_s`` seconds while the broker cannot be reached (in a
    cluster the broker may start after its clients); the last :class:`KafkaUnavailable` is raised after that."""
    specs = list(topics)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return ensure_topics(config, specs, timeout_s=timeout_s)
        except KafkaUnavailable as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            log.warning("waiting for Kafka (%.0f s left): %s", left, exc)
            time.sleep(min(3.0, left))


def ensure_topics(config: Mapping[str, Any], topics: Iterable[TopicSpec], *, timeout_s: float = 10.0) -> list[str]:
    """Create the missing ``topics`` (existing ones are left alone); returns the names created."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(dict(config))
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        raise KafkaUnavailable(f"cannot list topics: {exc}") from exc
    wanted = [t for t in topics if t.name not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [NewTopic(t.name, num_partitions=t.partitions, replication_factor=t.replication_factor) for t in wanted],
        operation_timeout=timeout_s,
        request_timeout=timeout_s,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
            created.append(name)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise KafkaUnavailable(f"cannot create topic {name}: {exc}") from exc
    log.info("created Kafka topics %s", ", ".join(created) or "(none)")
    return created


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON (orjson); values JSON has no type for (datetimes aside) are written as ``str()``."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


class AsyncProducer:
    """A confluent-kafka Producer whose deliveries are awaitable; a daemon thread serves the callbacks.

    ``await publish(topic, key, value)`` returns once the broker acknowledged the message (acks=all, idempotent
    producer), or raises :class:`KafkaUnavailable`. ``publish_nowait`` only queues (best effort).
    """

    def __init__(self, config: Mapping[str, Any], *, timeout_s: float = 10.0) -> None:
        from confluent_kafka import Producer

        self.timeout_s = timeout_s
        conf = {
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "compression.type": "lz4",
            "message.timeout.ms": int(timeout_s * 1000),
            **dict(config),
        }
        self._producer = Producer(conf)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="kafka-producer-poll", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    def _produce(self, topic: str, key: str | bytes | None, value: bytes, headers: Any, on_delivery: Any) -> None:
        from confluent_kafka import KafkaException

        try:
            self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
        except BufferError:
            self._producer.poll(0.5)  # local queue full: let deliveries drain, then try once more
            self._producer.produce(topic, value=value, key=key, headers=headers, on_delivery=on_delivery)
        except KafkaException as exc:
            raise KafkaUnavailable(f"cannot publish to {topic}: {exc}") from exc

    async def publish(
        self, topic: str, key: str | bytes | None, value: bytes, headers: Mapping[str, str | bytes] | None = None
    ) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(err: Any, _msg: Any) -> None:
            if done.done():
                return
            if err is not None:
                done.set_exception(KafkaUnavailable(f"message to {topic} not delivered: {err.str()}"))
            else:
                done.set_result(None)

        def on_delivery(err: Any, msg: Any) -> None:
            loop.call_soon_threadsafe(settle, err, msg)

        self._produce(topic, key, value, list((headers or {}).items()), on_delivery)
        await asyncio.wait_for(done, self.timeout_s + 5)

    def publish_nowait(
        self, topic: str, key: str | bytes | None, value: bytes, headers: Mapping[str, str | bytes] | None = None
    ) -> None:
        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                log.warning("message to %s not delivered: %s", topic, err.str())

        self._produce(topic, key, value, list((headers or {}).items()), on_delivery)

    def flush(self, timeout_s: float | None = None) -> int:
        """Wait for queued messages; the number still undelivered."""
        return int(self._producer.flush(self.timeout_s if timeout_s is None else timeout_s))

    def close(self) -> None:
        left = self.flush()
        if left:
            log.warning("%d Kafka messages were not delivered before shutdown", left)
        self._stop.set()
        self._thread.join(timeout=2)


class KafkaPublisher:
    """Publishes fan-out results (``predictions``, optional ``inference.log``) and uploads (``images.uploaded``)."""

    def __init__(self, producer: AsyncProducer, settings: KafkaSettings) -> None:
        self.producer = producer
        self.settings = settings

    async def uploaded(self, image: UploadedImage) -> None:
        """Publish one upload; with tracing on, inside a PRODUCER span whose context the message headers carry."""
        topic, value = self.settings.kafka_images_topic, encode_json(image.to_message())
        if not tracing.enabled():
            await self.producer.publish(topic, image.image_id, value)
            return
        with tracing.kafka_producer_span(topic, image.image_id) as headers:
            await self.producer.publish(topic, image.image_id, value, headers)

    async def predictions(self, outcomes: Sequence[ImageOutcome]) -> None:
        """Publish the processed images' results (and, when enabled, every score to ``inference.log``).

        Each ``predictions`` message carries the W3C context of the upload it scored
        (:func:`modelship_common.tracing.parent_context` of its image id): with tracing on, inside a PRODUCER span
        ``send predictions`` under that upload's CONSUMER span; with it off, the upload's own ``traceparent``."""
        if self.settings.inference_log:
            for outcome in outcomes:
                for score in outcome.scores:
                    value = {"request_id": outcome.image.image_id, "source": "stream", **asdict(score)}
                    self.producer.publish_nowait(
                        self.settings.kafka_inference_log_topic, outcome.image.image_id, encode_json(value)
                    )
        topic = self.settings.kafka_predictions_topic
        processed = [o for o in outcomes if o.status == "processed"]
        keys = [o.image.image_id for o in processed]
        if tracing.enabled():
            with tracing.kafka_producer_spans(topic, keys) as headers:
                await self._publish_all(topic, processed, headers)
            return
        parents = [tracing.parent_context(key) for key in keys]
        await self._publish_all(
            topic, processed, [tracing.inject_headers(context=p) if p is not None else {} for p in parents]
        )

    async def _publish_all(
        self, topic: str, outcomes: Sequence[ImageOutcome], headers: Sequence[Mapping[str, bytes]]
    ) -> None:
        await asyncio.gather(
            *(
                self.producer.publish(topic, o.image.image_id, encode_json(o.to_message()), h or None)
                for o, h in zip(outcomes, headers, strict=True)
            )
        )
