"""The training tables' Alembic history on real SQLite and a real PostgreSQL (devtools' session server): upgrade,
agreement with the models, sharing a database with the predictions store, adopting a ``create_all`` database."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, inspect, select, text

from modelship_common import db
from modelship_training import tables
from modelship_training.tables import collector_runs, penguins_processed, penguins_raw

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]
HEAD = ScriptDirectory(str(tables.MIGRATIONS_DIR)).get_current_head()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, database_url: str) -> str:
    """A fresh, empty database: a SQLite file, or a database of its own on the session's PostgreSQL."""
    return database_url if request.param == "sqlite" else request.getfixturevalue("pg_database")


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = db.make_engine(url)
    yield engine
    engine.dispose()


def versions(engine: Engine, table: str = tables.VERSION_TABLE) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text(f"SELECT version_num FROM {table}")).scalars())


def schema_diff(engine: Engine) -> list[Any]:
    """What Alembic's autogenerate finds between the models and the database's training tables (types included)."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"version_table": tables.VERSION_TABLE, "include_name": tables.include_name, "compare_type": True},
        )
        return list(compare_metadata(context, tables.metadata))


def dump(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    with engine.connect() as conn:
        return {
            table.name: [dict(row._mapping) for row in conn.execute(select(table).order_by(table.c.id))]
            for table in (penguins_raw, penguins_processed, collector_runs)
            if inspect(conn).has_table(table.name)
        }


def add_rows(engine: Engine, *, with_runs: bool) -> None:
    """A few rows as the older release wrote them."""
    now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            penguins_raw.insert(),
            [
                {"source": "palmerpenguins", "collected_at": now, "species": "Adelie", "culmen_length_mm": 39.1},
                {"source": "collector", "collected_at": now, "species": "Gentoo", "culmen_length_mm": None},
            ],
        )
        features = {name: 1.0 for name in tables.PROCESSED_COLUMNS if name not in ("species_id", "species")}
        conn.execute(penguins_processed.insert(), [{"raw_id": 1, **features, "species_id": 0, "species": "Adelie"}])
        if with_runs:
            conn.execute(
                collector_runs.insert(),
                [{"started_at": now, "url": "http://data/batch", "fetched": 2, "added": 1, "pending": 1}],
            )


def test_migrate_creates_every_table_once_in_its_own_version_table(engine: Engine) -> None:
    tables.migrate(engine)
    tables.migrate(engine)  # idempotent
    names = set(inspect(engine).get_table_names())
    assert names == {"penguins_raw", "penguins_processed", "collector_runs", tables.VERSION_TABLE}
    assert versions(engine) == [HEAD] == ["0002"]


def test_the_models_equal_the_migrated_schema(engine: Engine) -> None:
    tables.migrate(engine)
    assert schema_diff(engine) == []


def test_the_models_differing_from_the_migrations_is_found(engine: Engine) -> None:
    """The check above can fail: a column the migrations lack, a type they disagree on."""
    tables.migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE collector_runs DROP COLUMN versions"))
        conn.execute(text("ALTER TABLE collector_runs ADD COLUMN versions INTEGER"))
        conn.execute(text("ALTER TABLE penguins_raw DROP COLUMN comments"))
    diff = schema_diff(engine)
    assert ("add_column", None, "penguins_raw", penguins_raw.c.comments) in diff
    assert [d[0][0] for d in diff if isinstance(d, list)] == ["modify_type"]


def test_shares_a_database_with_the_predictions_store(url: str, engine: Engine) -> None:
    tables.migrate(engine)
    db.migrate(url)  # the predictions store's history, in alembic_version
    tables.migrate(engine)
    names = set(inspect(engine).get_table_names())
    assert {"predictions", "images", "events", "alembic_version", tables.VERSION_TABLE} <= names
    assert versions(engine) == [HEAD]
    predictions_head = ScriptDirectory(str(db.MIGRATIONS_DIR)).get_current_head()
    assert versions(engine, "alembic_version") == [predictions_head]
    assert schema_diff(engine) == []  # the predictions tables are not the training history's business


@pytest.mark.parametrize("with_runs", [False, True], ids=["before-any-collector-run", "after-collector-runs"])
def test_a_database_made_by_create_all_is_adopted_with_its_rows(engine: Engine, with_runs: bool) -> None:
    """An older release made penguins_raw and penguins_processed with create_all (tables.py) and, once a collector
    ran, collector_runs (collector.py): stamped at the revision those tables are, upgraded, every row kept.
    (Today's models are what create_all made then: test_the_models_equal_the_migrated_schema.)"""
    legacy = [penguins_raw, penguins_processed, *([collector_runs] if with_runs else [])]
    tables.metadata.create_all(engine, tables=legacy)
    add_rows(engine, with_runs=with_runs)
    before = dump(engine)

    tables.migrate(engine)
    assert versions(engine) == [HEAD]
    after = dump(engine)
    assert after == {**before, "collector_runs": before.get("collector_runs", [])}
    assert len(after["penguins_raw"]) == 2
    assert schema_diff(engine) == []
    with engine.begin() as conn:  # the ids go on from where they were
        conn.execute(penguins_raw.insert(), [{"source": "collector", "collected_at": dt.datetime.now(dt.UTC)}])
        assert conn.execute(select(func.max(penguins_raw.c.id))).scalar_one() == 3


def test_tables_create_all_did_not_make_are_not_adopted(database_url: str) -> None:
    engine = db.make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE penguins_raw (id INTEGER PRIMARY KEY, species TEXT, wingspan REAL)"))
            conn.execute(text("CREATE TABLE penguins_processed (id INTEGER PRIMARY KEY)"))
        with pytest.raises(tables.SchemaMismatch) as caught:
            tables.migrate(engine)
        message = str(caught.value)
        assert message.startswith(f"table penguins_raw has no {tables.VERSION_TABLE} and is not the one revision 0001")
        assert "unexpected: wingspan" in message and "missing: body_mass_g, " in message
        assert tables.VERSION_TABLE not in inspect(engine).get_table_names()  # nothing stamped

        with engine.begin() as conn:
            conn.execute(text("DROP TABLE penguins_raw"))
            conn.execute(text("DROP TABLE penguins_processed"))
        collector_runs.create(engine)
        with pytest.raises(tables.SchemaMismatch, match=r"^the database has collector_runs but not penguins_raw, "):
            tables.migrate(engine)
        assert set(inspect(engine).get_table_names()) == {"collector_runs"}
    finally:
        engine.dispose()


MIGRATE = (
    "import sys; from modelship_common.db import make_engine; from modelship_training.tables import migrate; "
    "migrate(make_engine(sys.argv[1]))"
)


@pytest.mark.integration
def test_processes_migrating_one_empty_postgres_database_at_once_all_succeed(pg_database: str) -> None:
    """A training job and a collector starting together on a new database: the lock orders them."""
    procs = [
        subprocess.Popen([sys.executable, "-c", MIGRATE, pg_database], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outcomes = [(proc.communicate(timeout=180)[1], proc.returncode) for proc in procs]
    assert [err[-800:] for err, code in outcomes if code != 0] == []
    engine = db.make_engine(pg_database)
    try:
        assert versions(engine) == [HEAD]
        assert schema_diff(engine) == []
    finally:
        engine.dispose()
