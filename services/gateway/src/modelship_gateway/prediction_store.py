"""The predictions table, as the gateway writes and reads it (sync SQLAlchemy; call from a worker thread).

The row shape and the idempotent insert are :mod:`modelship_common.predictions`, shared with the image fan-out.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from modelship_common.db import Prediction
from modelship_common.predictions import PredictionRecord, insert_new_keys, record_row


class PredictionStore:
    """Writes predictions idempotently and lists them newest first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    def save(self, record: PredictionRecord) -> bool:
        """Store ``record``; False when a row with the same (request_id, model, version) already existed."""
        return self.save_many([record])[0]

    def save_many(self, records: Sequence[PredictionRecord]) -> list[bool]:
        """Store ``records`` in one transaction; for each, False when its (request_id, model, version) was already
        stored (by an earlier transaction, or by an earlier record of this group)."""
        if not records:
            return []
        with self.engine.begin() as conn:
            new = set(insert_new_keys(conn, [record_row(record) for record in records]))
        stored = []
        for record in records:
            key = (record.request_id, record.model_name, record.model_version)
            stored.append(key in new)
            new.discard(key)  # a second record with the same key in this group was not stored
        return stored

    @staticmethod
    def recent(session: Session, *, model: str | None = None, limit: int = 50, offset: int = 0) -> list[Prediction]:
        """Stored predictions, newest first, optionally of one model."""
        query = select(Prediction).order_by(Prediction.created_at.desc(), Prediction.id.desc())
        if model and "\x00" in model:
            return []  # no model name holds a NUL (and PostgreSQL cannot compare text with one)
        if model:
            query = query.where(Prediction.model_name == model)
        return list(session.scalars(query.limit(limit).offset(offset)))

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
