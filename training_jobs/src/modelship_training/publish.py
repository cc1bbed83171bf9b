"""Steps every trainer shares once a model is fitted: reports, ONNX export, version tags, promotion.

All functions log into the *active* MLflow run; registry changes go through an explicit ``MlflowClient``.
Order matters for consumers that watch the registry: version tags (metrics, fingerprint, ONNX) are written
before the registered-model tags, and the alias is moved last, so a version is complete when it is promoted.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from modelship_common import registry
from modelship_training import evaluation, onnx_export
from modelship_training.promotion import PromotionDecision, decide

if TYPE_CHECKING:
    import onnx
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

ONNX_ARTIFACT_DIR = "onnx"
ONNX_FILE = "model.onnx"
PROMOTION_ALIAS_TAG = "modelship.promotion.alias"
PROMOTION_REASON_TAG = "modelship.promotion.reason"


@dataclass(frozen=True)
class OnnxOutcome:
    """Version tags from an ONNX export attempt; ``uri`` is set only when the export passed verification."""

    check: str
    uri: str | None

    def tags(self) -> dict[str, str]:
        tags = {registry.ONNX_CHECK_TAG: self.check}
        if self.uri:
            tags[registry.ONNX_TAG] = self.uri
        return tags


def log_evaluation(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], title: str) -> dict[str, float]:
    """Log test metrics, the classification report and a confusion-matrix PNG to the active run."""
    import mlflow

    metrics = evaluation.score_predictions(y_true, y_pred)
    mlflow.log_metrics(metrics)
    mlflow.log_text(evaluation.report_text(y_true, y_pred, classes), "classification_report.txt")
    with tempfile.TemporaryDirectory() as tmp:
        png = evaluation.confusion_matrix_png(y_true, y_pred, classes, Path(tmp) / "confusion_matrix.png", title)
        mlflow.log_artifact(str(png))
    return metrics


def export_onnx(
    convert: Callable[[], onnx.ModelProto],
    x_test: np.ndarray,
    native_proba: np.ndarray,
    native_classes: np.ndarray | None = None,
) -> OnnxOutcome:
    """Convert, verify on the test split and, only if it passes, log ``onnx/model.onnx`` to the active run."""
    import mlflow

    run = mlflow.active_run()
    assert run is not None, "export_onnx needs an active MLflow run"
    try:
        model = convert()
        check = onnx_export.verify(model, x_test, native_proba, native_classes)
    except onnx_export.OnnxExportError as exc:
        log.warning("ONNX export failed: %s", exc)
        mlflow.set_tag(registry.ONNX_CHECK_TAG, f"failed: {exc}"[:500])
        return OnnxOutcome(check=f"failed: {exc}"[:500], uri=None)
    mlflow.log_metric("onnx_max_abs_diff", check.max_abs_diff)
    mlflow.set_tag(registry.ONNX_CHECK_TAG, check.tag())
    if not check.passed:
        reason = f"failed verification: {check.tag()} (limit max_abs_diff={onnx_export.MAX_ABS_DIFF:g})"
        log.warning("ONNX export %s", reason)
        return OnnxOutcome(check=reason, uri=None)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ONNX_FILE
        path.write_bytes(model.SerializeToString())
        mlflow.log_artifact(str(path), artifact_path=ONNX_ARTIFACT_DIR)
    uri = f"runs:/{run.info.run_id}/{ONNX_ARTIFACT_DIR}/{ONNX_FILE}"
    log.info("ONNX export verified (%s): %s", check.tag(), uri)
    return OnnxOutcome(check=check.tag(), uri=uri)


def version_tags(
    metrics: dict[str, float],
    *,
    train_accuracy: float,
    fingerprint: str,
    git_revision: str,
    estimator: str,
    onnx: OnnxOutcome,
) -> dict[str, str]:
    """The model-version tags of docs/contracts.md."""
    return {
        **{key: repr(float(value)) for key, value in metrics.items()},
        "train_accuracy": repr(float(train_accuracy)),
        registry.DATASET_FINGERPRINT_TAG: fingerprint,
        registry.GIT_REVISION_TAG: git_revision,
        "modelship.io/estimator": estimator,
        **onnx.tags(),
    }


def model_tags(task: str, classes: Sequence[str], features: Sequence[str] | None = None) -> dict[str, str]:
    """The registered-model tags of docs/contracts.md."""
    tags = {
        registry.SERVE_TAG: "true",
        registry.TASK_TAG: task,
        registry.CLASSES_TAG: json.dumps(list(classes)),
    }
    if features is not None:
        tags[registry.FEATURES_TAG] = json.dumps(list(features))
    return tags


def champion_f1(client: MlflowClient, name: str) -> tuple[str | None, float | None]:
    """(version, test_f1) of the current champion; (None, None) when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        champion = client.get_model_version_by_alias(name, registry.CHAMPION)
    except MlflowException:
        return None, None
    raw = (champion.tags or {}).get("test_f1")
    try:
        return str(champion.version), float(raw) if raw is not None else None
    except ValueError:
        return str(champion.version), None


def register_and_promote(
    client: MlflowClient,
    name: str,
    version: str,
    *,
    version_tags: dict[str, str],
    model_tags: dict[str, str],
    margin: float,
) -> PromotionDecision:
    """Tag the new version and its registered model, then give the version ``champion`` or ``challenger``.

    The decision and both scores are logged to the active run (params, tags, metrics) and to the log.
    """
    import mlflow

    for key, value in version_tags.items():
        client.set_model_version_tag(name, version, key, value)
    for key, value in model_tags.items():
        client.set_registered_model_tag(name, key, value)
    current_version, current_f1 = champion_f1(client, name)
    decision = decide(float(version_tags["test_f1"]), current_f1, margin, current_version)
    client.set_registered_model_alias(name, decision.alias, version)
    mlflow.log_param("promotion_margin", decision.margin)
    mlflow.set_tags({PROMOTION_ALIAS_TAG: decision.alias, PROMOTION_REASON_TAG: decision.reason})
    mlflow.log_metric("promotion_new_f1", decision.new_f1)
    if decision.champion_f1 is not None:
        mlflow.log_metric("promotion_champion_f1", decision.champion_f1)
    log.info("%s v%s -> %s (%s)", name, version, decision.alias, decision.reason)
    return decision
