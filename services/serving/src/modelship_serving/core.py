"""The transport-neutral predictor: validated inputs in, class ids, names and probabilities out.

V1 and V2 HTTP handlers (and a Kafka worker, later) all call :class:`Predictor`; none of them touches a
runtime directly. The hot path is numpy only, with class arrays computed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelship_common.registry import ModelVersionInfo
from modelship_common.schemas import TASK_IMAGE
from modelship_serving import inputs
from modelship_serving.backends import Backend


@dataclass(frozen=True)
class Scores:
    """What the model said about a batch: argmax class ids (int64 [n]) and probabilities (float32 [n, C])."""

    class_ids: np.ndarray
    probabilities: np.ndarray


class Predictor:
    """One model version ready to score. Thread-safe: it holds no per-request state."""

    def __init__(self, info: ModelVersionInfo, backend: Backend, max_image_bytes: int) -> None:
        self.info = info
        self.name = info.name
        self.version = info.version
        self.task = info.task
        self.platform = backend.platform
        self.classes: tuple[str, ...] = tuple(info.classes)
        self._class_names = np.asarray(self.classes, dtype=object)
        self._backend = backend
        self._max_image_bytes = max_image_bytes

    # --- inputs ---------------------------------------------------------------------------------------

    def from_instances(self, instances: Any) -> np.ndarray:
        """V1 ``instances`` (rows or images, as JSON) -> the model's float32 batch."""
        if not isinstance(instances, list):
            raise inputs.invalid('"instances" must be a list', inputs.REASON_REQUEST)
        if self.task == TASK_IMAGE:
            return inputs.image_instances(instances, self._max_image_bytes)
        return inputs.tabular_rows(instances)

    def from_tensor(self, datatype: str, array: np.ndarray) -> np.ndarray:
        """One V2 input tensor (its datatype and its data reshaped to its shape) -> the model's batch."""
        if self.task == TASK_IMAGE:
            if datatype == "BYTES":
                if array.ndim != 1:
                    raise inputs.invalid(
                        f"BYTES image input must have shape [n], got {list(array.shape)}", inputs.REASON_SHAPE
                    )
                return inputs.image_bytes_tensor(array.tolist(), self._max_image_bytes)
            if datatype in inputs.FLOAT_DATATYPES:
                return inputs.image_tensor(array)
            raise inputs.invalid(
                f"image input datatype must be BYTES (images, base64 in JSON) or FP32 [n, 28, 28, 1], got {datatype}",
                inputs.REASON_DATATYPE,
            )
        if datatype not in inputs.FLOAT_DATATYPES:
            raise inputs.invalid(f"tabular input datatype must be FP32 or FP64, got {datatype}", inputs.REASON_DATATYPE)
        return inputs.tabular_tensor(array)

    # --- scoring --------------------------------------------------------------------------------------

    def score(self, batch: np.ndarray) -> Scores:
        """Run the model on a validated batch."""
        probabilities = self._backend.predict_proba(batch)
        if probabilities.ndim != 2 or probabilities.shape != (batch.shape[0], len(self.classes)):
            raise RuntimeError(
                f"{self.info.uri} returned probabilities of shape {list(probabilities.shape)}; "
                f"expected [{batch.shape[0]}, {len(self.classes)}]"
            )
        if probabilities.dtype != np.float32:
            probabilities = probabilities.astype(np.float32)
        return Scores(class_ids=probabilities.argmax(axis=1).astype(np.int64), probabilities=probabilities)

    def class_names(self, scores: Scores) -> np.ndarray:
        """Object array of class names, one per row."""
        return self._class_names[scores.class_ids]

    def describe(self, scores: Scores) -> list[dict[str, Any]]:
        """The V1 (and gateway) prediction objects: class id, class name, probability by class name."""
        classes = self.classes
        return [
            {"class_id": cid, "class_name": classes[cid], "probabilities": dict(zip(classes, row, strict=True))}
            for cid, row in zip(scores.class_ids.tolist(), scores.probabilities.tolist(), strict=True)
        ]

    def predict_instances(self, instances: Any) -> list[dict[str, Any]]:
        """V1-style rows or images in, prediction objects out (the shortest path for any transport)."""
        return self.describe(self.score(self.from_instances(instances)))
