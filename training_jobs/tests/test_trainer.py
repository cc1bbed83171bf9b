"""ModelTrainer.train_and_save against a real MLflow server: run contents, registry tags, aliases, ONNX."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from modelship_common import registry
from modelship_common.db import make_engine
from modelship_common.schemas import penguins
from modelship_training import penguins_data, tracking
from modelship_training.settings import get_settings
from modelship_training.trainer import ModelTrainer

# The session's real MLflow server; trains and registers real models (named by ``unique_name``).
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def setup(tracking_uri: str, tmp_path_factory: pytest.TempPathFactory):
    settings = get_settings(
        mlflow_tracking_uri=tracking_uri,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('data') / 'training.db'}",
        penguins_experiment="trainer-tests",
    )
    engine = make_engine(settings.database_url)
    data = penguins_data.prepare(engine)
    engine.dispose()
    return settings, data, tracking.connect(tracking_uri)


def test_train_and_save_logs_registers_and_promotes(setup, unique_name: str, tmp_path) -> None:
    settings, data, client = setup
    trainer = ModelTrainer(settings, data, client, registered_model=unique_name)
    result = trainer.train_and_save("logistic_regression", LogisticRegression(max_iter=2000), StandardScaler())

    # registry: first version, champion, contract tags
    assert result.version == "1"
    assert result.alias == "champion"
    assert client.get_model_version_by_alias(unique_name, "champion").version == "1"
    model_tags = client.get_registered_model(unique_name).tags
    assert model_tags[registry.SERVE_TAG] == "true"
    assert model_tags[registry.TASK_TAG] == "tabular"
    assert json.loads(model_tags[registry.CLASSES_TAG]) == list(penguins.CLASSES)
    assert json.loads(model_tags[registry.FEATURES_TAG]) == list(penguins.FEATURE_NAMES)
    tags = client.get_model_version(unique_name, "1").tags
    for key in ("test_accuracy", "test_precision", "test_recall", "test_f1", "train_accuracy"):
        assert float(tags[key]) == pytest.approx(result.metrics[key])
    assert 0.9 < result.metrics["test_accuracy"] <= 1.0
    assert tags[registry.DATASET_FINGERPRINT_TAG] == data.fingerprint
    assert tags[registry.GIT_REVISION_TAG] == settings.git_revision
    assert tags["modelship.io/estimator"] == "logistic_regression"
    assert tags[registry.ONNX_TAG] == f"runs:/{result.run_id}/onnx/model.onnx"
    check = tags[registry.ONNX_CHECK_TAG]
    assert check.startswith("max_abs_diff=") and f"n={len(trainer.y_test)}" in check
    assert "classes_equal=true" in check

    # the run: params, metrics, promotion decision, artifacts
    run = client.get_run(result.run_id)
    assert run.data.params["model__max_iter"] == "2000"
    assert run.data.params["scaler"] == "StandardScaler"
    assert run.data.params["dataset_fingerprint"] == data.fingerprint
    assert run.data.params["promotion_margin"] == "0.0"
    assert run.data.metrics["test_f1"] == pytest.approx(result.metrics["test_f1"])
    assert run.data.metrics["promotion_new_f1"] == pytest.approx(result.metrics["test_f1"])
    assert run.data.tags["modelship.promotion.alias"] == "champion"
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"classification_report.txt", "confusion_matrix.png", "onnx"} <= artifacts
    png = mlflow.artifacts.download_artifacts(f"runs:/{result.run_id}/confusion_matrix.png", dst_path=str(tmp_path))
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    report = mlflow.artifacts.load_text(f"runs:/{result.run_id}/classification_report.txt")
    assert all(name in report for name in penguins.CLASSES) and "weighted avg" in report

    # the registered model and its ONNX export agree on the test split
    import onnxruntime as ort

    native = mlflow.sklearn.load_model(registry.model_uri(unique_name, "1"))
    onnx_file = mlflow.artifacts.download_artifacts(tags[registry.ONNX_TAG], dst_path=str(tmp_path / "onnx"))
    session = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    (proba,) = session.run(["probabilities"], {session.get_inputs()[0].name: trainer.x_test})
    assert proba.shape == (len(trainer.y_test), len(penguins.CLASSES))
    assert np.abs(proba - native.predict_proba(trainer.x_test)).max() <= 1e-5


def test_promotion_policy_in_the_registry(setup, unique_name: str) -> None:
    settings, data, client = setup
    trainer = ModelTrainer(settings, data, client, registered_model=unique_name)

    good = trainer.train_and_save("logistic_regression", LogisticRegression(max_iter=2000), StandardScaler())
    weak = trainer.train_and_save("most_frequent", DummyClassifier(strategy="most_frequent"))
    assert (good.alias, weak.alias) == ("champion", "challenger")
    assert weak.decision.champion_f1 == pytest.approx(good.metrics["test_f1"])
    assert client.get_model_version_by_alias(unique_name, "champion").version == good.version
    assert client.get_model_version_by_alias(unique_name, "challenger").version == weak.version
    weak_run = client.get_run(weak.run_id)
    assert weak_run.data.tags["modelship.promotion.alias"] == "challenger"
    assert weak_run.data.metrics["promotion_champion_f1"] == pytest.approx(good.metrics["test_f1"])
    assert " < champion v1 " in weak_run.data.tags["modelship.promotion.reason"]

    # skl2onnx has no converter for DummyClassifier: the failure is recorded, no ONNX tag is set
    weak_tags = client.get_model_version(unique_name, weak.version).tags
    assert weak_tags[registry.ONNX_CHECK_TAG].startswith("failed: skl2onnx conversion failed")
    assert registry.ONNX_TAG not in weak_tags

    # an equally good model needs to beat the margin...
    strict_settings = settings.model_copy(update={"promotion_margin": 0.5})
    strict = ModelTrainer(strict_settings, data, client, registered_model=unique_name)
    same = strict.train_and_save("logistic_regression", LogisticRegression(max_iter=2000), StandardScaler())
    assert same.alias == "challenger"
    assert client.get_model_version_by_alias(unique_name, "champion").version == good.version
    # ...and without a margin a tie replaces the champion
    again = trainer.train_and_save("logistic_regression", LogisticRegression(max_iter=2000), StandardScaler())
    assert again.alias == "champion"
    assert client.get_model_version_by_alias(unique_name, "champion").version == again.version
    assert again.metrics["test_f1"] == pytest.approx(good.metrics["test_f1"])
