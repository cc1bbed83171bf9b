"""The predictions store: SQLAlchemy models, engine factory and Alembic migrations.

SQLite by default (``make demo``), PostgreSQL when ``MODELSHIP_DATABASE_URL`` says so. The schema is owned by
the Alembic migrations in ``modelship_common/migrations``; :func:`migrate` brings a database to head.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class Prediction(Base):
    """One scoring of one request (or uploaded image) by one model version.

    The unique key (request_id, model_name, model_version) makes replays idempotent: writing the same
    prediction twice keeps one row.
    """

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("request_id", "model_name", "model_version", name="uq_prediction"),
        # A rollout's analysis reads one model's rows over a time window (migration 0003).
        Index("ix_predictions_model_name_created_at", "model_name", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    request_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), default="api")
    model_name: Mapped[str] = mapped_column(String(128), index=True)
    model_version: Mapped[str] = mapped_column(String(32))
    n_instances: Mapped[int] = mapped_column(Integer, default=1)
    #: Class and confidence of a single-instance prediction; NULL when the request held several rows.
    predicted_class: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    latency_ms: Mapped[float] = mapped_column(Float)
    input: Mapped[Any] = mapped_column(JSON)
    output: Mapped[Any] = mapped_column(JSON)
    #: Why the model server gave no answer (timeout, HTTP 5xx...); NULL for an answer. A rollout's error-rate gate
    #: counts these rows for the candidate (migration 0003).
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


IMAGE_STATUSES: tuple[str, ...] = ("uploaded", "processed", "failed")
EVENT_KINDS: tuple[str, ...] = ("upload", "prediction", "rollout", "failure", "training", "dlq")


class Image(Base):
    """One uploaded image. The original bytes live in object storage under ``storage_key``.

    ``status`` moves from ``uploaded`` to ``processed`` once every image model scored it (one row per model
    version in ``predictions`` with ``request_id`` = this id), or to ``failed`` with the reason in ``error``.
    """

    __tablename__ = "images"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_key: Mapped[str] = mapped_column(String(255))
    #: ``uploaded`` | ``processed`` | ``failed`` (see :data:`IMAGE_STATUSES`).
    status: Mapped[str] = mapped_column(String(16), default="uploaded", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Who sent it: ``api``, ``dashboard``, ``bench``...
    source: Mapped[str] = mapped_column(String(32), default="api")


class Event(Base):
    """A system event shown on the dashboard: uploads, predictions, rollouts, failures, training, DLQ."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    #: One of :data:`EVENT_KINDS`.
    kind: Mapped[str] = mapped_column(String(16), index=True)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[Any] = mapped_column(JSON, default=dict)


def _json_column(value: Any) -> str:
    # orjson for the JSON columns (prediction inputs and outputs, event details): several times faster than
    # the json module on the worker's rows. It writes NaN as null where json would write invalid JSON.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so several processes can share the file."""
    kwargs.setdefault("json_serializer", _json_column)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, wait_seconds: float = 0.0) -> None:
    """Upgrade the database at ``url`` to the newest schema (idempotent).

    A database that refuses connections (a PostgreSQL pod still starting next to the gateway's) is retried for
    up to ``wait_seconds``, then the last error is raised. Any other error is raised at once.
    """
    from alembic import command

    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///") :]).expanduser().parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    delay = 0.5
    while True:
        try:
            command.upgrade(alembic_config(url), "head")
            return
        except OperationalError as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database not reachable yet (%s); retrying in %.1fs", str(exc.orig).strip(), delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
