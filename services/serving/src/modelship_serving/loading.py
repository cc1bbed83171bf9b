"""From a ``models:/`` URI to a ready backend: registry lookup, artifact download, a local cache of both.

Pinned versions never change, so their registry facts (tags, classes) and artifacts are kept under
``model_cache_dir/<name>/<version>/``. A restart that finds them there serves without importing MLflow
(about a second and a half of cold start on a small box). Aliases are always resolved against the registry.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelship_common import registry
from modelship_common.schemas import TASK_IMAGE, TASK_TABULAR
from modelship_serving.backends import Backend, KerasBackend, OnnxBackend, SklearnBackend

if TYPE_CHECKING:
    from modelship_serving.settings import ServingSettings

log = logging.getLogger(__name__)

INFO_FILE = "version.json"
ONNX_FILE = "model.onnx"
NATIVE_DIR = "native"


class ModelLoadError(RuntimeError):
    """The registered version cannot be served (missing tags, unknown flavour, broken artifact)."""


@dataclass(frozen=True)
class LoadedModel:
    """One registered version and the runtime that scores it."""

    info: registry.ModelVersionInfo
    backend: Backend


def version_dir(settings: ServingSettings, name: str, version: str) -> Path:
    return Path(settings.model_cache_dir) / name / version


def _mlflow_client(settings: ServingSettings) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)


def _read_cached_info(directory: Path) -> registry.ModelVersionInfo | None:
    try:
        data = json.loads((directory / INFO_FILE).read_text())
        return registry.ModelVersionInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def resolve_version(uri: str, settings: ServingSettings) -> registry.ModelVersionInfo:
    """Resolve ``models:/name/version`` or ``models:/name@alias`` to a pinned version's registry facts.

    Raises :class:`modelship_common.errors.ModelNotFound` when the registry does not know it, ``ValueError``
    for a malformed URI.
    """
    name, version, _alias = registry.parse_model_uri(uri)
    if version is not None:
        cached = _read_cached_info(version_dir(settings, name, version))
        if cached is not None:
            log.info("using cached registry facts of %s", cached.uri)
            return cached
    info = registry.resolve(_mlflow_client(settings), uri)
    try:
        payload = json.dumps(dataclasses.asdict(info)).encode()
        _write_atomic(version_dir(settings, info.name, info.version) / INFO_FILE, payload)
    except OSError as exc:  # a read-only cache only costs the next start some time
        log.warning("cannot cache registry facts in %s: %s", settings.model_cache_dir, exc)
    return info


def check_info(info: registry.ModelVersionInfo) -> None:
    """Refuse versions the server cannot describe: unknown task, no classes, a foreign feature schema."""
    if info.task not in (TASK_TABULAR, TASK_IMAGE):
        raise ModelLoadError(
            f"{info.uri}: registered model tag {registry.TASK_TAG}={info.task!r}; expected tabular or image"
        )
    if not info.classes:
        raise ModelLoadError(f"{info.uri}: registered model has no {registry.CLASSES_TAG} tag")


def _download(artifact_uri: str, dst: Path, settings: ServingSettings) -> Path:
    from mlflow.artifacts import download_artifacts

    dst.mkdir(parents=True, exist_ok=True)
    local = download_artifacts(
        artifact_uri=artifact_uri,
        dst_path=str(dst),
        tracking_uri=settings.mlflow_tracking_uri,
        registry_uri=settings.mlflow_tracking_uri,
    )
    return Path(local)


def _onnx_file(info: registry.ModelVersionInfo, settings: ServingSettings) -> Path:
    target = version_dir(settings, info.name, info.version) / ONNX_FILE
    if target.is_file():
        return target
    assert info.onnx_path is not None
    with tempfile.TemporaryDirectory(dir=_ensure(target.parent)) as tmp:
        local = _download(info.onnx_path, Path(tmp), settings)
        if local.is_dir():
            candidates = sorted(local.rglob("*.onnx"))
            if len(candidates) != 1:
                raise ModelLoadError(f"{info.uri}: {info.onnx_path} holds {len(candidates)} .onnx files")
            local = candidates[0]
        os.replace(local, target)
    return target


def _ensure(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _native_dir(info: registry.ModelVersionInfo, settings: ServingSettings) -> Path:
    target = version_dir(settings, info.name, info.version) / NATIVE_DIR
    if (target / "MLmodel").is_file():
        return target
    with tempfile.TemporaryDirectory(dir=_ensure(target.parent)) as tmp:
        local = _download(info.uri, Path(tmp), settings)
        if not (local / "MLmodel").is_file():
            raise ModelLoadError(f"{info.uri}: downloaded artifacts have no MLmodel file")
        if target.exists():
            import shutil

            shutil.rmtree(target)
        os.replace(local, target)
    return target


def _load_native(info: registry.ModelVersionInfo, settings: ServingSettings) -> Backend:
    from mlflow.models import Model as MLmodel

    path = _native_dir(info, settings)
    flavors = MLmodel.load(str(path)).flavors
    if "sklearn" in flavors:
        import mlflow.sklearn

        return SklearnBackend(mlflow.sklearn.load_model(str(path)), n_classes=len(info.classes))
    if "tensorflow" in flavors or "keras" in flavors:
        import mlflow.tensorflow

        return KerasBackend(mlflow.tensorflow.load_model(str(path)))
    raise ModelLoadError(f"{info.uri}: no sklearn or tensorflow flavour (flavours: {sorted(flavors)})")


def load_backend(info: registry.ModelVersionInfo, settings: ServingSettings) -> Backend:
    """The ONNX export when there is a verified one and ``prefer_onnx``; the native MLflow flavour otherwise."""
    if settings.prefer_onnx and info.onnx_path:
        path = _onnx_file(info, settings)
        log.info("serving %s with onnxruntime from %s", info.uri, path)
        return OnnxBackend(path, threads=settings.onnx_threads)
    log.info("serving %s with its native MLflow flavour", info.uri)
    return _load_native(info, settings)


def load(uri: str, settings: ServingSettings) -> LoadedModel:
    """Resolve ``uri`` once and load the pinned version's runtime."""
    info = resolve_version(uri, settings)
    check_info(info)
    return LoadedModel(info=info, backend=load_backend(info, settings))
