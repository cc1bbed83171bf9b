"""The synchronous prediction service behind the gateway's predict routes: :class:`PredictionService`.

It validates and encodes the input exactly as the model server would, calls the model server, names the
probability columns, and stores one row per request in the predictions table before it answers. Concurrent
requests share their database transaction (:mod:`modelship_gateway.group_commit`): under load one commit carries
many rows, and each request still returns only once its own row is committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
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

MAX_REQUEST_ID_LENGTH = 64
UNKNOWN_VERSION = "unknown"

#: ``(model, outcome, seconds)`` of one model-server call; outcome is ``ok``, ``rejected`` (4xx) or ``error``.
UpstreamObserver = Callable[[str, str, float], None]


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
        return uuid.uuid4().hex
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
    ) -> None:
        self.inventory = inventory
        self.client = client
        self.registry = registry
        self.store = store
        self.max_image_bytes = max_image_bytes
        self.source = source
        self.on_upstream = on_upstream
        self._saves: GroupCommit[PredictionRecord, bool] = GroupCommit(store.save_many)

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
        scores, latency_ms = await self._call(endpoint, self.client.infer_matrix(endpoint, matrix, request_id))
        return await self._finish(endpoint, request_id, scores, latency_ms, {"instances": rows}, penguins.CLASSES)

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
        scores, latency_ms = await self._call(endpoint, self.client.infer_image(endpoint, data, request_id))
        described = {
            "filename": filename,
            "content_type": content_type,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        return await self._finish(endpoint, request_id, scores, latency_ms, described, digits.CLASSES)

    async def _finish(
        self,
        endpoint: Endpoint,
        request_id: str,
        scores: Scores,
        latency_ms: float,
        stored_input: Any,
        schema_classes: Sequence[str],
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
            output={"predictions": [asdict(p) for p in predictions]},
            n_instances=len(predictions),
            predicted_class=single.class_name if single else None,
            confidence=_confidence(scores) if single else None,
            source=self.source,
        )
        try:
            stored = bool(await self._saves.submit(record))
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"prediction could not be stored: {type(exc).__name__}") from exc
        return PredictionResult(
            request_id=request_id,
            model=endpoint.name,
            version=version,
            latency_ms=round(latency_ms, 3),
            predictions=predictions,
            stored=stored,
        )
