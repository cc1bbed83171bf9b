"""The synchronous prediction service behind the gateway's predict routes: :class:`PredictionService`.

It validates and encodes the input exactly as the model server would, calls the model server, names the
probability columns, and stores one row per request in the predictions table before it answers. Concurrent
requests share their database transaction (:mod:`modelship_gateway.group_commit`): under load one commit carries
many rows, and each request still returns only once its own row is committed.

During a rollout (:mod:`modelship_scoring.rollout`) the request is routed by the rollouts table: in a canary the
candidate answers its share of callers (the champion answers instead if the candidate fails, so a bad candidate
costs callers nothing), and the other side scores a copy in the background; in a shadow rollout the champion
answers and the candidate scores a copy. A copy's answer, or its error, is stored under the same request id
(``source`` = ``mirror``), never returned, and never delays the caller.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from modelship_common.errors import InvalidInput
from modelship_common.predictions import PredictionRecord
from modelship_common.schemas import digits, penguins
from modelship_gateway.errors import InvalidImage, PayloadTooLarge, StoreUnavailable
from modelship_gateway.group_commit import GroupCommit
from modelship_gateway.prediction_store import PredictionStore
from modelship_scoring.columns import column_names
from modelship_scoring.discovery import Endpoint
from modelship_scoring.errors import UpstreamError
from modelship_scoring.inventory import ModelInventory
from modelship_scoring.model_servers import ModelServerClient, Scores
from modelship_scoring.registry_cache import RegistryCache
from modelship_scoring.rollout.cache import ActiveRollouts
from modelship_scoring.rollout.traffic import CANDIDATE, route

log = logging.getLogger(__name__)

MAX_REQUEST_ID_LENGTH = 64
UNKNOWN_VERSION = "unknown"

#: ``(model, outcome, seconds)`` of one model-server call; outcome is ``ok``, ``rejected`` (4xx) or ``error``.
UpstreamObserver = Callable[[str, str, float], None]
#: One model-server call for an endpoint: the same input, sent to the champion's or the candidate's server.
Infer = Callable[[Endpoint], Awaitable[Scores]]
#: ``source`` of a copy scored for a rollout's analysis (the caller got the other side's answer).
MIRROR_SOURCE = "mirror"


@dataclass(frozen=True)
class ClassScore:
    class_id: int
    class_name: str
    probabilities: dict[str, float]


@dataclass(frozen=True)
class PredictionResult:
    request_id: str
    model: str
    version: str
    latency_ms: float
    predictions: list[ClassScore]
    #: False when this (request_id, model, version) had been stored before (a replay).
    stored: bool = True


def new_request_id(request_id: str | None = None) -> str:
    """A caller's request id (checked), or a fresh uuid4."""
    if request_id is None:
        # A version-4 UUID from ``random`` (seeded by the OS, reseeded in a forked child): ``uuid4`` asks the
        # kernel for 16 bytes on every call, a syscall that cost ~40 us per request here. Ids must be unique, not
        # unpredictable.
        return uuid.UUID(int=random.getrandbits(128), version=4).hex
    if not request_id or len(request_id) > MAX_REQUEST_ID_LENGTH or not request_id.isprintable():
        raise InvalidInput(f"request id must be 1-{MAX_REQUEST_ID_LENGTH} printable characters")
    return request_id


def _confidence(scores: Scores) -> float:
    """Probability of the predicted class of a single-instance answer."""
    row, cid = scores.probabilities[0], scores.class_ids[0]
    return float(row[cid]) if 0 <= cid < len(row) else float(max(row))


class PredictionService:
    def __init__(
        self,
        inventory: ModelInventory,
        client: ModelServerClient,
        registry: RegistryCache,
        store: PredictionStore,
        *,
        max_image_bytes: int,
        source: str = "api",
        on_upstream: UpstreamObserver | None = None,
        rollouts: ActiveRollouts | None = None,
    ) -> None:
        self.inventory = inventory
        self.client = client
        self.registry = registry
        self.store = store
        self.max_image_bytes = max_image_bytes
        self.source = source
        self.on_upstream = on_upstream
        self.rollouts = rollouts
        self._saves: GroupCommit[PredictionRecord, bool] = GroupCommit(store.save_many)
        self._mirrors: set[asyncio.Task[None]] = set()

    async def _call(self, endpoint: Endpoint, call: Awaitable[Scores]) -> tuple[Scores, float]:
        """Await one model-server call; its scores and latency in ms (reported to ``on_upstream``)."""
        started = time.perf_counter()
        try:
            scores = await call
        except UpstreamError as exc:
            if self.on_upstream is not None:
                outcome = "rejected" if 400 <= exc.status_code < 500 else "error"
                self.on_upstream(endpoint.name, outcome, time.perf_counter() - started)
            raise
        except Exception:
            if self.on_upstream is not None:
                self.on_upstream(endpoint.name, "error", time.perf_counter() - started)
            raise
        seconds = time.perf_counter() - started
        if self.on_upstream is not None:
            self.on_upstream(endpoint.name, "ok", seconds)
        return scores, seconds * 1000.0

    async def predict_rows(self, name: str, rows: Any, *, request_id: str | None = None) -> PredictionResult:
        """Score penguins rows (dicts of raw columns, raw lists, or 9-value encoded lists) with model ``name``."""
        request_id = new_request_id(request_id)
        endpoint = await self.inventory.find(name)
        if not isinstance(rows, list):
            raise InvalidInput("instances must be a list of rows")
        matrix = penguins.encode_rows(rows)

        def infer(target: Endpoint) -> Awaitable[Scores]:
            return self.client.infer_matrix(target, matrix, request_id)

        return await self._score(endpoint, request_id, infer, {"instances": rows}, penguins.CLASSES)

    async def predict_image(
        self,
        name: str,
        data: bytes,
        *,
        filename: str | None = None,
        content_type: str | None = None,
        request_id: str | None = None,
    ) -> PredictionResult:
        """Score one uploaded PNG/JPEG/GIF image with model ``name``."""
        request_id = new_request_id(request_id)
        endpoint = await self.inventory.find(name)
        if len(data) > self.max_image_bytes:
            raise PayloadTooLarge(f"image is {len(data)} bytes; the limit is {self.max_image_bytes} bytes")
        try:
            await asyncio.to_thread(digits.decode_image, data, self.max_image_bytes)
        except InvalidInput as exc:
            raise InvalidImage(str(exc)) from exc
        described = {
            "filename": filename,
            "content_type": content_type,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }

        def infer(target: Endpoint) -> Awaitable[Scores]:
            return self.client.infer_image(target, data, request_id)

        return await self._score(endpoint, request_id, infer, described, digits.CLASSES)

    async def _score(
        self, endpoint: Endpoint, request_id: str, infer: Infer, stored_input: Any, schema_classes: Sequence[str]
    ) -> PredictionResult:
        """Score with the side the rollouts table routes ``request_id`` to; mirror a copy when it says so."""
        rollout = self.rollouts.current.get(endpoint.name) if self.rollouts is not None else None
        if rollout is None or not rollout.candidate_url:  # no rollout, or its candidate is not serving yet
            scores, latency_ms = await self._call(endpoint, infer(endpoint))
            return await self._finish(endpoint, request_id, scores, latency_ms, stored_input, schema_classes)
        candidate = Endpoint(name=endpoint.name, url=rollout.candidate_url)
        chosen = route(rollout, request_id)
        if chosen.arm == CANDIDATE:
            started = time.perf_counter()
            try:
                scores, latency_ms = await self._call(candidate, infer(candidate))
            except Exception as exc:  # the caller gets the champion's answer; the candidate's failure is stored
                failed_ms = (time.perf_counter() - started) * 1000.0
                version = rollout.candidate_version
                await self._store_failure(candidate, request_id, version, failed_ms, stored_input, exc, self.source)
                log.warning("candidate %s v%s failed (%s); the champion answers", endpoint.name, version, exc)
                scores, latency_ms = await self._call(endpoint, infer(endpoint))
                return await self._finish(endpoint, request_id, scores, latency_ms, stored_input, schema_classes)
            result = await self._finish(candidate, request_id, scores, latency_ms, stored_input, schema_classes)
            if chosen.mirror is not None:
                self._mirror(endpoint, request_id, chosen.mirror, infer, stored_input, schema_classes)
            return result
        scores, latency_ms = await self._call(endpoint, infer(endpoint))
        result = await self._finish(endpoint, request_id, scores, latency_ms, stored_input, schema_classes)
        if chosen.mirror is not None:
            self._mirror(candidate, request_id, chosen.mirror, infer, stored_input, schema_classes)
        return result

    def _mirror(
        self,
        target: Endpoint,
        request_id: str,
        version: str,
        infer: Infer,
        stored_input: Any,
        schema_classes: Sequence[str],
    ) -> None:
        """Score a copy on ``target`` in the background and store its answer or its error (source ``mirror``)."""

        async def copy() -> None:
            started = time.perf_counter()
            try:
                scores, latency_ms = await self._call(target, infer(target))
                await self._finish(
                    target, request_id, scores, latency_ms, stored_input, schema_classes, source=MIRROR_SOURCE
                )
            except (UpstreamError, StoreUnavailable, InvalidInput) as exc:
                failed_ms = (time.perf_counter() - started) * 1000.0
                try:
                    await self._store_failure(target, request_id, version, failed_ms, stored_input, exc, MIRROR_SOURCE)
                except StoreUnavailable as store_exc:
                    log.warning("mirror of %s to v%s not stored: %s", request_id, version, store_exc)
            except Exception:  # a copy never reaches the caller; what went wrong is logged
                log.exception("mirror of %s to %s v%s failed", request_id, target.name, version)

        task = asyncio.create_task(copy())
        self._mirrors.add(task)
        task.add_done_callback(self._mirrors.discard)

    async def _store_failure(
        self,
        endpoint: Endpoint,
        request_id: str,
        version: str,
        latency_ms: float,
        stored_input: Any,
        exc: BaseException,
        source: str,
    ) -> None:
        """A row saying the model server of ``version`` gave no answer (a rollout's error-rate gate counts it)."""
        record = PredictionRecord(
            request_id=request_id,
            model_name=endpoint.name,
            model_version=version,
            latency_ms=latency_ms,
            input=stored_input,
            output={},
            n_instances=0,
            source=source,
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        await self._save(record)

    async def _save(self, record: PredictionRecord) -> bool:
        """Store ``record`` with the next group commit; False if its key was stored before (a replay)."""
        try:
            return bool(await self._saves.submit(record))
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"prediction could not be stored: {type(exc).__name__}") from exc

    async def drain_mirrors(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) for the copies still being scored, e.g. at shutdown."""
        if self._mirrors:
            await asyncio.wait(set(self._mirrors), timeout=timeout_s)

    async def _finish(
        self,
        endpoint: Endpoint,
        request_id: str,
        scores: Scores,
        latency_ms: float,
        stored_input: Any,
        schema_classes: Sequence[str],
        *,
        source: str | None = None,
    ) -> PredictionResult:
        version = scores.version or UNKNOWN_VERSION
        info = await self.registry.get(endpoint.name, scores.version)
        names = column_names(scores, info, schema_classes)
        predictions = [
            ClassScore(
                class_id=cid,
                class_name=cname,
                probabilities={names[j]: float(p) for j, p in enumerate(row)},
            )
            for cid, cname, row in zip(scores.class_ids, scores.class_names, scores.probabilities, strict=True)
        ]
        single = predictions[0] if len(predictions) == 1 else None
        record = PredictionRecord(
            request_id=request_id,
            model_name=endpoint.name,
            model_version=version,
            latency_ms=latency_ms,
            input=stored_input,
            output={
                "predictions": [
                    {"class_id": p.class_id, "class_name": p.class_name, "probabilities": p.probabilities}
                    for p in predictions
                ]
            },
            n_instances=len(predictions),
            predicted_class=single.class_name if single else None,
            confidence=_confidence(scores) if single else None,
            source=source or self.source,
        )
        stored = await self._save(record)
        return PredictionResult(
            request_id=request_id,
            model=endpoint.name,
            version=version,
            latency_ms=round(latency_ms, 3),
            predictions=predictions,
            stored=stored,
        )
