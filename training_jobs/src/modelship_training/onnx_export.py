"""ONNX exports of the trained models, verified against the native model before they are published.

Every export has one float32 input and an output named ``probabilities`` of shape [N, n_classes]
(docs/contracts.md). :func:`verify` runs onnxruntime on held-out data and compares classes and probabilities.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx

OUTPUT_NAME = "probabilities"
INPUT_NAME = "input"
#: Largest allowed |p_onnx - p_native| over every test row and class.
MAX_ABS_DIFF = 1e-5
TARGET_OPSET = 17


class OnnxExportError(RuntimeError):
    """The model could not be converted, or the converted model disagrees with the native one."""


@dataclass(frozen=True)
class OnnxCheck:
    """How an ONNX export compared with the native model on ``n`` rows."""

    max_abs_diff: float
    n: int
    classes_equal: bool
    #: Rows where the native top classes tie within MAX_ABS_DIFF and ONNX picked another of the tied classes.
    ties: int = 0

    @property
    def passed(self) -> bool:
        return self.classes_equal and self.max_abs_diff <= MAX_ABS_DIFF

    def tag(self) -> str:
        """Value of the ``modelship.io/onnx-check`` tag, e.g. ``max_abs_diff=3.1e-08,n=69,classes_equal=true``."""
        tag = f"max_abs_diff={self.max_abs_diff:.2g},n={self.n},classes_equal={str(self.classes_equal).lower()}"
        return f"{tag},ties={self.ties}" if self.ties else tag


def sklearn_to_onnx(pipeline: Any, n_features: int) -> onnx.ModelProto:
    """Convert a fitted sklearn Pipeline/classifier with skl2onnx: float32 input [None, n_features]."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    try:
        with warnings.catch_warnings():
            # skl2onnx reads SVC.probA_/probB_, which scikit-learn 1.9 deprecates (FutureWarning) on every access.
            warnings.filterwarnings("ignore", message="Attribute `prob[AB]_` was deprecated", category=FutureWarning)
            model = to_onnx(
                pipeline,
                initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
                options={id(final): {"zipmap": False}},
                target_opset=TARGET_OPSET,
            )
    except Exception as exc:  # skl2onnx raises many types for unsupported models
        raise OnnxExportError(f"skl2onnx conversion failed: {type(exc).__name__}: {exc}") from exc
    _require_output(model)
    return model


def keras_to_onnx(model: Any, input_shape: tuple[int, ...]) -> onnx.ModelProto:
    """Convert a Keras 3 model with tf2onnx through a ``tf.function`` (``from_keras`` does not handle Keras 3).

    The function returns ``{"probabilities": model(x)}`` so the ONNX output carries that name.
    """
    import tensorflow as tf
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.WARNING)  # its INFO lines narrate every optimizer pass

    spec = (tf.TensorSpec([None, *input_shape], tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def serve(x: Any) -> dict[str, Any]:
        return {OUTPUT_NAME: model(x, training=False)}

    try:
        converted, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=TARGET_OPSET)
    except Exception as exc:  # tf2onnx raises many types for unsupported graphs
        raise OnnxExportError(f"tf2onnx conversion failed: {type(exc).__name__}: {exc}") from exc
    _require_output(converted)
    return converted


def verify(
    model: onnx.ModelProto,
    x: np.ndarray,
    native_proba: np.ndarray,
    native_classes: np.ndarray | None = None,
) -> OnnxCheck:
    """Run ``model`` with onnxruntime on ``x`` and compare with the native model's probabilities and classes.

    ``native_classes`` (the native ``predict``) defaults to the argmax of ``native_proba``. Classes are equal
    when, on every row, the ONNX argmax is the native class, or the native probabilities of both classes are
    within :data:`MAX_ABS_DIFF` of each other (a tie, e.g. 0.46/0.46 from a 50-tree forest, which float32
    sums break either way); such rows are counted in ``ties``.
    """
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        (input_meta,) = session.get_inputs()
        (proba,) = session.run([OUTPUT_NAME], {input_meta.name: np.asarray(x, dtype=np.float32)})
    except Exception as exc:  # onnxruntime raises its own exception types
        raise OnnxExportError(f"onnxruntime could not run the export: {type(exc).__name__}: {exc}") from exc
    proba = np.asarray(proba)
    native_proba = np.asarray(native_proba)
    if proba.shape != native_proba.shape:
        raise OnnxExportError(f"output shape {list(proba.shape)} != native {list(native_proba.shape)}")
    expected = native_proba.argmax(axis=1) if native_classes is None else np.asarray(native_classes)
    got = proba.argmax(axis=1)
    rows = np.flatnonzero(got != expected)
    tied = np.abs(native_proba[rows, expected[rows]] - native_proba[rows, got[rows]]) <= MAX_ABS_DIFF
    return OnnxCheck(
        max_abs_diff=float(np.max(np.abs(proba.astype(np.float64) - native_proba.astype(np.float64)))),
        n=int(proba.shape[0]),
        classes_equal=bool(np.all(tied)),
        ties=int(np.count_nonzero(tied)),
    )


def _require_output(model: onnx.ModelProto) -> None:
    names = [output.name for output in model.graph.output]
    if OUTPUT_NAME not in names:
        raise OnnxExportError(f"converted model has outputs {names}, none named {OUTPUT_NAME!r}")
