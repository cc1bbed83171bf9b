"""Image uploads (``POST /api/images``): check the file, keep the original in the object store, record it, and hand
it on (to Kafka, or to the in-process fan-out of :mod:`modelship_scoring.fanout`; see :mod:`.pipeline`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, insert, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from modelship_common.db import Event, Image, utcnow
from modelship_common.errors import InvalidInput
from modelship_common.events import event_row, record_event
from modelship_common.messages import UploadedImage
from modelship_common.schemas import digits
from modelship_common.storage import ObjectStore, StorageError
from modelship_gateway.errors import InvalidImage, PayloadTooLarge, StoreUnavailable
from modelship_gateway.group_commit import GroupCommit

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif"}


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
        self._records: GroupCommit[tuple[StoredUpload, str, str], None] = GroupCommit(self._record)

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
