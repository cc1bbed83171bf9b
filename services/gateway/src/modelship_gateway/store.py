"""The predictions table, as the gateway writes and reads it (sync SQLAlchemy; call from a worker thread)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from modelship_common.db import Prediction, utcnow

UNIQUE_KEY = ("request_id", "model_name", "model_version")


@dataclass(frozen=True)
class PredictionRecord:
    """One row to store: one request scored by one model version."""

    request_id: str
    model_name: str
    model_version: str
    latency_ms: float
    input: Any
    output: Any
    n_instances: int = 1
    predicted_class: str | None = None
    confidence: float | None = None
    source: str = "api"
    created_at: dt.datetime = field(default_factory=utcnow)


def insert_ignoring_duplicates(dialect: str, values: dict[str, Any] | None = None) -> Insert:
    """``INSERT ... ON CONFLICT (request_id, model_name, model_version) DO NOTHING`` for SQLite and PostgreSQL.

    Without ``values`` the statement takes its rows as execute parameters (one dict or a list of them).
    """
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(Prediction)
    elif dialect == "sqlite":
        statement = sqlite.insert(Prediction)
    else:
        raise NotImplementedError(
            f"predictions store does not support the {dialect} dialect (use SQLite or PostgreSQL)"
        )
    if values is not None:
        statement = statement.values(**values)
    return statement.on_conflict_do_nothing(index_elements=UNIQUE_KEY)


def insert_predictions(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert ``rows`` ignoring (request_id, model, version) duplicates; the number of rows that were new.

    Counted from ``RETURNING id``: ``rowcount`` cannot tell, as psycopg 3 reports -1 for this statement on
    PostgreSQL and executemany gives no per-row count.
    """
    if not rows:
        return 0
    statement = insert_ignoring_duplicates(conn.dialect.name).returning(Prediction.id)
    return len(conn.execute(statement, rows).all())


class PredictionStore:
    """Writes predictions idempotently and lists them newest first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    def save(self, record: PredictionRecord) -> bool:
        """Store ``record``; False when a row with the same (request_id, model, version) already existed."""
        with self.engine.begin() as conn:
            return insert_predictions(conn, [asdict(record)]) == 1

    @staticmethod
    def recent(session: Session, *, model: str | None = None, limit: int = 50, offset: int = 0) -> list[Prediction]:
        """Stored predictions, newest first, optionally of one model."""
        query = select(Prediction).order_by(Prediction.created_at.desc(), Prediction.id.desc())
        if model:
            query = query.where(Prediction.model_name == model)
        return list(session.scalars(query.limit(limit).offset(offset)))

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
