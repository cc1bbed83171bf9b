"""Database fixtures of the common tests (the rollout tests use them): ``url`` is a fresh SQLite file or, with the
integration marker, a fresh PostgreSQL database (devtools' session server), migrated to the newest schema;
``engine`` is an engine on it."""

from __future__ import annotations

import pytest

from modelship_common import db


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    url = f"sqlite:///{tmp_path}/p.db" if request.param == "sqlite" else request.getfixturevalue("pg_database")
    db.migrate(url)
    return url


@pytest.fixture
def engine(url: str):
    engine = db.make_engine(url)
    yield engine
    engine.dispose()
