"""Train a digits CNN variant with Keras, track it in MLflow, export ONNX, register and promote it."""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from modelship_common.schemas import digits
from modelship_training import onnx_export, publish
from modelship_training.digits_data import DigitsData
from modelship_training.digits_models import Variant
from modelship_training.results import TrainResult

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from modelship_training.settings import TrainingSettings

log = logging.getLogger(__name__)


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ start-up chatter out of the job log (call before TensorFlow is imported)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _epoch_logger(variant: str, epochs: int) -> Any:
    """Keras callback: one log line and one set of MLflow metrics (step = epoch) per epoch."""
    import keras
    import mlflow

    started = time.perf_counter()

    def on_epoch_end(epoch: int, logs: dict[str, Any] | None = None) -> None:
        values = {k: float(v) for k, v in (logs or {}).items()}
        mlflow.log_metrics({f"epoch_{k}": v for k, v in values.items()}, step=epoch)
        shown = " ".join(f"{k}={v:.4f}" for k, v in values.items())
        log.info("%s epoch %d/%d: %s (%.1fs)", variant, epoch + 1, epochs, shown, time.perf_counter() - started)

    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)


def train_variant(
    settings: TrainingSettings,
    client: MlflowClient,
    data: DigitsData,
    variant: Variant,
) -> TrainResult:
    """Fit ``variant`` on ``data``, log metrics/plots/model to MLflow, register a version of ``variant.name``."""
    quiet_tensorflow()
    import keras
    import mlflow
    from mlflow.models import infer_signature

    started = time.perf_counter()
    epochs = settings.digits_epochs or variant.epochs
    keras.utils.set_random_seed(settings.random_seed)
    model = variant.build()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=variant.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    mlflow.set_experiment(settings.digits_experiment)
    with mlflow.start_run(run_name=variant.name, nested=mlflow.active_run() is not None) as run:
        params = {
            "variant": variant.name,
            "dataset": data.source,
            "epochs": str(epochs),
            "batch_size": str(variant.batch_size),
            "learning_rate": str(variant.learning_rate),
            "n_parameters": str(model.count_params()),
            "n_train": str(len(data.y_train)),
            "n_test": str(len(data.y_test)),
            "random_seed": str(settings.random_seed),
            "dataset_fingerprint": data.fingerprint,
        }
        mlflow.log_params(params)
        mlflow.set_tags({"modelship.io/estimator": variant.name, "modelship.io/dataset": f"digits-{data.source}"})
        log.info("training %s (%d parameters) for %d epochs", variant.name, model.count_params(), epochs)
        model.fit(
            data.x_train,
            data.y_train,
            epochs=epochs,
            batch_size=variant.batch_size,
            shuffle=True,
            verbose=0,
            callbacks=[_epoch_logger(variant.name, epochs)],
        )
        train_accuracy = float(np.mean(_predict(model, data.x_train).argmax(axis=1) == data.y_train))
        mlflow.log_metric("train_accuracy", train_accuracy)
        proba = _predict(model, data.x_test)
        y_pred = proba.argmax(axis=1)
        metrics = publish.log_evaluation(data.y_test, y_pred, digits.CLASSES, f"{variant.name} ({data.source})")
        info = mlflow.tensorflow.log_model(
            model,
            name="model",
            registered_model_name=variant.name,
            signature=infer_signature(data.x_test[:8], proba[:8]),
        )
        version = str(info.registered_model_version)
        onnx = publish.export_onnx(
            lambda: onnx_export.keras_to_onnx(model, digits.INPUT_SHAPE), data.x_test, proba, y_pred
        )
        decision = publish.register_and_promote(
            client,
            variant.name,
            version,
            version_tags=publish.version_tags(
                metrics,
                train_accuracy=train_accuracy,
                fingerprint=data.fingerprint,
                git_revision=settings.git_revision,
                estimator=variant.name,
                onnx=onnx,
            ),
            model_tags=publish.model_tags("image", digits.CLASSES),
            margin=settings.promotion_margin,
        )
    result = TrainResult(
        model_name=variant.name,
        version=version,
        run_id=run.info.run_id,
        estimator=variant.name,
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


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=256, verbose=0), dtype=np.float32)
