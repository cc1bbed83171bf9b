"""Digits data and the three CNN variants, trained for real against the session's real MLflow server."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator

import numpy as np
import pytest

from modelship_common import registry
from modelship_common.schemas import digits
from modelship_training import digits_data, jobs
from modelship_training.digits_models import VARIANTS
from modelship_training.settings import get_settings
from training_jobs.tests.mlflow_names import PREFIX, forget_models


def test_sklearn_digits_are_upsampled_and_split_stratified() -> None:
    data = digits_data.load("sklearn", test_size=0.2, seed=42)
    again = digits_data.load("sklearn", test_size=0.2, seed=42)

    assert data.x_train.shape[1:] == data.x_test.shape[1:] == digits.INPUT_SHAPE
    assert data.x_train.dtype == np.float32
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    assert len(data.y_train) + len(data.y_test) == 1797
    assert len(data.y_test) == 360
    counts = np.bincount(data.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37  # stratified: ~36 of each digit
    assert data.fingerprint == again.fingerprint
    assert np.array_equal(data.y_test, again.y_test)


def test_unknown_dataset_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown digits dataset 'imagenet'"):
        digits_data.load("imagenet")


@pytest.fixture
def model_names(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The variants (the same CNNs and epochs) registered as ``training-tests-<variant>``, deleted afterwards: the
    session's MLflow holds the ``digits-*`` models ``trained`` registered, which other suites serve by alias.
    Variant -> registered-model name."""
    from modelship_training import digits_models

    names = {name: f"{PREFIX}{name}" for name in VARIANTS}
    renamed = {names[name]: dataclasses.replace(variant, name=names[name]) for name, variant in VARIANTS.items()}
    monkeypatch.setattr(digits_models, "VARIANTS", renamed)
    yield names
    forget_models(tracking_uri, *names.values())


@pytest.mark.integration
@pytest.mark.slow
def test_digits_variants_train_register_and_export(tracking_uri: str, model_names: dict[str, str], tmp_path) -> None:
    import mlflow
    import onnxruntime as ort
    from mlflow import MlflowClient

    settings = get_settings(mlflow_tracking_uri=tracking_uri, digits_experiment="digits-test")
    report = jobs.train_digits(settings)
    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    data = digits_data.load("sklearn", test_size=settings.test_size, seed=settings.random_seed)

    by_name = {r.model_name: r for r in report.results}
    assert list(by_name) == [model_names[name] for name in VARIANTS]
    assert by_name[model_names["digits-balanced"]].test_accuracy >= 0.97
    assert by_name[model_names["digits-fast"]].test_accuracy >= 0.85
    sizes = [int(by_name[model_names[name]].params["n_parameters"]) for name in VARIANTS]
    assert sizes == sorted(sizes)  # growing capacity
    for result in report.results:
        model_tags = client.get_registered_model(result.model_name).tags
        assert model_tags[registry.SERVE_TAG] == "true"
        assert model_tags[registry.TASK_TAG] == "image"
        assert json.loads(model_tags[registry.CLASSES_TAG]) == [str(d) for d in range(10)]
        tags = client.get_model_version(result.model_name, result.version).tags
        assert float(tags["test_accuracy"]) == pytest.approx(result.test_accuracy)
        assert tags[registry.DATASET_FINGERPRINT_TAG] == data.fingerprint
        assert tags[registry.ONNX_TAG] == f"runs:/{result.run_id}/onnx/model.onnx", result.summary()
        assert "n=360,classes_equal=true" in tags[registry.ONNX_CHECK_TAG]
        run = client.get_run(result.run_id)
        epochs = client.get_metric_history(result.run_id, "epoch_loss")
        assert len(epochs) == int(run.data.params["epochs"])
        assert {"classification_report.txt", "confusion_matrix.png", "onnx"} <= {
            a.path for a in client.list_artifacts(result.run_id)
        }

    # the registered Keras model and its ONNX export give the same answers
    balanced = by_name[model_names["digits-balanced"]]
    keras_model = mlflow.tensorflow.load_model(registry.model_uri(balanced.model_name, balanced.version))
    native = np.asarray(keras_model.predict(data.x_test, verbose=0))
    assert float(np.mean(native.argmax(axis=1) == data.y_test)) == pytest.approx(balanced.test_accuracy)
    onnx_file = mlflow.artifacts.download_artifacts(f"runs:/{balanced.run_id}/onnx/model.onnx", dst_path=str(tmp_path))
    session = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    (proba,) = session.run(["probabilities"], {session.get_inputs()[0].name: data.x_test})
    assert proba.shape == (360, 10)
    assert np.abs(proba - native).max() <= 1e-5
