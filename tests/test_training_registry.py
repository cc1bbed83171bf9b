"""Real training against the real MLflow server: registry contract, accuracy, promotion policy, PostgreSQL data."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from sqlalchemy import inspect, text

from modelship_common import registry
from modelship_common.schemas import digits, penguins

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVED = ["digits-accurate", "digits-balanced", "digits-fast", "penguins"]


def versions(client: Any, name: str) -> list[Any]:
    return sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))


def test_every_model_is_registered_with_the_contract_tags(trained):
    client = trained.client
    # Other tests register their own models (promo-*); the trained ones are all there.
    assert set(SERVED) <= set(registry.served_models(client))
    for name in SERVED:
        model_tags = client.get_registered_model(name).tags
        assert model_tags[registry.SERVE_TAG] == "true"
        task = "tabular" if name == "penguins" else "image"
        assert model_tags[registry.TASK_TAG] == task
        classes = json.loads(model_tags[registry.CLASSES_TAG])
        assert classes == list(penguins.CLASSES if name == "penguins" else digits.CLASSES)
        if task == "tabular":
            assert json.loads(model_tags[registry.FEATURES_TAG]) == list(penguins.FEATURE_NAMES)
        champion = registry.resolve_alias(client, name, registry.CHAMPION)
        for mv in versions(client, name):
            tags = mv.tags
            for key in ("test_accuracy", "test_precision", "test_recall", "test_f1", "train_accuracy"):
                assert 0.0 <= float(tags[key]) <= 1.0, (name, mv.version, key)
            assert len(tags[registry.DATASET_FINGERPRINT_TAG]) == 64
            assert tags[registry.GIT_REVISION_TAG]
            assert tags["modelship.io/estimator"]
            assert registry.ONNX_CHECK_TAG in tags
            if registry.ONNX_TAG in tags:
                assert tags[registry.ONNX_TAG].startswith(f"runs:/{mv.run_id}/")
        # The champion has the best test F1 of all versions (promotion with margin 0 keeps ties moving forward).
        best_f1 = max(float(mv.tags["test_f1"]) for mv in versions(client, name))
        assert champion.metrics["test_f1"] == best_f1


def test_accuracy_thresholds_from_registry_tags(trained):
    client = trained.client
    best_penguins = max(float(mv.tags["test_accuracy"]) for mv in versions(client, "penguins"))
    assert best_penguins >= 0.97
    assert len(versions(client, "penguins")) >= 6  # five estimators and the grid-search winner
    balanced = max(float(mv.tags["test_accuracy"]) for mv in versions(client, "digits-balanced"))
    assert balanced >= 0.97


def test_training_data_lives_in_postgresql(trained):
    """penguins_raw / penguins_processed were written to the real PostgreSQL and the models were trained on them."""
    from modelship_common.db import make_engine
    from modelship_training import penguins_data

    assert trained.database_url.startswith("postgresql+psycopg://")
    engine = make_engine(trained.database_url)
    try:
        assert engine.dialect.name == "postgresql"
        assert {"penguins_raw", "penguins_processed"} <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            n_raw = conn.execute(text("SELECT count(*) FROM penguins_raw")).scalar_one()
            n_processed = conn.execute(text("SELECT count(*) FROM penguins_processed")).scalar_one()
            species = conn.execute(text("SELECT DISTINCT species FROM penguins_processed ORDER BY 1")).scalars().all()
        processed = penguins_data.read_processed(engine)
    finally:
        engine.dispose()
    assert n_raw == 344  # palmerpenguins' raw dataset
    assert 300 < n_processed < n_raw  # rows with missing values dropped
    assert species == sorted(penguins.CLASSES)
    fingerprint = penguins_data.fingerprint(processed)
    for mv in versions(trained.client, "penguins"):
        assert mv.tags[registry.DATASET_FINGERPRINT_TAG] == fingerprint


def test_promotion_policy_both_ways_against_the_real_registry(trained):
    """A worse version becomes challenger and leaves champion alone; an equal or better one takes champion."""
    from modelship_common.db import make_engine
    from modelship_training import penguins_data
    from modelship_training.settings import get_settings
    from modelship_training.trainer import ModelTrainer

    uid = uuid.uuid4().hex[:8]
    name = f"promo-{uid}"
    settings = get_settings(
        mlflow_tracking_uri=trained.tracking_uri,
        database_url=trained.database_url,
        penguins_experiment=f"promo-{uid}",
        penguins_model_name=name,
    )
    engine = make_engine(trained.database_url)
    try:
        data = penguins_data.to_arrays(penguins_data.read_processed(engine))
    finally:
        engine.dispose()
    trainer = ModelTrainer(settings, data, trained.client)
    client = trained.client

    def aliases() -> dict[str, str]:
        return dict(client.get_registered_model(name).aliases)

    good = trainer.train_and_save("logistic_regression", LogisticRegression(max_iter=2000), StandardScaler())
    assert (good.version, good.alias) == ("1", registry.CHAMPION)
    assert aliases() == {registry.CHAMPION: "1"}

    worse = trainer.train_and_save("stump", DecisionTreeClassifier(max_depth=1, random_state=0))
    assert worse.metrics["test_f1"] < good.metrics["test_f1"]
    assert (worse.version, worse.alias) == ("2", registry.CHALLENGER)
    assert aliases() == {registry.CHAMPION: "1", registry.CHALLENGER: "2"}
    assert client.get_model_version(name, "2").tags["test_f1"] == repr(worse.metrics["test_f1"])

    equal = trainer.train_and_save("logistic_regression", LogisticRegression(max_iter=2000), StandardScaler())
    assert equal.metrics["test_f1"] == good.metrics["test_f1"]
    assert (equal.version, equal.alias) == ("3", registry.CHAMPION)
    assert aliases() == {registry.CHAMPION: "3", registry.CHALLENGER: "2"}
    assert registry.resolve(client, f"models:/{name}@champion").version == "3"
