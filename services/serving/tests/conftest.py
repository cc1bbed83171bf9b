"""Real components for the serving tests: small models logged into the session's one ``mlflow server``.

The server is the platform plugin's (``tracking_uri``, ``devtools/pytest_platform.py``), where ``trained`` registers
``penguins`` and the ``digits-*`` models other suites serve by alias; registered-model names are global there, so
the serving tests' models have names of their own (``Registry.penguins_name``, ``Registry.digits_name``):

- ``serving-penguins`` version 1: a StandardScaler + LogisticRegression Pipeline on palmerpenguins, logged with the
  sklearn flavour plus a verified ONNX export (``modelship.io/onnx`` tag), alias ``champion``;
- ``serving-digits-fast`` version 1: a tiny Keras CNN on 300 upsampled scikit-learn digits (about 3 in 4 of the
  held-out ones right), logged with mlflow.tensorflow.

The model servers serve them as ``penguins`` and ``digits-fast`` (``--model_name``), the names the tests check. They
carry the registry tags the model server reads (task, classes, features), not the serve tag: nothing here discovers
them, and the demo test serves every served model of the session's MLflow.

``other_registry`` is a second MLflow server of its own: the cache tests need two registries holding the same name
and version number.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from devtools import servers
from modelship_common import registry
from modelship_common.schemas import digits, penguins
from services.serving.tests.serving_helpers import loaded_model, make_settings

#: The registered-model names of the serving tests' models on the session's MLflow.
PENGUINS_NAME = "serving-penguins"
DIGITS_NAME = "serving-digits-fast"


@dataclass(frozen=True)
class PenguinsData:
    features: np.ndarray  # float32 (n, 9), encoded
    labels: np.ndarray  # int class ids
    raw: list[dict]  # the same rows as dicts of raw columns
    train: np.ndarray  # indices of the rows the penguins models are fit on
    test: np.ndarray  # indices of the held-out rows (a quarter, stratified): what accuracy is measured on


@pytest.fixture(scope="session")
def penguins_data() -> PenguinsData:
    from palmerpenguins import load_penguins

    frame = load_penguins().dropna(subset=[*penguins.RAW_FEATURES, penguins.TARGET])
    raw = [
        {
            name: (row[name] if name in penguins.CATEGORICAL_FEATURES else float(row[name]))
            for name in penguins.RAW_FEATURES
        }
        for row in frame.to_dict("records")
    ]
    labels = np.asarray([penguins.CLASSES.index(s) for s in frame[penguins.TARGET]], dtype=np.int64)
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(np.arange(len(labels)), test_size=0.25, stratify=labels, random_state=0)
    return PenguinsData(
        features=penguins.encode_rows(raw), labels=labels, raw=raw, train=np.sort(train), test=np.sort(test)
    )


def _register_tags(client, name: str, task: str, classes: tuple[str, ...], features: tuple[str, ...] | None) -> None:
    client.set_registered_model_tag(name, registry.TASK_TAG, task)
    client.set_registered_model_tag(name, registry.CLASSES_TAG, json.dumps(list(classes)))
    if features:
        client.set_registered_model_tag(name, registry.FEATURES_TAG, json.dumps(list(features)))


def _log_penguins(client, data: PenguinsData, workdir: Path, *, label_shift: int = 0) -> str:
    """Register a version of PENGUINS_NAME; ``label_shift`` k trains on class ``(y + k) % 3`` (a model that
    disagrees)."""
    import mlflow
    import mlflow.sklearn
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=500))])
    labels = (data.labels + label_shift) % len(penguins.CLASSES)
    pipe.fit(data.features[data.train], labels[data.train])  # the held-out rows stay unseen
    onnx_model = convert_sklearn(
        pipe,
        initial_types=[("features", FloatTensorType([None, penguins.N_FEATURES]))],
        options={"zipmap": False},
        target_opset=17,
    )
    onnx_path = workdir / "model.onnx"
    onnx_path.write_bytes(onnx_model.SerializeToString())
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_proba = session.run(["probabilities"], {"features": data.features})[0]
    diff = float(np.max(np.abs(onnx_proba - pipe.predict_proba(data.features))))
    assert diff < 1e-5, diff

    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(pipe, name="model", registered_model_name=PENGUINS_NAME)
        mlflow.log_artifact(str(onnx_path), artifact_path="onnx")
    version = client.search_model_versions(f"run_id='{run.info.run_id}'")[0].version
    _register_tags(client, PENGUINS_NAME, "tabular", penguins.CLASSES, penguins.FEATURE_NAMES)
    test_score = pipe.score(data.features[data.test], labels[data.test])
    client.set_model_version_tag(PENGUINS_NAME, version, "test_f1", f"{test_score:.4f}")
    client.set_model_version_tag(PENGUINS_NAME, version, registry.ONNX_TAG, f"runs:/{run.info.run_id}/onnx/model.onnx")
    check = f"max_abs_diff={diff:.2g},n={len(labels)},classes_equal=true"
    client.set_model_version_tag(PENGUINS_NAME, version, registry.ONNX_CHECK_TAG, check)
    client.set_registered_model_alias(PENGUINS_NAME, registry.CHAMPION, version)
    return str(version)


def _log_digits(client, *, name: str) -> str:
    """Train the tiny digits CNN and register it as ``name``; its version."""
    import keras
    import mlflow
    import mlflow.tensorflow
    from sklearn.datasets import load_digits

    x8, y = load_digits(return_X_y=True)
    x = digits.upsample_8x8(x8[:300])
    y = y[:300]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=digits.INPUT_SHAPE),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(4),
            keras.layers.Flatten(),
            keras.layers.Dense(len(digits.CLASSES), activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=30, batch_size=64, verbose=0)  # a few seconds; tells most held-out digits apart
    with mlflow.start_run() as run:
        mlflow.tensorflow.log_model(model, name="model", registered_model_name=name)
    version = client.search_model_versions(f"run_id='{run.info.run_id}'")[0].version
    _register_tags(client, name, "image", digits.CLASSES, None)
    return str(version)


@dataclass(frozen=True)
class Registry:
    uri: str
    penguins_version: str
    digits_version: str
    penguins_name: str = PENGUINS_NAME  # served as ``penguins``
    digits_name: str = DIGITS_NAME  # served as ``digits-fast``


@contextlib.contextmanager
def mlflow_at(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide tracking *and* registry URIs at ``uri`` while the block runs, then put back what
    was there. ``log_model(registered_model_name=…)`` registers through the registry URI: with only the tracking URI
    set, a registry URI another suite's fixture left behind (the platform's session server) got the
    ``model-versions/create`` for a model logged here, and answered 500, "Logged model … not found"."""
    import mlflow

    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


@pytest.fixture(scope="session")
def mlflow_registry(
    tracking_uri: str, penguins_data: PenguinsData, tmp_path_factory: pytest.TempPathFactory
) -> Registry:
    """The session's MLflow server with the serving tests' penguins and digits models registered and tagged."""
    import mlflow
    from mlflow.tracking import MlflowClient

    with mlflow_at(tracking_uri):
        mlflow.set_experiment("serving-tests")
        client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
        workdir = tmp_path_factory.mktemp("models")
        return Registry(
            uri=tracking_uri,
            penguins_version=_log_penguins(client, penguins_data, workdir),
            digits_version=_log_digits(client, name=DIGITS_NAME),
        )


@pytest.fixture(scope="session")
def other_registry(
    mlflow_registry: Registry, penguins_data: PenguinsData, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A second MLflow server (its own: the session has one) whose PENGUINS_NAME has the same version number as
    the session server's but is another model: trained on shifted labels, it predicts Adelie where the first one
    predicts Gentoo."""
    import mlflow
    from mlflow.tracking import MlflowClient

    with servers.start_mlflow(tmp_path_factory.mktemp("other-mlflow")) as server:
        uri = str(server.url)
        with mlflow_at(uri):
            mlflow.set_experiment("serving-tests")
            workdir = tmp_path_factory.mktemp("other-models")
            version = _log_penguins(MlflowClient(uri, registry_uri=uri), penguins_data, workdir, label_shift=1)
        assert version == mlflow_registry.penguins_version
        yield Registry(uri=uri, penguins_version=version, digits_version="")


# --- in-process models ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def penguins_onnx(mlflow_registry: Registry, model_cache: Path):
    """penguins served from its ONNX export, loaded through the alias."""
    uri = f"models:/{mlflow_registry.penguins_name}@champion"
    return loaded_model("penguins", uri, make_settings(mlflow_registry, model_cache))


@pytest.fixture(scope="session")
def penguins_native(mlflow_registry: Registry, tmp_path_factory: pytest.TempPathFactory):
    """The same penguins version through its sklearn flavour (prefer_onnx off, its own cache)."""
    settings = make_settings(mlflow_registry, tmp_path_factory.mktemp("native-cache"), prefer_onnx=False)
    uri = f"models:/{mlflow_registry.penguins_name}/{mlflow_registry.penguins_version}"
    return loaded_model("penguins", uri, settings)


@pytest.fixture(scope="session")
def digits_model(mlflow_registry: Registry, model_cache: Path):
    """digits-fast through mlflow.tensorflow, with a small image limit for the oversize tests."""
    settings = make_settings(mlflow_registry, model_cache, max_image_bytes=20_000)
    uri = f"models:/{mlflow_registry.digits_name}/{mlflow_registry.digits_version}"
    return loaded_model("digits-fast", uri, settings)
