"""penguins_raw -> penguins_processed on a real SQLite database, and the dataset fingerprint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import inspect

from modelship_common.db import make_engine
from modelship_common.schemas import penguins
from modelship_training import penguins_data
from modelship_training.tables import PROCESSED_COLUMNS


@pytest.fixture
def engine(database_url: str):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_prepare_stores_raw_and_processed_rows(engine) -> None:
    data = penguins_data.prepare(engine)

    raw = penguins_data.read_raw(engine)
    processed = penguins_data.read_processed(engine)
    assert len(raw) == 344  # palmerpenguins' raw dataset
    assert set(raw["source"]) == {penguins_data.PALMERPENGUINS_SOURCE}
    assert len(processed) == data.n_rows == 333  # 11 rows lack sex or measurements
    assert list(processed.columns) == ["raw_id", *PROCESSED_COLUMNS]
    assert {"penguins_raw", "penguins_processed"} <= set(inspect(engine).get_table_names())
    assert data.features.dtype == np.float32
    assert data.features.shape == (333, penguins.N_FEATURES)
    assert sorted(processed["species"].unique()) == sorted(penguins.CLASSES)


def test_processed_rows_match_an_independent_encoding(engine) -> None:
    """Every processed row equals the raw row encoded by scikit-learn's OneHotEncoder (not the schema's own
    encoder): measurements as they are, then one-hot island (Biscoe, Dream, Torgersen) and sex (female, male)."""
    from sklearn.preprocessing import OneHotEncoder

    penguins_data.prepare(engine)
    raw = penguins_data.read_raw(engine)
    processed = penguins_data.read_processed(engine)

    measurements = ["culmen_length_mm", "culmen_depth_mm", "flipper_length_mm", "body_mass_g"]
    kept = raw.dropna(subset=[*measurements, "island", "sex", "species"])
    kept = kept[kept["sex"].str.lower().isin(["female", "male"])]
    assert len(kept) == 333  # palmerpenguins: 11 of 344 rows lack a measurement or the sex ("." or missing)
    encoder = OneHotEncoder(categories=[["Biscoe", "Dream", "Torgersen"], ["female", "male"]], sparse_output=False)
    one_hot = encoder.fit_transform(pd.DataFrame({"island": kept["island"], "sex": kept["sex"].str.lower()}))
    expected = np.hstack([kept[measurements].to_numpy(dtype=np.float64), one_hot])

    assert list(processed["raw_id"]) == list(kept["id"])
    np.testing.assert_array_equal(processed[list(penguins.FEATURE_NAMES)].to_numpy(dtype=np.float64), expected)
    species = kept["species"].str.split().str[0]  # "Adelie Penguin (Pygoscelis adeliae)" -> "Adelie"
    assert list(processed["species"]) == list(species)
    assert list(processed["species_id"]) == [["Adelie", "Chinstrap", "Gentoo"].index(s) for s in species]


def test_seed_is_idempotent_and_replace_reloads(engine) -> None:
    assert penguins_data.seed_raw(engine) == 344
    assert penguins_data.seed_raw(engine) == 0
    assert penguins_data.seed_raw(engine, replace=True) == 344
    assert len(penguins_data.read_raw(engine)) == 344


def test_appended_raw_rows_flow_into_processed(engine) -> None:
    before = penguins_data.prepare(engine)
    collected = pd.DataFrame(
        [
            {"Species": "Gentoo penguin (Pygoscelis papua)", "Island": "Biscoe", "Culmen Length (mm)": 47.1,
             "Culmen Depth (mm)": 14.9, "Flipper Length (mm)": 215.0, "Body Mass (g)": 5300.0, "Sex": "MALE"},
            # sex "." is not a value the schema knows: dropped
            {"Species": "Adelie Penguin (Pygoscelis adeliae)", "Island": "Dream", "Culmen Length (mm)": 38.0,
             "Culmen Depth (mm)": 18.0, "Flipper Length (mm)": 190.0, "Body Mass (g)": 3600.0, "Sex": "."},
            # body mass outside the schema's range: dropped
            {"Species": "Chinstrap penguin (Pygoscelis antarctica)", "Island": "Dream", "Culmen Length (mm)": 49.0,
             "Culmen Depth (mm)": 18.0, "Flipper Length (mm)": 195.0, "Body Mass (g)": 99999.0, "Sex": "female"},
        ]
    )  # fmt: skip
    assert penguins_data.append_raw(engine, collected, source="collector") == 3
    processed = penguins_data.rebuild_processed(engine)

    assert len(processed) == before.n_rows + 1
    added = processed.iloc[-1]
    assert added["species"] == "Gentoo"
    assert added["island_Biscoe"] == 1.0
    assert added["sex_male"] == 1.0
    assert added["body_mass_g"] == 5300.0
    assert penguins_data.to_arrays(penguins_data.read_processed(engine)).fingerprint != before.fingerprint


def test_append_rejects_unknown_columns(engine) -> None:
    with pytest.raises(ValueError, match="unknown penguins_raw columns: wingspan"):
        penguins_data.append_raw(engine, pd.DataFrame([{"Species": "Adelie", "wingspan": 1.0}]), source="x")


def test_fingerprint_is_stable_and_tracks_content(engine, tmp_path) -> None:
    first = penguins_data.prepare(engine)
    again = penguins_data.prepare(engine)
    other_engine = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        elsewhere = penguins_data.prepare(other_engine)
    finally:
        other_engine.dispose()
    processed = penguins_data.read_processed(engine)
    shuffled = processed.sample(frac=1.0, random_state=1)
    changed = processed.copy()
    changed.loc[0, "body_mass_g"] += 1.0

    assert len(first.fingerprint) == 64
    assert first.fingerprint == again.fingerprint == elsewhere.fingerprint
    assert penguins_data.fingerprint(shuffled) == first.fingerprint
    assert penguins_data.fingerprint(changed) != first.fingerprint
    assert penguins_data.fingerprint(processed.iloc[1:]) != first.fingerprint
