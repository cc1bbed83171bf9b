"""ONNX conversion and verification of real scikit-learn models (no MLflow needed)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelship_training import onnx_export


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return x.astype(np.float32), y


@pytest.mark.parametrize(
    "steps",
    [
        [("scaler", StandardScaler()), ("model", LogisticRegression(max_iter=500))],
        [("model", RandomForestClassifier(50, random_state=0))],
    ],
    ids=["scaled-logistic-regression", "random-forest"],
)
def test_sklearn_pipeline_exports_and_verifies(iris, steps) -> None:
    x, y = iris
    pipeline = Pipeline(steps).fit(x, y)
    model = onnx_export.sklearn_to_onnx(pipeline, n_features=4)

    assert [i.name for i in model.graph.input] == ["input"]
    assert "probabilities" in [o.name for o in model.graph.output]
    check = onnx_export.verify(model, x, pipeline.predict_proba(x), pipeline.predict(x))
    assert check.passed
    assert check.n == len(y)
    assert check.max_abs_diff <= onnx_export.MAX_ABS_DIFF
    assert check.tag().startswith(f"max_abs_diff={check.max_abs_diff:.2g},n={len(y)},classes_equal=true")


def test_verification_fails_when_probabilities_disagree(iris) -> None:
    x, y = iris
    pipeline = Pipeline([("model", RandomForestClassifier(20, random_state=0))]).fit(x, y)
    model = onnx_export.sklearn_to_onnx(pipeline, n_features=4)
    native = pipeline.predict_proba(x)
    skewed = np.roll(native, 1, axis=1)  # the "native" model now prefers another class

    check = onnx_export.verify(model, x, skewed)
    assert not check.passed
    assert not check.classes_equal
    assert check.tag().endswith("classes_equal=false")


def test_verification_catches_float32_drift_of_scaled_trees(iris) -> None:
    """A scaler in float32 (ONNX) vs float64 (sklearn) moves a few rows across tree thresholds."""
    x, y = iris
    pipeline = Pipeline([("scaler", StandardScaler()), ("model", RandomForestClassifier(50, random_state=0))])
    pipeline.fit(x, y)
    model = onnx_export.sklearn_to_onnx(pipeline, n_features=4)

    check = onnx_export.verify(model, x, pipeline.predict_proba(x), pipeline.predict(x))
    assert check.max_abs_diff > onnx_export.MAX_ABS_DIFF
    assert not check.passed


def test_ties_are_counted_not_failed() -> None:
    """Native 0.5/0.5 rows may be broken either way by float32 sums; anything else must match exactly."""
    x = np.array([[0.0], [1.0]], dtype=np.float32)
    model = onnx_export.sklearn_to_onnx(
        Pipeline([("model", RandomForestClassifier(2, random_state=0))]).fit(x, [0, 1]), n_features=1
    )
    import onnxruntime as ort

    onnx_proba = ort.InferenceSession(model.SerializeToString()).run(["probabilities"], {"input": x})[0]
    tie = np.full_like(onnx_proba, 0.5)
    check = onnx_export.verify(model, x, tie, native_classes=1 - onnx_proba.argmax(axis=1))
    assert check.classes_equal
    assert check.ties == 2
    assert check.tag().endswith("classes_equal=true,ties=2")


def test_unsupported_model_raises_export_error(iris) -> None:
    x, y = iris
    pipeline = Pipeline([("model", DummyClassifier())]).fit(x, y)
    with pytest.raises(onnx_export.OnnxExportError, match="skl2onnx conversion failed"):
        onnx_export.sklearn_to_onnx(pipeline, n_features=4)
