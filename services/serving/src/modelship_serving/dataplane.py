"""kserve's DataPlane plus what the contract adds: versions in V2 model metadata, counted 404s."""

from __future__ import annotations

from typing import Any

from kserve.errors import ModelNotFound
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane

from modelship_serving.metrics import REASON_MODEL_NOT_FOUND, ServingMetrics


class ModelshipDataPlane(DataPlane):
    """``GET /v2/models/{name}`` lists the served version and runtime; unknown model names are counted."""

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
