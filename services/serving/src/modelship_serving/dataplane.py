"""kserve's DataPlane plus what the contract adds: versions in V2 model metadata, counted 404s, lean V2 JSON."""

from __future__ import annotations

from typing import Any

import numpy as np
from kserve.errors import ModelNotFound
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.infer_type import InferResponse
from kserve.protocol.rest.v2_datamodels import InferenceResponse
from kserve.utils.numpy_codec import from_np_dtype

from modelship_serving.metrics import REASON_MODEL_NOT_FOUND, ServingMetrics


class ModelshipDataPlane(DataPlane):
    """``GET /v2/models/{name}`` lists the served version and runtime; unknown model names are counted.

    ``encode`` writes a V2 response whose outputs are all numpy arrays straight to the REST dict (one
    ``tolist()`` per output); kserve's ``InferResponse.to_rest`` walks every element in Python and, for a
    32-row batch, took longer than the model. Binary outputs, requested outputs and CloudEvents go to kserve.
    """

    def __init__(self, model_registry: ModelRepository, metrics: ServingMetrics) -> None:
        super().__init__(model_registry=model_registry)
        self._metrics = metrics

    async def model_metadata(self, model_name: str) -> dict[str, Any]:
        metadata = await super().model_metadata(model_name)
        model = self.get_model_from_registry(model_name)
        version = getattr(model, "version", None)
        if version is not None:
            metadata["versions"] = [version]
        platform = getattr(getattr(model, "predictor", None), "platform", None)
        if platform:
            metadata["platform"] = platform
        return metadata

    async def model_ready(self, model_name: str, disable_predictor_health_check: bool = False) -> bool:
        try:
            return await super().model_ready(model_name, disable_predictor_health_check)
        except ModelNotFound:
            # The requested name is caller-controlled: keep it out of the labels.
            self._metrics.errors.labels("", "", REASON_MODEL_NOT_FOUND).inc()
            raise

    def encode(
        self, model_name: str, response: Any, headers: Any, req_attributes: dict[str, Any]
    ) -> tuple[Any, dict[str, str]]:
        if not isinstance(response, InferResponse) or _wants_cloudevent(headers):
            return super().encode(model_name, response, headers, req_attributes)
        rest = plain_rest(response)
        if rest is not None:
            return rest, {}
        rest, response_headers = super().encode(model_name, response, headers, req_attributes)
        if isinstance(rest, dict):  # the shape kserve's V2 route gives it (its response model), for any caller
            rest = InferenceResponse.model_validate(rest).model_dump(mode="json")
        return rest, response_headers


def _wants_cloudevent(headers: Any) -> bool:
    if not headers:
        return False
    return headers.get("content-type", "") == "application/cloudevents+json" or any(
        str(name).lower().startswith("ce-") for name in headers
    )


def plain_rest(response: InferResponse) -> dict[str, Any] | None:
    """The V2 REST dict of a response whose outputs are JSON-encodable numpy arrays; None for anything else.

    Equal to what kserve's V2 handler sends for the same response (``to_rest`` then its ``InferenceResponse``
    model), so both the fast path and kserve's own route can use it.
    """
    if response.parameters or getattr(response, "_requested_outputs", None) or response._use_binary_outputs:
        return None
    outputs = []
    for output in response.outputs:
        data = output.data
        if not isinstance(data, np.ndarray) or output.parameters or list(data.shape) != list(output.shape):
            return None
        if output.datatype == "BYTES" and data.dtype == np.object_:
            values = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in data.reshape(-1).tolist()]
        elif output.datatype not in ("BYTES", "FP16") and from_np_dtype(data.dtype) == output.datatype:
            values = data.reshape(-1).tolist()
        else:  # FP16, mismatched types and anything new: kserve's encoder decides (or raises its error)
            return None
        outputs.append(
            {
                "name": output.name,
                "shape": list(output.shape),
                "datatype": output.datatype,
                "parameters": None,
                "data": values,
            }
        )
    # Keys in the order (and with the nulls) kserve's REST handler writes through its InferenceResponse model.
    return {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "id": response.id,
        "parameters": None,
        "outputs": outputs,
    }
