"""SQLAlchemy tables of the training data: ``penguins_raw`` (as collected), ``penguins_processed`` (encoded) and
``collector_runs`` (what each collector run did).

The tables live in their own :class:`~sqlalchemy.MetaData` and their schema is owned by their own Alembic history
(``modelship_training/migrations``, version table ``alembic_version_training``), apart from the predictions
store's: the two can share a database and never collide. :func:`migrate` brings a database to the newest revision
on first use, on SQLite and PostgreSQL alike, and adopts a database whose tables an older release made with
``create_all`` (no version table yet).

A new revision, after changing a table here: write ``migrations/versions/000N_<what>.py`` by hand or let Alembic
draft it from the difference (``alembic.command.revision(alembic_config(connection), "what", autogenerate=True)``
on a connection to a database at the previous head); ``tests/test_tables.py`` checks the two agree.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    inspect,
    text,
)

from modelship_common.schemas import penguins

metadata = MetaData()

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: Alembic's version table of the training tables (the predictions store's is ``alembic_version``).
VERSION_TABLE = "alembic_version_training"
#: PostgreSQL advisory lock held while migrating, so a training job and a collector starting together on a new
#: database migrate one after the other (the predictions store's lock is another key).
MIGRATION_LOCK = 0x6D737472  # "mstr"
#: The revisions whose tables ``metadata.create_all`` made before Alembic owned the schema, in order: tables.py
#: made penguins_raw and penguins_processed, the collector added collector_runs on its first run.
PRE_ALEMBIC: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("0001", ("penguins_raw", "penguins_processed")),
    ("0002", ("collector_runs",)),
)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: Columns of palmerpenguins' raw dataset (``load_penguins_raw()``) -> column names in ``penguins_raw``.
RAW_DATASET_COLUMNS: dict[str, str] = {
    "studyName": "study_name",
    "Sample Number": "sample_number",
    "Species": "species",
    "Region": "region",
    "Island": "island",
    "Stage": "stage",
    "Individual ID": "individual_id",
    "Clutch Completion": "clutch_completion",
    "Date Egg": "date_egg",
    "Culmen Length (mm)": "culmen_length_mm",
    "Culmen Depth (mm)": "culmen_depth_mm",
    "Flipper Length (mm)": "flipper_length_mm",
    "Body Mass (g)": "body_mass_g",
    "Sex": "sex",
    "Delta 15 N (o/oo)": "delta_15_n",
    "Delta 13 C (o/oo)": "delta_13_c",
    "Comments": "comments",
}
_FLOAT_COLUMNS = {
    "culmen_length_mm",
    "culmen_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
    "delta_15_n",
    "delta_13_c",
}
_INT_COLUMNS = {"sample_number"}
RAW_COLUMNS: tuple[str, ...] = tuple(RAW_DATASET_COLUMNS.values())

penguins_raw = Table(
    "penguins_raw",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False, index=True, doc="Who added the row (palmerpenguins, a collector)."),
    Column("collected_at", DateTime(timezone=True), nullable=False, default=_utcnow),
    *(
        Column(
            name,
            Float if name in _FLOAT_COLUMNS else Integer if name in _INT_COLUMNS else Text,
            nullable=True,
        )
        for name in RAW_COLUMNS
    ),
)

PROCESSED_COLUMNS: tuple[str, ...] = (*penguins.FEATURE_NAMES, "species_id", "species")

penguins_processed = Table(
    "penguins_processed",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("raw_id", Integer, nullable=False, index=True, doc="penguins_raw.id this row was built from."),
    *(Column(name, Float, nullable=False) for name in penguins.FEATURE_NAMES),
    Column("species_id", Integer, nullable=False, doc="Class id: index into penguins.CLASSES."),
    Column("species", String(32), nullable=False),
)


#: One row per collector run that got a valid batch: what it fetched, stored and (maybe) trained.
collector_runs = Table(
    "collector_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("url", Text, nullable=False),
    Column("batch", Integer, nullable=True, doc="Batch index the data API reported."),
    Column("fetched", Integer, nullable=False, doc="Rows in the response."),
    Column("added", Integer, nullable=False, doc="Rows appended to penguins_raw (not stored before)."),
    Column("pending", Integer, nullable=False, doc="Rows arrived since the last retraining, after this batch."),
    Column("retrained", Boolean, nullable=False, default=False, doc="A retraining finished in this run."),
    Column("trained_up_to", Integer, nullable=True, doc="Highest penguins_raw.id the retraining saw."),
    Column("versions", Text, nullable=True, doc="Model versions the retraining registered, with their alias."),
    Column("error", String(500), nullable=True, doc="Why the retraining of this run failed."),
)


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's filter for autogenerate and ``compare_metadata``: the training tables only, never the rest of a
    database they share (the predictions store's tables and version table)."""
    return type_ != "table" or name in metadata.tables


class SchemaMismatch(ValueError):
    """Training tables without a version table whose columns are not the ones ``create_all`` made: not adopted."""


def alembic_config(connection: Connection) -> Any:
    """Alembic's configuration of the training history, running on ``connection``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the training tables at ``engine`` to the newest revision (idempotent), in one transaction.

    A database without :data:`VERSION_TABLE` whose training tables an older release made with ``create_all`` is
    adopted: checked column by column against the revision that creates them (:data:`PRE_ALEMBIC`), stamped at
    that revision, then upgraded; its rows stay. Tables that do not match raise :class:`SchemaMismatch`.
    """
    from alembic import command

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})  # until the commit
        cfg = alembic_config(conn)
        adopted = _pre_alembic_revision(conn)
        if adopted is not None:
            command.stamp(cfg, adopted)
        command.upgrade(cfg, "head")


def _pre_alembic_revision(conn: Connection) -> str | None:
    """The revision a database made by ``create_all`` is at (None: it has a version table or no training tables)."""
    existing = set(inspect(conn).get_table_names())
    if VERSION_TABLE in existing:
        return None
    present = [[name for name in names if name in existing] for _, names in PRE_ALEMBIC]
    complete = 0  # how many of PRE_ALEMBIC's revisions have all their tables
    while complete < len(PRE_ALEMBIC) and len(present[complete]) == len(PRE_ALEMBIC[complete][1]):
        complete += 1
    stray = [name for names in present[complete:] for name in names]
    if stray:
        missing = [name for name in PRE_ALEMBIC[complete][1] if name not in existing]
        raise SchemaMismatch(
            f"the database has {', '.join(stray)} but not {', '.join(missing)} and no {VERSION_TABLE}: "
            "not tables create_all made; not adopting them"
        )
    if complete == 0:
        return None
    found = PRE_ALEMBIC[complete - 1][0]
    expected = _columns_at(found)
    for name in (name for _, names in PRE_ALEMBIC[:complete] for name in names):
        columns = expected[name]
        actual = [column["name"] for column in inspect(conn).get_columns(name)]
        if sorted(actual) != sorted(columns):
            missing = sorted(set(columns) - set(actual))
            extra = sorted(set(actual) - set(columns))
            raise SchemaMismatch(
                f"table {name} has no {VERSION_TABLE} and is not the one revision {found} creates "
                f"(missing: {', '.join(missing) or '-'}; unexpected: {', '.join(extra) or '-'}); not adopting it"
            )
    return found


def _columns_at(revision: str) -> dict[str, list[str]]:
    """Column names of every training table at ``revision``, from the migrations run on an in-memory SQLite."""
    from alembic import command

    scratch = create_engine("sqlite://")
    try:
        with scratch.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
            inspector = inspect(conn)
            return {
                name: [column["name"] for column in inspector.get_columns(name)]
                for name in inspector.get_table_names()
                if name != VERSION_TABLE
            }
    finally:
        scratch.dispose()
