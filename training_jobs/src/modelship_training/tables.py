"""SQLAlchemy tables of the training data: ``penguins_raw`` (as collected) and ``penguins_processed`` (encoded).

The tables live in their own :class:`~sqlalchemy.MetaData` (not the predictions store's Alembic schema) and are
created on first use with :func:`create_tables`, so the same code works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, DateTime, Engine, Float, Integer, MetaData, String, Table, Text

from modelship_common.schemas import penguins

metadata = MetaData()


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


def create_tables(engine: Engine) -> None:
    """Create the training-data tables that do not exist yet (idempotent)."""
    metadata.create_all(engine)
