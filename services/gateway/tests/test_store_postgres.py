"""The predictions store against a REAL PostgreSQL (devtools' session server): the new-row answer of ``save``.

Regression: psycopg 3 reports ``rowcount == -1`` for ``INSERT ... ON CONFLICT DO NOTHING``, so a rowcount test
returned False for every new row on PostgreSQL; ``RETURNING id`` tells new rows from replays on every dialect.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest
from sqlalchemy import func, select

from modelship_common.db import Prediction, make_engine, migrate
from modelship_common.predictions import insert_predictions
from modelship_gateway.prediction_store import PredictionStore
from services.gateway.tests.test_store import record

pytestmark = pytest.mark.integration


def test_save_tells_a_new_row_from_its_replay_on_postgresql(pg_database: str) -> None:
    migrate(pg_database)
    engine = make_engine(pg_database)
    try:
        assert engine.dialect.name == "postgresql"
        store = PredictionStore(engine)
        assert store.save(record("a")) is True
        assert store.save(record("a")) is False
        with store.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Prediction)) == 1
        # The bulk path (image pipeline) counts the same way: two new rows of three, the replay ignored.
        rows = [asdict(record(r, version="4")) for r in ("a", "b")] + [asdict(record("a"))]
        with engine.begin() as conn:
            assert insert_predictions(conn, rows) == 2
        with store.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Prediction)) == 3
    finally:
        engine.dispose()


def test_filters_holding_a_nul_match_nothing_on_postgresql(pg_database: str) -> None:
    """PostgreSQL refuses to compare text with a NUL (a DataError, once a 500 from /api/predictions.csv)."""
    from modelship_gateway.dashboard.queries import PredictionFilters

    migrate(pg_database)
    engine = make_engine(pg_database)
    try:
        store = PredictionStore(engine)
        assert store.save(record("nul-1"))
        with store.sessions() as session:
            assert PredictionStore.recent(session, model="penguins\x00") == []
            for filters in (
                PredictionFilters(model="\x00"),
                PredictionFilters(predicted_class="Adelie\x00"),
                PredictionFilters(source="a\x00pi"),
            ):
                assert list(session.scalars(filters.apply(select(Prediction)))) == []
            assert len(list(session.scalars(PredictionFilters(model="penguins").apply(select(Prediction))))) == 1
    finally:
        engine.dispose()
