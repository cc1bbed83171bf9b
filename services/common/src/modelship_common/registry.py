"""MLflow model-registry contracts and helpers shared by training, serving, the gateway and the operator.

Registered-model tags (see ARCHITECTURE.md): ``modelship.io/serve``, ``modelship.io/task``,
``modelship.io/classes``. Model-version tags: dataset fingerprint, test metrics, git revision, and
``modelship.io/onnx`` when a verified ONNX export was logged with the version.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelship_common.errors import ModelNotFound

if TYPE_CHECKING:
    from mlflow import MlflowClient

SERVE_TAG = "modelship.io/serve"
TASK_TAG = "modelship.io/task"
CLASSES_TAG = "modelship.io/classes"
FEATURES_TAG = "modelship.io/features"
DATASET_FINGERPRINT_TAG = "modelship.io/dataset-fingerprint"
GIT_REVISION_TAG = "modelship.io/git-revision"
#: Model-version tag: artifact path (inside the version's model) of an ONNX export that passed verification.
ONNX_TAG = "modelship.io/onnx"
#: Model-version tag: how the ONNX export was checked against the native model ("max_abs_diff=...,n=...").
ONNX_CHECK_TAG = "modelship.io/onnx-check"
#: Model-version tags every rollout decision writes on its candidate (the operator and make demo's controller).
TAG_ROLLOUT_DECISION = "modelship.io/rollout-decision"
TAG_ROLLOUT_REASON = "modelship.io/rollout-reason"
TAG_ROLLOUT_ID = "modelship.io/rollout-id"
TAG_ROLLOUT_PHASE = "modelship.io/rollout-phase"
TAG_ROLLOUT_DECIDED_AT = "modelship.io/rollout-decided-at"
#: Model-version tags whose names start with one of these carry metrics (``test_accuracy``, ``test_f1``...).
METRIC_TAG_PREFIXES: tuple[str, ...] = ("test_", "train_", "cv_")
CHAMPION = "champion"
CHALLENGER = "challenger"


def model_uri(name: str, version: str | int) -> str:
    """The pinned URI pods load: ``models:/<name>/<version>`` (never an alias)."""
    return f"models:/{name}/{version}"


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/name/7`` -> (name, "7", None); ``models:/name@champion`` -> (name, None, "champion")."""
    if not uri.startswith("models:/"):
        raise ValueError(f"not a registry URI: {uri!r} (expected models:/<name>/<version> or models:/<name>@<alias>)")
    rest = uri[len("models:/") :].strip("/")
    if "@" in rest:
        name, alias = rest.split("@", 1)
        if not name or not alias:
            raise ValueError(f"bad registry URI {uri!r}")
        return name, None, alias
    parts = rest.split("/")
    if len(parts) != 2 or not parts[0] or not parts[1].isdigit():
        raise ValueError(f"bad registry URI {uri!r} (expected models:/<name>/<version>)")
    return parts[0], parts[1], None


@dataclass(frozen=True)
class ModelVersionInfo:
    """What the platform needs to know about one registered model version."""

    name: str
    version: str
    source: str
    run_id: str | None
    task: str | None
    classes: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return model_uri(self.name, self.version)

    @property
    def onnx_path(self) -> str | None:
        return self.tags.get(ONNX_TAG) or None


def metrics_from_tags(tags: dict[str, str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in tags.items():
        if key.startswith(METRIC_TAG_PREFIXES):
            try:
                out[key] = float(value)
            except ValueError:
                continue
    return out


def _classes(raw: str | None) -> list[str]:
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def version_info(client: MlflowClient, name: str, version: str | int) -> ModelVersionInfo:
    """Look up one version with its registered model's tags. Raises :class:`ModelNotFound`."""
    return _looked_up(
        client, name, lambda: client.get_model_version(name, str(version)), f"version {version} is not registered"
    )


def _looked_up(client: MlflowClient, name: str, version: Callable[[], Any], missing: str) -> ModelVersionInfo:
    """The version ``version()`` fetches, with the tags of its registered model; :class:`ModelNotFound` saying
    "model <name> <missing>" when MLflow has no such model or version."""
    from mlflow.exceptions import MlflowException

    try:
        mv = version()
        rm = client.get_registered_model(name)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise ModelNotFound(f"model {name!r} {missing}") from exc
        raise
    return _info(mv, dict(rm.tags or {}))


def _info(mv: Any, model_tags: dict[str, str]) -> ModelVersionInfo:
    tags = dict(mv.tags or {})
    return ModelVersionInfo(
        name=mv.name,
        version=str(mv.version),
        source=mv.source,
        run_id=mv.run_id,
        task=model_tags.get(TASK_TAG),
        classes=_classes(model_tags.get(CLASSES_TAG)),
        metrics=metrics_from_tags(tags),
        tags=tags,
        aliases=list(getattr(mv, "aliases", None) or []),
    )


def resolve_alias(client: MlflowClient, name: str, alias: str) -> ModelVersionInfo:
    """The version an alias points at. Raises :class:`ModelNotFound` when the model or alias is missing."""
    return _looked_up(client, name, lambda: client.get_model_version_by_alias(name, alias), f"has no alias {alias!r}")


def resolve(client: MlflowClient, uri: str) -> ModelVersionInfo:
    """Resolve ``models:/name/version`` or ``models:/name@alias`` to a pinned version."""
    name, version, alias = parse_model_uri(uri)
    if alias is not None:
        return resolve_alias(client, name, alias)
    assert version is not None
    return version_info(client, name, version)


def tag_filter(tag: str, value: str) -> str:
    """MLflow search filter matching ``tag == value`` exactly: ``tags.`modelship.io/serve` = 'true'`` (the tag name
    in backticks, since it holds dots and a slash)."""
    if "`" in tag:
        raise ValueError(f"tag name {tag!r} cannot be searched: it contains a backtick")
    if "'" not in value:
        quoted = f"'{value}'"
    elif '"' not in value:
        quoted = f'"{value}"'
    else:
        raise ValueError(f"tag value {value!r} cannot be searched: it contains both quote characters")
    return f"tags.`{tag}` = {quoted}"


def served_models(client: MlflowClient, tag: str = SERVE_TAG, value: str = "true", page_size: int = 200) -> list[str]:
    """Names of registered models carrying ``tag=value`` (the models the platform serves), sorted.

    The registry filters (:func:`tag_filter`), so only the matching models cross the wire, a page of ``page_size``
    at a time.
    """
    names: list[str] = []
    token = None
    filter_string = tag_filter(tag, value)
    while True:
        page = client.search_registered_models(filter_string=filter_string, max_results=page_size, page_token=token)
        names += [rm.name for rm in page]
        token = page.token
        if not token:
            return sorted(names)
