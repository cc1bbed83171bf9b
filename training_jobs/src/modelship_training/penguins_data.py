"""The penguins training data: raw rows from palmerpenguins -> ``penguins_raw`` -> cleaned -> ``penguins_processed``.

``penguins_raw`` keeps rows as collected (palmerpenguins' raw dataset columns, snake_case), so a collector can
append rows and call :func:`rebuild_processed`. :func:`row_key` identifies a row by its raw values, so a collector
can skip rows it (or the seed) already stored. ``penguins_processed`` holds the encoded features
(``penguins.FEATURE_NAMES``) plus ``species_id`` and ``species``: the exact data the models are trained on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, select

from modelship_common.errors import InvalidInput
from modelship_common.schemas import penguins
from modelship_training.fingerprint import frame_fingerprint
from modelship_training.tables import (
    PROCESSED_COLUMNS,
    RAW_COLUMNS,
    RAW_DATASET_COLUMNS,
    migrate,
    penguins_processed,
    penguins_raw,
)

log = logging.getLogger(__name__)

PALMERPENGUINS_SOURCE = "palmerpenguins"
#: ``penguins_raw`` column -> the schema's raw feature name (``penguins.RAW_FEATURES``).
_RAW_TO_SCHEMA: dict[str, str] = {
    "island": "island",
    "culmen_length_mm": "bill_length_mm",
    "culmen_depth_mm": "bill_depth_mm",
    "flipper_length_mm": "flipper_length_mm",
    "body_mass_g": "body_mass_g",
    "sex": "sex",
}


@dataclass(frozen=True)
class PenguinsData:
    """Encoded features and class ids of the processed penguins, with the dataset fingerprint."""

    features: np.ndarray  # float32 (n, penguins.N_FEATURES)
    labels: np.ndarray  # int64 (n,), index into penguins.CLASSES
    fingerprint: str

    @property
    def n_rows(self) -> int:
        return int(self.labels.shape[0])


def load_palmerpenguins_raw() -> pd.DataFrame:
    """palmerpenguins' raw dataset (ships with the package, no network) with ``penguins_raw`` column names."""
    from palmerpenguins import load_penguins_raw

    frame = load_penguins_raw()
    unknown = sorted(set(frame.columns) - set(RAW_DATASET_COLUMNS))
    if unknown:
        raise ValueError(f"palmerpenguins raw data has unexpected columns: {', '.join(unknown)}")
    return frame.rename(columns=RAW_DATASET_COLUMNS)


def raw_records(frame: pd.DataFrame, source: str) -> list[dict[str, Any]]:
    """``penguins_raw`` rows (``source`` + :data:`RAW_COLUMNS`) from a frame with the raw dataset's columns.

    Original or snake_case column names; missing columns become NULL; unknown columns are an error.
    """
    frame = frame.rename(columns=RAW_DATASET_COLUMNS)
    unknown = sorted(set(frame.columns) - set(RAW_COLUMNS))
    if unknown:
        raise ValueError(f"unknown penguins_raw columns: {', '.join(map(str, unknown))}")
    return [
        {"source": source, **{name: _sql_value(record.get(name)) for name in RAW_COLUMNS}}
        for record in frame.to_dict("records")
    ]


def append_raw(engine: Engine, frame: pd.DataFrame, source: str) -> int:
    """Append rows to ``penguins_raw``; ``frame`` uses the raw dataset's columns (original or snake_case names).

    Missing columns are stored as NULL; unknown columns are an error. Returns the number of rows added.
    """
    rows = raw_records(frame, source)
    migrate(engine)
    if rows:
        with engine.begin() as conn:
            conn.execute(penguins_raw.insert(), rows)
    return len(rows)


def row_key(record: Mapping[str, Any]) -> str:
    """sha256 of a raw row's values (:data:`RAW_COLUMNS`; not ``id``, ``source`` or ``collected_at``).

    Equal for a row before and after a round trip through JSON or the database: missing values and NaN are the
    same, numbers compare as floats (``1 == 1.0``), text is stripped.
    """
    return hashlib.sha256(
        json.dumps([_key_value(record.get(name)) for name in RAW_COLUMNS], separators=(",", ":")).encode()
    ).hexdigest()


def raw_keys(conn: Connection) -> set[str]:
    """:func:`row_key` of every row in ``penguins_raw``."""
    columns = [penguins_raw.c[name] for name in RAW_COLUMNS]
    return {row_key(dict(row._mapping)) for row in conn.execute(select(*columns))}


def seed_raw(engine: Engine, *, replace: bool = False) -> int:
    """Load palmerpenguins into an empty ``penguins_raw`` (again with ``replace``); rows from other sources stay.

    A table that already holds rows (a collector's, say) is the training data as it is and is not seeded, so
    a collected dataset grows batch by batch. Seed rows equal to a stored row (:func:`row_key`) are skipped.
    """
    migrate(engine)
    with engine.begin() as conn:
        present = conn.execute(select(func.count()).select_from(penguins_raw)).scalar_one()
        if present and not replace:
            return 0
        conn.execute(delete(penguins_raw).where(penguins_raw.c.source == PALMERPENGUINS_SOURCE))
        stored = raw_keys(conn)
        rows = [r for r in raw_records(load_palmerpenguins_raw(), PALMERPENGUINS_SOURCE) if row_key(r) not in stored]
        if rows:
            conn.execute(penguins_raw.insert(), rows)
    added = len(rows)
    log.info("stored %d raw palmerpenguins rows in penguins_raw", added)
    return added


def read_raw(bind: Engine | Connection) -> pd.DataFrame:
    """All of ``penguins_raw``, oldest first."""
    if isinstance(bind, Connection):
        return pd.read_sql(select(penguins_raw).order_by(penguins_raw.c.id), bind)
    with bind.connect() as conn:
        return pd.read_sql(select(penguins_raw).order_by(penguins_raw.c.id), conn)


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """Raw rows -> processed rows (``id`` of the raw row as ``raw_id``, then :data:`PROCESSED_COLUMNS`).

    Rows with a missing value, an unknown species/island/sex or a measurement outside the schema's ranges are
    dropped. Species ``"Adelie Penguin (Pygoscelis adeliae)"`` becomes ``"Adelie"``; sex becomes lowercase.
    """
    out: list[dict[str, Any]] = []
    dropped = 0
    for record in raw.to_dict("records"):
        row = _clean_row(record)
        if row is None:
            dropped += 1
        else:
            out.append(row)
    if dropped:
        log.info("dropped %d of %d raw penguins rows (missing or invalid values)", dropped, len(raw))
    return pd.DataFrame(out, columns=["raw_id", *PROCESSED_COLUMNS])


def rebuild_processed(engine: Engine) -> pd.DataFrame:
    """Rebuild ``penguins_processed`` from all of ``penguins_raw`` (one transaction); returns the new rows."""
    migrate(engine)
    with engine.begin() as conn:
        return replace_processed(conn)


def replace_processed(conn: Connection) -> pd.DataFrame:
    """:func:`rebuild_processed` inside the caller's transaction (e.g. together with appending raw rows)."""
    processed = clean(read_raw(conn))
    rows = [{k: _sql_value(v) for k, v in record.items()} for record in processed.to_dict("records")]
    conn.execute(delete(penguins_processed))
    if rows:
        conn.execute(penguins_processed.insert(), rows)
    log.info("rebuilt penguins_processed: %d rows", len(rows))
    return processed


def read_processed(engine: Engine) -> pd.DataFrame:
    """All of ``penguins_processed`` in raw-row order (columns ``raw_id`` + :data:`PROCESSED_COLUMNS`)."""
    columns = [penguins_processed.c.raw_id, *(penguins_processed.c[name] for name in PROCESSED_COLUMNS)]
    with engine.connect() as conn:
        return pd.read_sql(select(*columns).order_by(penguins_processed.c.raw_id), conn)


def fingerprint(processed: pd.DataFrame) -> str:
    """sha256 of the processed data (features, class ids and names), independent of row order."""
    return frame_fingerprint(processed, PROCESSED_COLUMNS)


def prepare(engine: Engine, *, reload: bool = False) -> PenguinsData:
    """Make sure raw data is stored, rebuild the processed table and return the training arrays."""
    seed_raw(engine, replace=reload)
    processed = rebuild_processed(engine)
    if processed.empty:
        raise ValueError("penguins_processed is empty: no usable rows in penguins_raw")
    return to_arrays(read_processed(engine))


def to_arrays(processed: pd.DataFrame) -> PenguinsData:
    """Processed rows -> float32 features, int64 labels and the fingerprint."""
    return PenguinsData(
        features=processed[list(penguins.FEATURE_NAMES)].to_numpy(dtype=np.float32),
        labels=processed["species_id"].to_numpy(dtype=np.int64),
        fingerprint=fingerprint(processed),
    )


def _clean_row(record: Mapping[str, Any]) -> dict[str, Any] | None:
    species = _species(record.get("species"))
    if species is None:
        return None
    schema_row: dict[str, Any] = {}
    for raw_name, schema_name in _RAW_TO_SCHEMA.items():
        value = record.get(raw_name)
        if _missing(value):
            return None
        if schema_name in penguins.CATEGORICAL_FEATURES:
            schema_row[schema_name] = str(value).strip()
        else:
            try:
                schema_row[schema_name] = float(value)  # type: ignore[arg-type]  # None handled by _missing
            except (TypeError, ValueError):
                return None
    schema_row["sex"] = schema_row["sex"].lower()
    try:
        encoded = penguins.encode_row(schema_row)
    except InvalidInput:
        return None
    return {
        "raw_id": int(record["id"]),
        **dict(zip(penguins.FEATURE_NAMES, encoded, strict=True)),
        "species_id": penguins.CLASSES.index(species),
        "species": species,
    }


def _species(value: Any) -> str | None:
    if _missing(value):
        return None
    words = str(value).split()
    name = words[0].capitalize() if words else ""
    return name if name in penguins.CLASSES else None


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _key_value(value: Any) -> Any:
    """A raw value as :func:`row_key` hashes it: None for missing, float for numbers, stripped text otherwise."""
    value = _sql_value(value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return str(value).strip()


def _sql_value(value: Any) -> Any:
    """pandas/numpy scalars -> plain Python values; NaN/NaT -> None (SQL NULL)."""
    if value is None:
        return None
    if isinstance(value, float | np.floating) and math.isnan(float(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
