"""Model runtimes: each turns a float32 batch into a float32 (n, n_classes) probability matrix.

Heavy libraries are imported inside the functions that need them: serving an ONNX model imports neither
scikit-learn nor TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

ONNX_OUTPUT = "probabilities"


class Backend(Protocol):
    """A loaded model. ``predict_proba`` gets a validated float32 batch and returns (n, n_classes) float32."""

    platform: str

    def predict_proba(self, batch: np.ndarray) -> np.ndarray: ...


class OnnxBackend:
    """An ONNX export run by onnxruntime; reads the output named ``probabilities``."""

    platform = "onnxruntime"

    def __init__(self, path: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"ONNX model {path} has {len(inputs)} inputs; expected exactly one")
        self._input = inputs[0].name
        names = [o.name for o in self._session.get_outputs()]
        if ONNX_OUTPUT in names:
            self._output = ONNX_OUTPUT
        elif len(names) == 1:
            self._output = names[0]
        else:
            raise ValueError(f"ONNX model {path} has no output named {ONNX_OUTPUT!r} (outputs: {names})")
        self._outputs = [self._output]

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(self._outputs, {self._input: batch})[0]


class SklearnBackend:
    """A scikit-learn estimator (usually a Pipeline) from the MLflow ``sklearn`` flavour."""

    platform = "mlflow_sklearn"

    def __init__(self, estimator: Any, n_classes: int) -> None:
        self._estimator = estimator
        self._n_classes = n_classes
        #: Column names the estimator was fitted with (a DataFrame); None when it was fitted on an array.
        self._columns = getattr(estimator, "feature_names_in_", None)
        fitted = getattr(estimator, "classes_", None)
        # Models are trained on class ids; map predict_proba's columns onto them in case a class was absent.
        self._class_ids = None
        if fitted is not None and not np.array_equal(np.asarray(fitted), np.arange(n_classes)):
            self._class_ids = np.asarray(fitted, dtype=np.int64)

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        data: Any = batch
        if self._columns is not None:
            import pandas as pd

            data = pd.DataFrame(batch, columns=list(self._columns))
        proba = np.asarray(self._estimator.predict_proba(data), dtype=np.float32)
        if self._class_ids is None:
            return proba
        out = np.zeros((proba.shape[0], self._n_classes), dtype=np.float32)
        out[:, self._class_ids] = proba
        return out


class KerasBackend:
    """A Keras model from the MLflow ``tensorflow`` flavour whose last layer is a softmax."""

    platform = "mlflow_tensorflow"

    def __init__(self, model: Any) -> None:
        self._model = model

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        # Calling the model directly avoids Model.predict's per-call tf.data and callback set-up.
        out = self._model(batch, training=False)
        return np.asarray(out, dtype=np.float32)
