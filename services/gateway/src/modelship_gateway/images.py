"""The image pipeline's transport-neutral core: accept an upload, and fan an uploaded image out to every image
model. The gateway's ``POST /api/images`` calls :class:`ImageUploads`; the Kafka worker (``modelship_streaming``)
and the gateway's in-process path (no Kafka, ``make demo``) both call :meth:`ImageFanout.process`.

Fan-out of a batch of uploaded images:

1. fetch every image from the object store and decode-check it (``digits.decode_image``); an image that is
   missing or undecodable fails with the reason (the worker sends it to the dead-letter topic);
2. call every image model's server in parallel, several images per call (V2 BYTES ``[n]``);
3. in ONE transaction: insert one prediction row per (image id, model, version), ignoring rows that exist (the
   unique key makes replays idempotent), set each image row to ``processed`` or ``failed``, and record a
   ``dlq`` event for each newly failed image;
4. publish one ``predictions`` message per image (and one ``inference.log`` message per prediction, if on).

Model servers being down, the database or the store failing raise :class:`TransientFailure`: nothing is
acknowledged, and the caller retries the batch later.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from modelship_common.db import Event, Image, utcnow
from modelship_common.errors import InvalidInput
from modelship_common.events import event_row, record_event
from modelship_common.schemas import TASK_IMAGE, digits
from modelship_common.storage import ObjectNotFound, ObjectStore, StorageError
from modelship_gateway.discovery import Endpoint
from modelship_gateway.errors import (
    DiscoveryUnavailable,
    InvalidImage,
    PayloadTooLarge,
    StoreUnavailable,
    UpstreamError,
)
from modelship_gateway.group_commit import GroupCommit
from modelship_gateway.inventory import ModelInventory
from modelship_gateway.model_servers import (
    IMAGE_INPUT,
    ModelServerClient,
    Scores,
    V1Client,
    V2Client,
    call_json,
    parse_v1_response,
    parse_v2_response,
)
from modelship_gateway.registry_cache import RegistryCache
from modelship_gateway.service import column_names
from modelship_gateway.store import insert_predictions

log = logging.getLogger(__name__)

STREAM_SOURCE = "stream"
CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif"}


class TransientFailure(RuntimeError):
    """The batch could not be finished for a reason that may pass (model server, database, store); retry it."""


class NoImageModels(TransientFailure):
    """No ready image model is served right now."""


def sniff_content_type(data: bytes) -> str | None:
    """``image/png``, ``image/jpeg`` or ``image/gif`` from the file's magic bytes; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    return None


@dataclass(frozen=True)
class UploadedImage:
    """What ``images.uploaded`` carries (and the in-process queue): enough to find the image."""

    image_id: str
    storage_key: str
    content_type: str
    uploaded_at: str

    def to_message(self) -> dict[str, str]:
        return {
            "image_id": self.image_id,
            "storage_key": self.storage_key,
            "content_type": self.content_type,
            "uploaded_at": self.uploaded_at,
        }

    @classmethod
    def from_message(cls, value: Any) -> UploadedImage:
        """Parse a decoded ``images.uploaded`` JSON value; :class:`InvalidInput` saying what is wrong."""
        if not isinstance(value, dict):
            raise InvalidInput("message value must be a JSON object")
        fields = {}
        for name in ("image_id", "storage_key"):
            item = value.get(name)
            if not isinstance(item, str) or not item or len(item) > 255:
                raise InvalidInput(f"message field {name} must be a non-empty string")
            fields[name] = item
        if len(fields["image_id"]) > 36:
            raise InvalidInput("message field image_id is longer than 36 characters")
        return cls(
            image_id=fields["image_id"],
            storage_key=fields["storage_key"],
            content_type=str(value.get("content_type") or "application/octet-stream"),
            uploaded_at=str(value.get("uploaded_at") or ""),
        )


@dataclass(frozen=True)
class ModelTarget:
    """One served image model the fan-out calls."""

    endpoint: Endpoint
    version: str | None


@dataclass
class ModelScore:
    """One model's answer for one image."""

    model: str
    version: str
    class_id: int
    class_name: str
    confidence: float
    probabilities: dict[str, float]
    latency_ms: float


@dataclass
class ImageOutcome:
    """What happened to one image of a batch."""

    image: UploadedImage
    status: str  # processed | failed
    error: str | None = None
    #: The image cannot ever be scored (missing, undecodable, rejected by a model): dead-letter it.
    dead_letter: bool = False
    scores: list[ModelScore] = field(default_factory=list)

    def to_message(self) -> dict[str, Any]:
        return {
            "image_id": self.image.image_id,
            "status": self.status,
            "error": self.error,
            "predictions": [
                {
                    "model": s.model,
                    "version": s.version,
                    "class_id": s.class_id,
                    "class_name": s.class_name,
                    "confidence": s.confidence,
                    "latency_ms": s.latency_ms,
                }
                for s in self.scores
            ],
        }


class Publisher(Protocol):
    """Where the fan-out announces its results (Kafka in the worker; nothing in the demo)."""

    async def predictions(self, outcomes: Sequence[ImageOutcome]) -> None: ...


async def infer_images(
    client: ModelServerClient, endpoint: Endpoint, images: Sequence[bytes], request_id: str
) -> Scores:
    """Score several images in ONE call to a model server (V2 BYTES ``[n]`` or V1 ``instances``).

    Uses the gateway client's HTTP client, error handling and response parsers; a client of another kind is
    called once per image.
    """
    encoded = [base64.b64encode(data).decode("ascii") for data in images]
    if isinstance(client, V2Client):
        tensor = {"name": IMAGE_INPUT, "shape": [len(encoded)], "datatype": "BYTES", "data": encoded}
        url = f"{endpoint.url}/v2/models/{endpoint.name}/infer"
        return parse_v2_response(await call_json(client.http, "POST", url, json={"id": request_id, "inputs": [tensor]}))
    if isinstance(client, V1Client):
        url = f"{endpoint.url}/v1/models/{endpoint.name}:predict"
        body = await call_json(client.http, "POST", url, json={"instances": [{"b64": b} for b in encoded]})
        return parse_v1_response(body)
    parts = await asyncio.gather(*(client.infer_image(endpoint, data, request_id) for data in images))
    return Scores(
        version=parts[0].version,
        class_ids=[i for p in parts for i in p.class_ids],
        class_names=[n for p in parts for n in p.class_names],
        probabilities=[row for p in parts for row in p.probabilities],
        classes=parts[0].classes,
    )


class ImageModels:
    """The ready image models, from the gateway's inventory (discovery + model-server probes + registry tags),
    cached for ``ttl_s`` seconds so a busy worker does not probe every server for every batch."""

    def __init__(self, inventory: ModelInventory, *, ttl_s: float = 10.0, names: Sequence[str] = ()) -> None:
        self.inventory = inventory
        self.ttl_s = ttl_s
        self.names = tuple(names)
        self._cached: list[ModelTarget] = []
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> list[ModelTarget]:
        async with self._lock:
            if time.monotonic() < self._expires:
                return self._cached
            try:
                summaries = await self.inventory.list_models()
            except DiscoveryUnavailable as exc:
                raise TransientFailure(str(exc)) from exc
            found = [
                ModelTarget(Endpoint(s.name, s.url), s.version)
                for s in summaries
                if s.server_ready and (s.name in self.names if self.names else s.task == TASK_IMAGE)
            ]
            self._cached = found
            self._expires = time.monotonic() + (self.ttl_s if found else min(self.ttl_s, 1.0))
            log.debug("image models: %s", ", ".join(t.endpoint.name for t in found) or "none")
            return found

    def invalidate(self) -> None:
        self._expires = 0.0


class ImageFanout:
    """Scores uploaded images with every image model and stores the results (see the module docstring)."""

    def __init__(
        self,
        *,
        objects: ObjectStore,
        engine: Engine,
        models: ImageModels,
        client: ModelServerClient,
        registry: RegistryCache,
        max_image_bytes: int,
        model_batch_size: int = 64,
        publisher: Publisher | None = None,
        source: str = STREAM_SOURCE,
        on_model_latency: Callable[[str, float], None] | None = None,
    ) -> None:
        self.objects = objects
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.models = models
        self.client = client
        self.registry = registry
        self.max_image_bytes = max_image_bytes
        self.model_batch_size = max(1, model_batch_size)
        self.publisher = publisher
        self.source = source
        self.on_model_latency = on_model_latency

    # ------------------------------------------------------------------------------------------- fetching

    def _fetch_one(self, image: UploadedImage) -> bytes | ImageOutcome:
        try:
            data = self.objects.get(image.storage_key)
        except ObjectNotFound as exc:
            return ImageOutcome(image, "failed", f"image not found in object storage: {exc}", dead_letter=True)
        except (StorageError, ValueError) as exc:
            if isinstance(exc, ValueError):
                return ImageOutcome(image, "failed", f"bad storage key: {exc}", dead_letter=True)
            raise TransientFailure(str(exc)) from exc
        try:
            digits.decode_image(data, self.max_image_bytes)
        except InvalidInput as exc:
            return ImageOutcome(image, "failed", str(exc), dead_letter=True)
        return data

    def _fetch_all(self, images: Sequence[UploadedImage]) -> list[bytes | ImageOutcome]:
        return [self._fetch_one(image) for image in images]

    async def _fetch(self, images: Sequence[UploadedImage]) -> list[bytes | ImageOutcome]:
        # A few threads, each fetching and decode-checking a slice (the store client is thread-safe).
        n = min(8, max(1, len(images) // 16))
        slices = [images[i::n] for i in range(n)]
        parts = await asyncio.gather(*(asyncio.to_thread(self._fetch_all, s) for s in slices))
        out: list[bytes | ImageOutcome] = [b""] * len(images)
        for i, part in enumerate(parts):
            for j, item in enumerate(part):
                out[i + j * n] = item
        return out

    # -------------------------------------------------------------------------------------------- scoring

    async def _score_chunk(
        self, target: ModelTarget, ids: list[int], data: list[bytes], request_id: str
    ) -> tuple[list[int], Scores | None, float, dict[int, str]]:
        """Score ``data`` with one model; on a 4xx for the whole chunk, score image by image to find the culprit."""
        started = time.perf_counter()
        try:
            scores = await infer_images(self.client, target.endpoint, data, request_id)
            if len(scores.class_ids) != len(data):
                raise UpstreamError(f"model server answered {len(scores.class_ids)} predictions for {len(data)} images")
            return ids, scores, (time.perf_counter() - started) * 1000.0, {}
        except UpstreamError as exc:
            if exc.status_code >= 500:
                self.models.invalidate()
                raise TransientFailure(f"model {target.endpoint.name}: {exc}") from exc
            if len(data) == 1:
                return ids, None, 0.0, {ids[0]: f"model {target.endpoint.name} rejected the image: {exc}"}
        # A 4xx for a chunk of several images: one of them is bad for this model; find it.
        results = await asyncio.gather(
            *(self._score_chunk(target, [i], [d], request_id) for i, d in zip(ids, data, strict=True))
        )
        merged_ids: list[int] = []
        merged: list[Scores] = []
        rejected: dict[int, str] = {}
        latency = 0.0
        for r_ids, r_scores, r_latency, r_rejected in results:
            rejected.update(r_rejected)
            if r_scores is not None:
                merged_ids += r_ids
                merged.append(r_scores)
                latency = max(latency, r_latency)
        if not merged:
            return [], None, 0.0, rejected
        combined = Scores(
            version=merged[0].version,
            class_ids=[i for s in merged for i in s.class_ids],
            class_names=[n for s in merged for n in s.class_names],
            probabilities=[row for s in merged for row in s.probabilities],
            classes=merged[0].classes,
        )
        return merged_ids, combined, latency, rejected

    async def _score_model(
        self, target: ModelTarget, ids: list[int], data: list[bytes], request_id: str
    ) -> tuple[dict[int, ModelScore], dict[int, str]]:
        size = self.model_batch_size
        chunks = [(ids[i : i + size], data[i : i + size]) for i in range(0, len(ids), size)]
        results = await asyncio.gather(
            *(self._score_chunk(target, c_ids, c_data, request_id) for c_ids, c_data in chunks)
        )
        scored: dict[int, ModelScore] = {}
        rejected: dict[int, str] = {}
        name = target.endpoint.name
        for c_ids, scores, latency_ms, c_rejected in results:
            rejected.update(c_rejected)
            if scores is None:
                continue
            if self.on_model_latency is not None:
                self.on_model_latency(name, latency_ms / 1000.0)
            info = await self.registry.get(name, scores.version)
            names = column_names(scores, info, digits.CLASSES)
            version = scores.version or "unknown"
            for idx, cid, cname, row in zip(
                c_ids, scores.class_ids, scores.class_names, scores.probabilities, strict=True
            ):
                confidence = float(row[cid]) if 0 <= cid < len(row) else float(max(row))
                scored[idx] = ModelScore(
                    model=name,
                    version=version,
                    class_id=cid,
                    class_name=cname,
                    confidence=confidence,
                    probabilities={names[j]: float(p) for j, p in enumerate(row)},
                    latency_ms=round(latency_ms, 3),
                )
        return scored, rejected

    # ---------------------------------------------------------------------------------------------- storing

    def _store(self, outcomes: list[ImageOutcome], sizes: dict[str, int]) -> int:
        rows: list[dict[str, Any]] = []
        now = utcnow()
        for outcome in outcomes:
            if outcome.status != "processed":
                continue
            image_id = outcome.image.image_id
            described = {
                "image_id": image_id,
                "storage_key": outcome.image.storage_key,
                "content_type": outcome.image.content_type,
                "bytes": sizes.get(image_id, 0),
            }
            for s in outcome.scores:
                rows.append(
                    {
                        "created_at": now,
                        "request_id": image_id,
                        "source": self.source,
                        "model_name": s.model,
                        "model_version": s.version,
                        "n_instances": 1,
                        "predicted_class": s.class_name,
                        "confidence": s.confidence,
                        "latency_ms": s.latency_ms,
                        "input": described,
                        "output": {
                            "predictions": [
                                {"class_id": s.class_id, "class_name": s.class_name, "probabilities": s.probabilities}
                            ]
                        },
                    }
                )
        processed = [o.image.image_id for o in outcomes if o.status == "processed"]
        failed = [o for o in outcomes if o.status == "failed"]
        with self.engine.begin() as conn:
            inserted = insert_predictions(conn, rows)
            if processed:
                conn.execute(update(Image).where(Image.id.in_(processed)).values(status="processed", error=None))
            session = Session(bind=conn)  # joins this connection's transaction
            for outcome in failed:
                newly = conn.execute(
                    update(Image)
                    .where(Image.id == outcome.image.image_id, Image.status != "failed")
                    .values(status="failed", error=outcome.error)
                ).rowcount
                known = newly or conn.execute(select(Image.id).where(Image.id == outcome.image.image_id)).first()
                if newly or not known:
                    record_event(
                        session,
                        "dlq" if outcome.dead_letter else "failure",
                        f"image {outcome.image.image_id} failed: {outcome.error}",
                        image_id=outcome.image.image_id,
                        storage_key=outcome.image.storage_key,
                        reason=outcome.error,
                    )
            session.flush()
        return inserted

    # ------------------------------------------------------------------------------------------------ main

    async def process(self, images: Sequence[UploadedImage]) -> list[ImageOutcome]:
        """Fan ``images`` out to every image model, store and publish the results; one outcome per image.

        Raises :class:`TransientFailure` (nothing stored that a retry would not store the same way) when a model
        server, the database or the object store fails.
        """
        if not images:
            return []
        fetched = await self._fetch(images)
        outcomes: list[ImageOutcome | None] = [f if isinstance(f, ImageOutcome) else None for f in fetched]
        good = [i for i, f in enumerate(fetched) if not isinstance(f, ImageOutcome)]
        sizes = {images[i].image_id: len(fetched[i]) for i in good}  # type: ignore[arg-type]
        if good:
            targets = await self.models.get()
            if not targets:
                raise NoImageModels("no image model is served and ready")
            data = [fetched[i] for i in good]
            request_id = images[good[0]].image_id
            per_model = await asyncio.gather(
                *(self._score_model(t, good, data, request_id) for t in targets)  # type: ignore[arg-type]
            )
            for i in good:
                rejected = [r[1][i] for r in per_model if i in r[1]]
                if rejected:
                    outcomes[i] = ImageOutcome(images[i], "failed", "; ".join(rejected), dead_letter=True)
                else:
                    scores = [r[0][i] for r in per_model if i in r[0]]
                    outcomes[i] = ImageOutcome(images[i], "processed", scores=scores)
        done = [o for o in outcomes if o is not None]
        try:
            inserted = await asyncio.to_thread(self._store, done, sizes)
        except SQLAlchemyError as exc:
            raise TransientFailure(f"predictions store failed: {type(exc).__name__}: {exc}") from exc
        log.debug("batch of %d images: %d prediction rows inserted", len(done), inserted)
        if self.publisher is not None:
            await self.publisher.predictions(done)
        return done


# ------------------------------------------------------------------------------------------------ uploads


@dataclass(frozen=True)
class StoredUpload:
    image: UploadedImage
    size_bytes: int
    sha256: str


Dispatch = Callable[[UploadedImage], Awaitable[None]]


class ImageUploads:
    """``POST /api/images``: check the file, keep the original, record it, hand it to ``dispatch`` (Kafka or the
    in-process fan-out)."""

    def __init__(self, *, objects: ObjectStore, engine: Engine, max_bytes: int, key_for: Callable[[str, str], str]):
        self.objects = objects
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        self.max_bytes = max_bytes
        self.key_for = key_for
        #: Concurrent uploads share their database transaction (see :mod:`modelship_gateway.group_commit`).
        self._records: GroupCommit[tuple[StoredUpload, str, str]] = GroupCommit(self._record)

    def _record(self, uploads: Sequence[tuple[StoredUpload, str, str]]) -> None:
        """The ``images`` rows and their ``upload`` events of a group of uploads, in one transaction."""
        images = []
        events = []
        for upload, filename, source in uploads:
            image = upload.image
            images.append(
                {
                    "id": image.image_id,
                    "created_at": dt.datetime.fromisoformat(image.uploaded_at),
                    "filename": filename[:255],
                    "content_type": image.content_type,
                    "size_bytes": upload.size_bytes,
                    "sha256": upload.sha256,
                    "storage_key": image.storage_key,
                    "status": "uploaded",
                    "error": None,
                    "source": source[:32],
                }
            )
            events.append(
                event_row(
                    "upload",
                    f"image {image.image_id} uploaded ({upload.size_bytes} bytes)",
                    image_id=image.image_id,
                    filename=filename[:255],
                    size_bytes=upload.size_bytes,
                    source=source[:32],
                )
            )
        with self.engine.begin() as conn:
            conn.execute(insert(Image), images)
            conn.execute(insert(Event), events)

    def _check_and_store(self, data: bytes, upload: StoredUpload) -> None:
        """The blocking steps before the database, in one worker-thread hop: decode check, object store."""
        try:
            digits.decode_image(data, self.max_bytes)
        except InvalidInput as exc:
            raise InvalidImage(str(exc)) from exc
        try:
            self.objects.put(upload.image.storage_key, data, upload.image.content_type)
        except StorageError as exc:
            raise StoreUnavailable(f"image could not be stored: {exc}") from exc

    def mark_failed(self, image_id: str, reason: str) -> None:
        with self.sessions.begin() as session:
            session.execute(update(Image).where(Image.id == image_id).values(status="failed", error=reason))
            record_event(session, "failure", f"image {image_id} failed: {reason}", image_id=image_id, reason=reason)

    async def upload(self, data: bytes, *, filename: str | None, source: str, dispatch: Dispatch) -> StoredUpload:
        """Validate, store and record ``data``, then ``dispatch`` it. :class:`PayloadTooLarge`, :class:`InvalidImage`,
        :class:`StoreUnavailable` (storage or database down) or :class:`TransientFailure` (queueing failed)."""
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(f"image is {len(data)} bytes; the limit is {self.max_bytes} bytes")
        content_type = sniff_content_type(data)
        if content_type is None:
            raise InvalidImage("not a PNG, JPEG or GIF image")
        image_id = str(uuid.uuid4())
        image = UploadedImage(
            image_id=image_id,
            storage_key=self.key_for(image_id, content_type),
            content_type=content_type,
            uploaded_at=utcnow().isoformat(),
        )
        upload = StoredUpload(image, len(data), hashlib.sha256(data).hexdigest())
        await asyncio.to_thread(self._check_and_store, data, upload)
        try:
            await self._records.submit((upload, filename or "", source))
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"image could not be recorded: {type(exc).__name__}") from exc
        try:
            await dispatch(image)
        except Exception as exc:
            reason = f"could not be queued for scoring: {exc}"
            await asyncio.to_thread(self.mark_failed, image_id, reason)
            raise StoreUnavailable(f"image {image_id} {reason}") from exc
        return upload
