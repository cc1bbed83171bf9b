"""Command line, settings, and what a served ONNX model does not import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from services.serving.tests.serving_helpers import child_env, make_settings


def test_parser_extends_kserve():
    from modelship_serving.server import build_parser

    args = build_parser().parse_args(["--model-uri", "models:/penguins/3", "--http_port", "9000", "--workers", "1"])
    assert args.model_uri == "models:/penguins/3"
    assert args.http_port == 9000
    assert args.grpc_port == 8081
    assert args.model_name is None
    assert args.enable_latency_logging is False
    named = build_parser().parse_args(["--model_uri", "models:/digits-fast@champion", "--model_name", "digits"])
    assert named.model_name == "digits"


def test_model_uri_is_required(capsys):
    from modelship_serving.server import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args([])
    assert "--model-uri" in capsys.readouterr().err


def test_default_name_and_bad_uri():
    from modelship_serving.model import MlflowModel, default_model_name
    from modelship_serving.settings import ServingSettings

    assert default_model_name("models:/penguins/3") == "penguins"
    assert default_model_name("models:/digits-fast@champion") == "digits-fast"
    with pytest.raises(ValueError, match="bad registry URI"):
        MlflowModel("x", "models:/penguins/latest", ServingSettings())


def test_settings_from_environment(monkeypatch, tmp_path):
    from modelship_serving.settings import ServingSettings, get_settings

    monkeypatch.setenv("MODELSHIP_MAX_IMAGE_BYTES", "1024")
    monkeypatch.setenv("MODELSHIP_PREFER_ONNX", "false")
    monkeypatch.setenv("MODELSHIP_MODEL_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("MODELSHIP_MLFLOW_TRACKING_URI", "http://mlflow:5000")
    settings = ServingSettings()
    assert (settings.max_image_bytes, settings.prefer_onnx) == (1024, False)
    assert settings.model_cache_dir == tmp_path
    assert settings.mlflow_tracking_uri == "http://mlflow:5000"
    assert ServingSettings.model_fields["max_image_bytes"].description
    get_settings.cache_clear()
    try:
        assert get_settings().max_image_bytes == 1024
    finally:
        get_settings.cache_clear()
    defaults = ServingSettings.model_fields
    assert defaults["max_image_bytes"].default == 5 * 1024 * 1024
    assert defaults["prefer_onnx"].default is True


LOAD_AND_REPORT = textwrap.dedent(
    """
    import json, sys
    from modelship_serving.model import MlflowModel
    from modelship_serving.settings import ServingSettings
    model = MlflowModel("penguins", sys.argv[1], ServingSettings())
    model.load()
    heavy = ["tensorflow", "keras", "sklearn", "mlflow"]
    print(json.dumps({"platform": model.predictor.platform, "imported": [m for m in heavy if m in sys.modules]}))
    """
)


@pytest.mark.integration
def test_onnx_serving_imports_no_tensorflow_or_sklearn_and_a_warm_cache_no_mlflow(mlflow_registry, tmp_path):
    env = child_env(MODELSHIP_MLFLOW_TRACKING_URI=mlflow_registry.uri, MODELSHIP_MODEL_CACHE_DIR=str(tmp_path))
    uri = f"models:/{mlflow_registry.penguins_name}/{mlflow_registry.penguins_version}"

    def run() -> dict:
        done = subprocess.run(
            [sys.executable, "-c", LOAD_AND_REPORT, uri], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    cold = run()
    assert cold["platform"] == "onnxruntime"
    assert cold["imported"] == ["mlflow"]  # registry lookup and download only; no flavour
    warm = run()
    assert warm == {"platform": "onnxruntime", "imported": []}  # pinned version: served from the cache
    from modelship_serving.loading import version_dir

    cached = version_dir(
        make_settings(mlflow_registry, tmp_path), mlflow_registry.penguins_name, mlflow_registry.penguins_version
    )
    assert cached.parent.parent.parent == tmp_path
    assert (cached / "model.onnx").is_file()


LEAN_IMPORT = textwrap.dedent(
    """
    import json, sys
    from modelship_serving.fastimport import preload_kserve
    first, again = preload_kserve(), preload_kserve()
    skipped = [m for m in ("pandas", "pyarrow", "kubernetes", "kserve.api.kserve_client") if m in sys.modules]
    from kserve.model import Model
    from kserve.protocol import infer_type
    frame = infer_type.pd.DataFrame({"a": [1, 2]})
    import pandas
    print(json.dumps({
        "first": first, "again": again, "skipped_imported": skipped,
        "real_frame": type(frame) is pandas.DataFrame,
        "isinstance": isinstance(frame, infer_type.pd.DataFrame),
        "concat": infer_type.pd.concat is pandas.concat,
        "pandas_is_real": type(sys.modules["pandas"]).__name__ == "module",
        "model_class": Model.__module__,
    }))
    """
)


def test_lean_kserve_import_skips_kubernetes_and_pandas_but_keeps_them_working():
    done = subprocess.run(
        [sys.executable, "-c", LEAN_IMPORT], env=child_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {
        "first": True,
        "again": False,
        "skipped_imported": [],
        "real_frame": True,
        "isinstance": True,
        "concat": True,
        "pandas_is_real": True,
        "model_class": "kserve.model",
    }
