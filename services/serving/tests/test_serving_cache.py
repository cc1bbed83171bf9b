"""The model cache is per MLflow server: the same name and version number from two registries never mix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from modelship_serving.loading import INFO_FILE, version_dir
from services.serving.tests.serving_helpers import call, loaded_model, make_settings
from services.serving.tests.test_serving_tabular import GENTOO

# Real MLflow servers (the session's and a second one) with models logged into them.
pytestmark = pytest.mark.integration


def predicted_class(registry, cache: Path) -> str:
    uri = f"models:/{registry.penguins_name}/{registry.penguins_version}"
    model = loaded_model("penguins", uri, make_settings(registry, cache))
    assert model.predictor.platform == "onnxruntime"
    [prediction] = call(model, {"instances": [GENTOO]})["predictions"]
    return prediction["class_name"]


def test_two_registries_share_a_cache_dir_without_mixing(mlflow_registry, other_registry, tmp_path: Path) -> None:
    cache = tmp_path / "shared-cache"
    assert mlflow_registry.penguins_version == other_registry.penguins_version  # same name, same number
    assert predicted_class(mlflow_registry, cache) == "Gentoo"
    assert predicted_class(other_registry, cache) == "Adelie"  # not the first server's cached model
    assert predicted_class(mlflow_registry, cache) == "Gentoo"  # warm start: still its own
    assert mlflow_registry.penguins_name == other_registry.penguins_name
    first = version_dir(
        make_settings(mlflow_registry, cache), mlflow_registry.penguins_name, mlflow_registry.penguins_version
    )
    second = version_dir(
        make_settings(other_registry, cache), other_registry.penguins_name, other_registry.penguins_version
    )
    assert first != second
    assert (first / "model.onnx").is_file() and (second / "model.onnx").is_file()


def test_cached_version_of_another_run_is_fetched_again(mlflow_registry, other_registry, tmp_path: Path) -> None:
    """A registry reset at the same URI reuses version numbers: with the registry up, the cached entry's run is
    checked and a foreign one replaced."""
    cache = tmp_path / "cache"
    assert predicted_class(mlflow_registry, cache) == "Gentoo"
    first = version_dir(
        make_settings(mlflow_registry, cache), mlflow_registry.penguins_name, mlflow_registry.penguins_version
    )
    second = version_dir(
        make_settings(other_registry, cache), other_registry.penguins_name, other_registry.penguins_version
    )
    if second != first:  # what the second server's URI would find after its registry was reset
        shutil.copytree(first, second)
    assert predicted_class(other_registry, cache) == "Adelie"
    other_client = MlflowClient(other_registry.uri, registry_uri=other_registry.uri)
    registered = other_client.get_model_version(other_registry.penguins_name, other_registry.penguins_version)
    assert json.loads((second / INFO_FILE).read_text())["run_id"] == registered.run_id
    assert predicted_class(other_registry, cache) == "Adelie"  # and the refreshed entry serves warm starts


def test_native_flavour_loads_from_its_own_server_whatever_the_process_wide_tracking_uri(
    mlflow_registry, other_registry, tmp_path: Path
) -> None:
    """MLflow resolves ``models:/<name>/<version>`` through the process-wide tracking URI: with it pointing at another
    server, that download came back empty ("downloaded artifacts have no MLmodel file", seen in a shuffled run)."""
    import mlflow

    settings = make_settings(mlflow_registry, tmp_path / "cache", prefer_onnx=False)
    mlflow.set_tracking_uri(other_registry.uri)
    mlflow.set_registry_uri(other_registry.uri)
    try:
        uri = f"models:/{mlflow_registry.penguins_name}/{mlflow_registry.penguins_version}"
        model = loaded_model("penguins", uri, settings)
    finally:
        mlflow.set_tracking_uri(mlflow_registry.uri)
        mlflow.set_registry_uri(mlflow_registry.uri)
    assert model.predictor.platform == "mlflow_sklearn"
    [prediction] = call(model, {"instances": [GENTOO]})["predictions"]
    assert prediction["class_name"] == "Gentoo"  # the first server's model, not the other's (Adelie)
