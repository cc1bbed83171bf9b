"""The predictions table's write helpers: one row per (request or image id, model name, model version), inserted
idempotently (a replay of the same key stores nothing new). Sync SQLAlchemy; call from a worker thread.

The gateway's synchronous predictions (:class:`PredictionRecord`) and the image fan-out's rows both go through
:func:`insert_predictions`.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field, fields
from typing import Any

from sqlalchemy import Connection, Insert
from sqlalchemy.dialects import postgresql, sqlite

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
    #: Why the model server gave no answer (then ``output`` is empty); None for an answer. A rollout's error-rate
    #: gate counts these rows.
    error: str | None = None


RECORD_FIELDS = tuple(f.name for f in fields(PredictionRecord))


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
    return len(insert_new_keys(conn, rows))


@functools.cache
def _insert_returning_keys(dialect: str) -> Insert:
    """The statement of :func:`insert_new_keys`, built once per dialect (it is immutable; building it and its
    cache key on every call cost more than a row)."""
    return insert_ignoring_duplicates(dialect).returning(
        Prediction.request_id, Prediction.model_name, Prediction.model_version
    )


def insert_new_keys(conn: Connection, rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Insert ``rows`` ignoring (request_id, model, version) duplicates; the keys of the rows that were new."""
    if not rows:
        return []
    statement = _insert_returning_keys(conn.dialect.name)
    return [(r[0], r[1], r[2]) for r in conn.execute(statement, rows).all()]


def record_row(record: PredictionRecord) -> dict[str, Any]:
    """``record`` as the row :func:`insert_new_keys` takes (a shallow copy: ``dataclasses.asdict`` would copy
    the input and output deeply, for nothing)."""
    return {name: getattr(record, name) for name in RECORD_FIELDS}
