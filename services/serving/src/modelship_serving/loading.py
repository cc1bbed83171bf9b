"""From a ``models:/`` URI to a ready backend: registry lookup, artifact download, a local cache of both.

Pinned versions never change, so their registry facts (tags, classes) and artifacts are kept under
``model_cache_dir/<registry key>/<name>/<version>/``, the key being a hash of the tracking URI: ``penguins/2`` of
one MLflow server is not ``penguins/2`` of another one sharing the cache directory. A restart that finds them there
serves without importing MLflow (about a second and a half of cold start on a small box); when the registry
answers, a plain REST call first checks that the version still comes from the cached run (a registry that was
reset reuses version numbers). Aliases are always resolved against the registry.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelship_common import registry
from modelship_common.errors import ModelNotFound
from modelship_common.schemas import TASK_IMAGE, TASK_TABULAR
from modelship_serving.backends import Backend, KerasBackend, OnnxBackend, SklearnBackend

if TYPE_CHECKING:
    from modelship_serving.settings import ServingSettings

log = logging.getLogger(__name__)

INFO_FILE = "version.json"
ONNX_FILE = "model.onnx"
NATIVE_DIR = "native"
#: How long a start waits for the registry to confirm a cached version before serving it unconfirmed.
CHECK_TIMEOUT_S = 5.0


class ModelLoadError(RuntimeError):
    """The registered version cannot be served (missing tags, unknown flavour, broken artifact)."""


@dataclass(frozen=True)
class LoadedModel:
    """One registered version and the runtime that scores it."""

    info: registry.ModelVersionInfo
    backend: Backend


def registry_key(tracking_uri: str) -> str:
    """The cache directory of one MLflow server: 12 hex digits of the SHA-256 of its tracking URI."""
    return hashlib.sha256(tracking_uri.strip().rstrip("/").encode()).hexdigest()[:12]


def version_dir(settings: ServingSettings, name: str, version: str) -> Path:
    return Path(settings.model_cache_dir) / registry_key(settings.mlflow_tracking_uri) / name / version


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


def _identity(info: registry.ModelVersionInfo) -> tuple[str | None, str]:
    """What tells two registrations under the same name and number apart."""
    return info.run_id, info.source


def _registry_identity(settings: ServingSettings, name: str, version: str) -> tuple[str | None, str] | None:
    """The registry's current ``(run_id, source)`` of a version; ``("", "")`` when it has no such version;
    ``None`` when the registry cannot say (down, slow, refusing us).

    HTTP(S) registries get one REST call (MLflow's own token or basic-auth variables apply), so a warm start
    still does not import MLflow; other tracking URIs (local stores) go through the MLflow client.
    """
    tracking_uri = settings.mlflow_tracking_uri.strip().rstrip("/")
    if not tracking_uri.startswith(("http://", "https://")):
        try:
            return _identity(registry.version_info(_mlflow_client(settings), name, version))
        except ModelNotFound:
            return "", ""
        except Exception as exc:  # the cache stays usable without the registry
            log.info("cannot check %s against the registry: %r", registry.model_uri(name, version), exc)
            return None
    query = urllib.parse.urlencode({"name": name, "version": version})
    request = urllib.request.Request(f"{tracking_uri}/api/2.0/mlflow/model-versions/get?{query}")
    if token := os.environ.get("MLFLOW_TRACKING_TOKEN"):
        request.add_header("Authorization", f"Bearer {token}")
    elif (user := os.environ.get("MLFLOW_TRACKING_USERNAME")) is not None:
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD", "")
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=CHECK_TIMEOUT_S) as response:
            found = json.loads(response.read())["model_version"]
        return found.get("run_id") or None, str(found.get("source", ""))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return "", ""
        log.info("cannot check %s against the registry: HTTP %s", registry.model_uri(name, version), exc.code)
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("cannot check %s against the registry: %r", registry.model_uri(name, version), exc)
        return None


def _discard(directory: Path) -> None:
    """Remove a stale cache entry (renamed aside first, so no reader sees it half deleted)."""
    if not directory.exists():
        return
    aside = directory.with_name(f".{directory.name}.stale.{os.getpid()}")
    try:
        os.replace(directory, aside)
    except OSError as exc:
        log.warning("cannot remove stale cache entry %s: %s", directory, exc)
        return
    shutil.rmtree(aside, ignore_errors=True)


def _cache_info(info: registry.ModelVersionInfo, settings: ServingSettings) -> None:
    """Remember a version's registry facts; artifacts cached for another registration of it are dropped."""
    directory = version_dir(settings, info.name, info.version)
    cached = _read_cached_info(directory)
    if cached is not None and _identity(cached) != _identity(info):
        log.warning("cache entry %s belongs to another registration of %s: replacing it", directory, info.uri)
        _discard(directory)
    try:
        _write_atomic(directory / INFO_FILE, json.dumps(dataclasses.asdict(info)).encode())
    except OSError as exc:  # a read-only cache only costs the next start some time
        log.warning("cannot cache registry facts in %s: %s", settings.model_cache_dir, exc)


def resolve_version(uri: str, settings: ServingSettings) -> registry.ModelVersionInfo:
    """Resolve ``models:/name/version`` or ``models:/name@alias`` to a pinned version's registry facts.

    A pinned version found in the cache is used as it is unless the registry answers with another run or
    source for it. Raises :class:`modelship_common.errors.ModelNotFound` when the registry does not know it,
    ``ValueError`` for a malformed URI.
    """
    name, version, _alias = registry.parse_model_uri(uri)
    if version is not None:
        cached = _read_cached_info(version_dir(settings, name, version))
        if cached is not None:
            current = _registry_identity(settings, name, version)
            if current is None or current == _identity(cached):
                log.info("using cached registry facts of %s", cached.uri)
                return cached
            log.warning(
                "cached %s (run %s) is not what the registry has now (run %s): fetching it again",
                cached.uri,
                cached.run_id,
                current[0] or "none",
            )
    info = registry.resolve(_mlflow_client(settings), uri)
    _cache_info(info, settings)
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


def _artifact_location(info: registry.ModelVersionInfo, settings: ServingSettings) -> str:
    """Where the version's files are (e.g. ``mlflow-artifacts:/1/models/m-.../artifacts``), asked of our registry.

    Not ``models:/<name>/<version>``: MLflow resolves that URI's logged model (``models:/m-...``) against the
    process-wide tracking URI rather than the one passed to ``download_artifacts``, and a process that talked to
    another MLflow before then downloads an empty directory.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)
    return str(client.get_model_version_download_uri(info.name, info.version))


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
        local = _download(_artifact_location(info, settings), Path(tmp), settings)
        if not (local / "MLmodel").is_file():
            raise ModelLoadError(f"{info.uri}: downloaded artifacts have no MLmodel file")
        if target.exists():
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
