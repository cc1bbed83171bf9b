"""Wiring of the image pipeline inside the gateway: object store, Kafka producer or in-process fan-out, and the
optional ``inference.log`` of every synchronous prediction.

With ``MODELSHIP_KAFKA_BOOTSTRAP_SERVERS`` set, an upload is published to ``images.uploaded`` and the streaming
worker scores it. Without it (``make demo``) an :class:`InProcessFanout` queue feeds the SAME
:class:`~modelship_scoring.fanout.ImageFanout` the worker uses, in batches, in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine

from modelship_common.kafka import AsyncProducer, KafkaPublisher, encode_json, wait_for_topics
from modelship_common.messages import UploadedImage
from modelship_common.predictions import PredictionRecord
from modelship_common.storage import ObjectStore, image_key, make_object_store
from modelship_gateway.prediction_store import PredictionStore
from modelship_gateway.settings import ImagePipelineSettings
from modelship_gateway.uploads.intake import ImageUploads
from modelship_scoring.core import Scoring
from modelship_scoring.errors import TransientFailure
from modelship_scoring.fanout import ImageFanout

log = logging.getLogger(__name__)


class InferenceLogStore(PredictionStore):
    """A :class:`PredictionStore` that also publishes each newly stored prediction to ``inference.log``."""

    def __init__(self, engine: Engine, producer: AsyncProducer, topic: str) -> None:
        super().__init__(engine)
        self.producer = producer
        self.topic = topic

    def save_many(self, records: Sequence[PredictionRecord]) -> list[bool]:
        stored = super().save_many(records)
        for record, new in zip(records, stored, strict=True):
            if not new:
                continue
            try:
                self.producer.publish_nowait(self.topic, record.request_id, encode_json(asdict(record)))
            except Exception as exc:  # the log is best effort; the prediction is stored
                log.warning("inference.log publish failed: %s", exc)
        return stored


class InProcessFanout:
    """Without Kafka: a queue of uploads drained in batches by one background task through :class:`ImageFanout`.

    A batch that fails transiently is retried with a backoff; uploads still queued at shutdown stay ``uploaded``.
    """

    def __init__(self, fanout: ImageFanout, *, batch: int, retry_s: float = 2.0, attempts: int = 5) -> None:
        self.fanout = fanout
        self.batch = batch
        self.retry_s = retry_s
        self.attempts = attempts
        self.queue: asyncio.Queue[UploadedImage] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, image: UploadedImage) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="image-fanout")
        self.queue.put_nowait(image)

    async def _run(self) -> None:
        while True:
            images = [await self.queue.get()]
            while len(images) < self.batch and not self.queue.empty():
                images.append(self.queue.get_nowait())
            for attempt in range(1, self.attempts + 1):
                try:
                    await self.fanout.process(images)
                    break
                except TransientFailure as exc:
                    log.warning("in-process fan-out of %d images failed (attempt %d): %s", len(images), attempt, exc)
                    await asyncio.sleep(self.retry_s * attempt)
                except Exception:
                    log.exception("in-process fan-out of %d images failed", len(images))
                    break

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Stop the background task (after up to ``timeout_s`` for the queue to empty)."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while not self.queue.empty():
                    await asyncio.sleep(0.05)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@dataclass
class ImagePipeline:
    """What the ``/api/images`` routes use, built once per gateway lifespan (see :func:`open_image_pipeline`)."""

    settings: ImagePipelineSettings
    objects: ObjectStore
    uploads: ImageUploads
    #: The store the synchronous predictions go through (logs to ``inference.log`` when that is on).
    prediction_store: PredictionStore
    publisher: KafkaPublisher | None = None
    local: InProcessFanout | None = None

    async def dispatch(self, image: UploadedImage) -> None:
        if self.publisher is not None:
            await self.publisher.uploaded(image)
        elif self.local is not None:
            await self.local.submit(image)


@contextlib.asynccontextmanager
async def open_image_pipeline(
    *,
    engine: Engine,
    scoring: Scoring,
    max_upload_bytes: int,
    settings: ImagePipelineSettings,
    on_model_latency: Callable[[str, float], None] | None = None,
) -> AsyncIterator[ImagePipeline]:
    """Build the pipeline for one gateway lifespan, configured by ``settings`` (the gateway's, carried by its
    lifespan); the in-process fan-out runs on ``scoring`` (the lifespan's scoring core). ``on_model_latency``: told
    ``(model, seconds)`` of every successful model-server call of the in-process fan-out."""
    objects = await asyncio.to_thread(make_object_store, settings)
    uploads = ImageUploads(
        objects=objects,
        engine=engine,
        max_bytes=max_upload_bytes,
        key_for=lambda image_id, content_type: image_key(settings, image_id, content_type),
    )
    producer: AsyncProducer | None = None
    try:
        if settings.kafka_enabled():
            config = settings.client_config()
            await asyncio.to_thread(
                wait_for_topics,
                config,
                settings.topic_specs(),
                timeout_s=settings.kafka_timeout_s,
                wait_s=settings.kafka_wait_s,
            )
            producer = AsyncProducer(config, timeout_s=settings.kafka_timeout_s)
            store: PredictionStore = (
                InferenceLogStore(engine, producer, settings.kafka_inference_log_topic)
                if settings.inference_log
                else PredictionStore(engine)
            )
            log.info("image uploads go to Kafka topic %s", settings.kafka_images_topic)
            yield ImagePipeline(settings, objects, uploads, store, publisher=KafkaPublisher(producer, settings))
            return
        fanout = scoring.image_fanout(
            objects=objects,
            engine=engine,
            max_image_bytes=max_upload_bytes,
            model_batch_size=settings.fanout_model_batch,
            on_model_latency=on_model_latency,
        )
        local = InProcessFanout(fanout, batch=settings.fanout_local_batch)
        log.info("no Kafka configured: uploaded images are scored in-process")
        try:
            yield ImagePipeline(settings, objects, uploads, PredictionStore(engine), local=local)
        finally:
            await local.drain()
    finally:
        if producer is not None:
            await asyncio.to_thread(producer.close)


def pipeline_state(pipeline: ImagePipeline) -> dict[str, Any]:
    """The lifespan state entry the routes read (``request.state.images``)."""
    return {"images": pipeline}
