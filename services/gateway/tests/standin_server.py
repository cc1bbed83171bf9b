"""A real KServe ModelServer that speaks the modelship model-server contract with deterministic stand-in models.

The gateway tests talk to it over real HTTP (V1 and V2). Run::

    python standin_server.py --http_port 8080 --serve penguins:3:tabular --serve digits-fast:1:image

Kinds: ``tabular`` (FP32 [N, 9], validated like the real server), ``image`` (BYTES base64 or FP32 [N, 28, 28, 1]),
``broken`` (every inference fails with a server error).
"""

from __future__ import annotations

import argparse
import base64
from typing import Any

import kserve
import numpy as np
from kserve.errors import InvalidInput as KServeInvalidInput
from kserve.model_server import parser as kserve_parser
from kserve.protocol.dataplane import DataPlane
from standin_scoring import IMAGE_CLASSES, TABULAR_CLASSES, score_images, score_tabular

from modelship_common.errors import InvalidInput
from modelship_common.schemas import digits, penguins


class VersionedDataPlane(DataPlane):
    """Adds ``versions`` to ``GET /v2/models/{name}`` as the contract asks."""

    async def model_metadata(self, model_name: str) -> dict[str, Any]:
        meta = await super().model_metadata(model_name)
        model = self.get_model_from_registry(model_name)
        meta["versions"] = [model.version]
        return meta


class StandInModel(kserve.Model):
    def __init__(self, name: str, version: str, kind: str) -> None:
        super().__init__(name)
        self.version = version
        self.kind = kind
        self.ready = True

    def get_input_types(self) -> list[dict[str, Any]]:
        if self.kind == "image":
            return [{"name": "image", "datatype": "BYTES", "shape": [-1]}]
        return [{"name": "input-0", "datatype": "FP32", "shape": [-1, penguins.N_FEATURES]}]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [
            {"name": "class_id", "datatype": "INT64", "shape": [-1]},
            {"name": "class_name", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, -1]},
        ]

    def _tabular(self, matrix: np.ndarray) -> np.ndarray:
        return score_tabular(penguins.check_matrix(np.asarray(matrix, dtype=np.float32)))

    def _images(self, images: list[Any]) -> np.ndarray:
        decoded = []
        for item in images:
            data = item.encode() if isinstance(item, str) else bytes(item)
            decoded.append(digits.decode_image(base64.b64decode(data, validate=True), 5 * 1024 * 1024))
        return score_images(np.stack(decoded))

    def _score_v2(self, request: kserve.InferRequest) -> np.ndarray:
        tensor = request.inputs[0]
        if self.kind == "tabular":
            if tensor.datatype not in ("FP32", "FP64"):
                raise InvalidInput(f"expected FP32 [n, {penguins.N_FEATURES}], got {tensor.datatype} {tensor.shape}")
            return self._tabular(tensor.as_numpy())
        if tensor.datatype == "BYTES":
            return self._images(list(tensor.data))
        return score_images(tensor.as_numpy())

    def _score_v1(self, instances: list[Any]) -> np.ndarray:
        if self.kind == "tabular":
            return self._tabular(penguins.encode_rows(instances))
        return self._images([item["b64"] for item in instances])

    async def predict(self, payload: Any, headers: Any = None, response_headers: Any = None) -> Any:
        if self.kind == "broken":
            raise RuntimeError("stand-in model is broken on purpose")
        classes = TABULAR_CLASSES if self.kind == "tabular" else IMAGE_CLASSES
        try:
            if isinstance(payload, kserve.InferRequest):
                probs = self._score_v2(payload)
            else:
                probs = self._score_v1(payload["instances"])
        except (InvalidInput, ValueError, KeyError, TypeError) as exc:
            raise KServeInvalidInput(str(exc)) from exc
        ids = probs.argmax(axis=1)
        names = [classes[i] for i in ids]
        if not isinstance(payload, kserve.InferRequest):
            return {
                "predictions": [
                    {
                        "class_id": int(i),
                        "class_name": n,
                        "probabilities": {c: float(p) for c, p in zip(classes, row, strict=True)},
                    }
                    for i, n, row in zip(ids, names, probs, strict=True)
                ],
                "model_name": self.name,
                "model_version": self.version,
            }
        outputs = [
            kserve.InferOutput("class_id", [len(ids)], "INT64", ids.astype(np.int64).tolist()),
            kserve.InferOutput("class_name", [len(ids)], "BYTES", names),
            kserve.InferOutput("probabilities", list(probs.shape), "FP32", probs.reshape(-1).tolist()),
        ]
        return kserve.InferResponse(payload.id, self.name, outputs, model_version=self.version)


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve_parser])
    parser.add_argument("--serve", action="append", required=True, help="name:version:kind (tabular|image|broken)")
    args, _ = parser.parse_known_args()
    models = []
    for spec in args.serve:
        name, version, kind = spec.split(":")
        models.append(StandInModel(name, version, kind))
    server = kserve.ModelServer(http_port=args.http_port, enable_grpc=False, workers=1)
    server.dataplane = VersionedDataPlane(model_registry=server.registered_models)
    server.start(models)


if __name__ == "__main__":
    main()
