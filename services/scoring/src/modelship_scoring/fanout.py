"""The image fan-out: score a batch of uploaded images with every image model and store the results. The Kafka
worker (``modelship_streaming``) and the gateway's in-process path (no Kafka, ``make demo``) both call
:meth:`ImageFanout.process`; build one with :meth:`modelship_scoring.core.Scoring.image_fanout`.

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
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from modelship_common.db import Image, utcnow
from modelship_common.errors import InvalidInput
from modelship_common.events import record_event
from modelship_common.messages import ImageOutcome, ModelScore, UploadedImage
from modelship_common.predictions import insert_predictions
from modelship_common.schemas import TASK_IMAGE, digits
from modelship_common.storage import ObjectNotFound, ObjectStore, StorageError
from modelship_scoring.columns import column_names
from modelship_scoring.discovery import Endpoint
from modelship_scoring.errors import DiscoveryUnavailable, NoImageModels, TransientFailure, UpstreamError
from modelship_scoring.inventory import ModelInventory
from modelship_scoring.model_servers import ModelServerClient, Scores
from modelship_scoring.registry_cache import RegistryCache
from modelship_scoring.rollout.cache import ActiveRollouts
from modelship_scoring.rollout.traffic import CANDIDATE, route

log = logging.getLogger(__name__)

STREAM_SOURCE = "stream"
#: ``source`` of a rollout candidate's copy (stored for the rollout's analysis beside the champion's row).
MIRROR_SOURCE = "mirror"


def _prediction(score: ModelScore) -> dict[str, Any]:
    """One image's entry in a row's ``output.predictions``."""
    return {"class_id": score.class_id, "class_name": score.class_name, "probabilities": score.probabilities}


@dataclass(frozen=True)
class ModelTarget:
    """One served image model the fan-out calls."""

    endpoint: Endpoint
    version: str | None


class Publisher(Protocol):
    """Where the fan-out announces its results (Kafka in the worker; nothing in the demo)."""

    async def predictions(self, outcomes: Sequence[ImageOutcome]) -> None: ...


class ImageModels:
    """The ready image models, from the inventory (discovery + model-server probes + registry tags),
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
        #: Image models in a Shadow or Canary rollout: their candidate also scores the images routed to it.
        self.rollouts = ActiveRollouts(engine, ttl_s=2.0)

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
            scores = await self.client.infer_images(target.endpoint, data, request_id)
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

    async def _candidate_rows(
        self, targets: Sequence[ModelTarget], images: Sequence[UploadedImage], good: list[int], data: list[bytes]
    ) -> list[dict[str, Any]]:
        """The rollout candidates' copies: each image model whose rollout has a serving candidate has it score the
        images the rollout routes to it (by image id). Its answers and its failures become rows (source
        ``mirror``); a failing candidate never fails an image nor the batch."""
        try:
            table = await asyncio.to_thread(self.rollouts.get)
        except Exception as exc:  # no rollouts readable: the champions' work goes on
            log.warning("cannot read the rollouts (%s); no candidate scores this batch", exc)
            return []
        rows: list[dict[str, Any]] = []
        for t in targets:
            rollout = table.get(t.endpoint.name)
            if rollout is None or not rollout.candidate_url:
                continue
            picked = [
                (i, d)
                for i, d in zip(good, data, strict=True)
                if (r := route(rollout, images[i].image_id)).arm == CANDIDATE or r.mirror == rollout.candidate_version
            ]
            if not picked:
                continue
            ids, chunk = [i for i, _ in picked], [d for _, d in picked]
            target = ModelTarget(Endpoint(t.endpoint.name, rollout.candidate_url), rollout.candidate_version)
            started = time.perf_counter()
            try:
                scored, rejected = await self._score_model(target, ids, chunk, images[ids[0]].image_id)
            except Exception as exc:
                failed_ms = (time.perf_counter() - started) * 1000.0
                scored, rejected = {}, {i: f"{type(exc).__name__}: {exc}" for i in ids}
                log.warning("candidate %s v%s failed on %d images: %s", t.endpoint.name, target.version, len(ids), exc)
            else:
                failed_ms = 0.0
            now = utcnow()
            for i in ids:
                image = images[i]
                base = {
                    "created_at": now,
                    "request_id": image.image_id,
                    "source": MIRROR_SOURCE,
                    "model_name": t.endpoint.name,
                    "input": {"image_id": image.image_id, "storage_key": image.storage_key},
                }
                if i in scored:
                    s = scored[i]
                    rows.append(
                        base
                        | {
                            "model_version": s.version,
                            "n_instances": 1,
                            "predicted_class": s.class_name,
                            "confidence": s.confidence,
                            "latency_ms": s.latency_ms,
                            "output": {
                                "predictions": [
                                    {
                                        "class_id": s.class_id,
                                        "class_name": s.class_name,
                                        "probabilities": s.probabilities,
                                    }
                                ]
                            },
                        }
                    )
                else:
                    rows.append(
                        base
                        | {
                            "model_version": rollout.candidate_version,
                            "n_instances": 0,
                            "predicted_class": None,
                            "confidence": None,
                            "latency_ms": round(failed_ms, 3),
                            "output": {},
                            "error": rejected.get(i, "no answer")[:2000],
                        }
                    )
        return rows

    # ---------------------------------------------------------------------------------------------- storing

    def _store(self, outcomes: list[ImageOutcome], sizes: dict[str, int], extra: Sequence[dict[str, Any]] = ()) -> int:
        rows: list[dict[str, Any]] = list(extra)
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
                        "output": {"predictions": [_prediction(s)]},
                        "error": None,
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
            per_model, candidates = await asyncio.gather(
                asyncio.gather(*(self._score_model(t, good, data, request_id) for t in targets)),  # type: ignore[arg-type]
                self._candidate_rows(targets, images, good, data),  # type: ignore[arg-type]
            )
            for i in good:
                rejected = [r[1][i] for r in per_model if i in r[1]]
                if rejected:
                    outcomes[i] = ImageOutcome(images[i], "failed", "; ".join(rejected), dead_letter=True)
                else:
                    scores = [r[0][i] for r in per_model if i in r[0]]
                    outcomes[i] = ImageOutcome(images[i], "processed", scores=scores)
        else:
            candidates = []
        done = [o for o in outcomes if o is not None]
        try:
            inserted = await asyncio.to_thread(self._store, done, sizes, candidates)
        except SQLAlchemyError as exc:
            raise TransientFailure(f"predictions store failed: {type(exc).__name__}: {exc}") from exc
        log.debug("batch of %d images: %d prediction rows inserted", len(done), inserted)
        if self.publisher is not None:
            await self.publisher.predictions(done)
        return done
