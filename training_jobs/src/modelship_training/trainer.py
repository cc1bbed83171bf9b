"""``ModelTrainer``: fit a scikit-learn Pipeline on the penguins, track it in MLflow, register and promote it."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from modelship_common.schemas import penguins
from modelship_training import onnx_export, publish
from modelship_training.penguins_data import PenguinsData
from modelship_training.results import TrainResult

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from modelship_training.settings import TrainingSettings

log = logging.getLogger(__name__)

#: scikit-learn models are pickled with cloudpickle: mlflow 3's default (skops) refuses tree models unless
#: every type is listed in ``skops_trusted_types``, and the model server loads whatever the trainer logs.
SERIALIZATION_FORMAT = "cloudpickle"


class ModelTrainer:
    """Trains penguins classifiers on one stratified split and registers each as a version of one model."""

    def __init__(
        self,
        settings: TrainingSettings,
        data: PenguinsData,
        client: MlflowClient,
        *,
        registered_model: str | None = None,
    ) -> None:
        self.settings = settings
        self.data = data
        self.client = client
        self.registered_model = registered_model or settings.penguins_model_name
        self.x_train, self.x_test, self.y_train, self.y_test = train_test_split(
            data.features,
            data.labels,
            test_size=settings.test_size,
            stratify=data.labels,
            random_state=settings.random_seed,
        )

    def build_pipeline(self, estimator: BaseEstimator, scaler: BaseEstimator | None = None) -> Pipeline:
        """``[scaler,] model`` as an unfitted sklearn Pipeline."""
        steps: list[tuple[str, Any]] = [] if scaler is None else [("scaler", scaler)]
        return Pipeline([*steps, ("model", estimator)])

    def train_and_save(
        self,
        name: str,
        estimator: BaseEstimator,
        scaler: BaseEstimator | None = None,
        *,
        extra_params: dict[str, Any] | None = None,
    ) -> TrainResult:
        """Fit ``[scaler,] estimator``, log everything to a new MLflow run, register a version and promote it.

        ``name`` names the estimator (run name and ``modelship.io/estimator`` tag, e.g. ``random_forest``); the
        version goes to the trainer's registered model (``penguins`` by default). The run is nested when
        another run is active (the grid search's parent run).
        """
        import mlflow
        from mlflow.models import infer_signature

        started = time.perf_counter()
        mlflow.set_experiment(self.settings.penguins_experiment)
        pipeline = self.build_pipeline(estimator, scaler)
        with mlflow.start_run(run_name=name, nested=mlflow.active_run() is not None) as run:
            params = self._params(name, pipeline, extra_params)
            mlflow.log_params(params)
            mlflow.set_tags({"modelship.io/estimator": name, "modelship.io/dataset": "penguins"})
            log.info("fitting %s on %d rows", name, len(self.y_train))
            pipeline.fit(self.x_train, self.y_train)
            train_accuracy = float(np.mean(pipeline.predict(self.x_train) == self.y_train))
            y_pred = pipeline.predict(self.x_test)
            mlflow.log_metric("train_accuracy", train_accuracy)
            metrics = publish.log_evaluation(self.y_test, y_pred, penguins.CLASSES, f"penguins: {name}")
            proba = pipeline.predict_proba(self.x_test)
            info = mlflow.sklearn.log_model(
                pipeline,
                name="model",
                serialization_format=SERIALIZATION_FORMAT,
                registered_model_name=self.registered_model,
                signature=infer_signature(self.x_test, proba),
            )
            version = str(info.registered_model_version)
            onnx = publish.export_onnx(
                lambda: onnx_export.sklearn_to_onnx(pipeline, penguins.N_FEATURES),
                self.x_test,
                proba,
                y_pred,
            )
            decision = publish.register_and_promote(
                self.client,
                self.registered_model,
                version,
                version_tags=publish.version_tags(
                    metrics,
                    train_accuracy=train_accuracy,
                    fingerprint=self.data.fingerprint,
                    git_revision=self.settings.git_revision,
                    estimator=name,
                    onnx=onnx,
                ),
                model_tags=publish.model_tags("tabular", penguins.CLASSES, penguins.FEATURE_NAMES),
                margin=self.settings.promotion_margin,
            )
        result = TrainResult(
            model_name=self.registered_model,
            version=version,
            run_id=run.info.run_id,
            estimator=name,
            metrics={**metrics, "train_accuracy": train_accuracy},
            alias=decision.alias,
            decision=decision,
            onnx_check=onnx.check,
            onnx_uri=onnx.uri,
            seconds=time.perf_counter() - started,
            params=params,
        )
        log.info("%s", result.summary())
        return result

    def _params(self, name: str, pipeline: Pipeline, extra: dict[str, Any] | None) -> dict[str, str]:
        model = pipeline.named_steps["model"]
        params = {f"model__{k}": _short(v) for k, v in model.get_params(deep=False).items()}
        params.update(
            {
                "estimator": name,
                "estimator_class": type(model).__name__,
                "scaler": type(pipeline.steps[0][1]).__name__ if len(pipeline.steps) > 1 else "none",
                "test_size": str(self.settings.test_size),
                "random_seed": str(self.settings.random_seed),
                "n_train": str(len(self.y_train)),
                "n_test": str(len(self.y_test)),
                "dataset_fingerprint": self.data.fingerprint,
            }
        )
        params.update({k: _short(v) for k, v in (extra or {}).items()})
        return params


def _short(value: Any) -> str:
    """A param value as MLflow accepts it (strings of at most 6000 characters)."""
    text = type(value).__name__ if isinstance(value, BaseEstimator) else str(value)
    return text[:6000]
