"""The predictions store: idempotent inserts on SQLite and PostgreSQL, newest-first listing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError

from modelship_common.db import make_engine, migrate
from modelship_common.predictions import PredictionRecord, insert_ignoring_duplicates
from modelship_gateway.prediction_store import PredictionStore


def record(request_id: str, version: str = "3", **kw) -> PredictionRecord:
    return PredictionRecord(
        request_id=request_id,
        model_name="penguins",
        model_version=version,
        latency_ms=1.5,
        input={"instances": [1]},
        output={"predictions": []},
        **kw,
    )


@pytest.fixture
def store(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    migrate(url)
    engine = make_engine(url)
    yield PredictionStore(engine)
    engine.dispose()


def test_insert_is_idempotent_on_the_unique_key(store: PredictionStore) -> None:
    assert store.save(record("a")) is True
    assert store.save(record("a")) is False
    assert store.save(record("a", version="4")) is True
    with store.sessions() as session:
        assert len(PredictionStore.recent(session)) == 2


def test_recent_is_newest_first_and_filters(store: PredictionStore) -> None:
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i in range(3):
        store.save(record(f"r{i}", created_at=base + dt.timedelta(minutes=i)))
    store.save(
        PredictionRecord(
            request_id="d",
            model_name="digits-fast",
            model_version="1",
            latency_ms=1,
            input={},
            output={},
            created_at=base,
        )
    )
    with store.sessions() as session:
        assert [p.request_id for p in PredictionStore.recent(session, model="penguins")] == ["r2", "r1", "r0"]
        # "d" and "r0" share a timestamp: the later insert comes first.
        assert [p.request_id for p in PredictionStore.recent(session, limit=2, offset=1)] == ["r1", "d"]


def test_postgresql_insert_ignores_conflicts_on_the_unique_key() -> None:
    statement = insert_ignoring_duplicates("postgresql", {"request_id": "a", "model_name": "m", "model_version": "1"})
    sql = str(statement.compile(dialect=postgresql.dialect()))
    assert "ON CONFLICT (request_id, model_name, model_version) DO NOTHING" in sql


def test_ping_fails_without_a_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'p.db'}")
    with pytest.raises(OperationalError):
        PredictionStore(engine).ping()
    engine.dispose()
