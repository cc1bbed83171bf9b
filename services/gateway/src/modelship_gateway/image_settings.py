"""The image pipeline's settings (object store, Kafka, fan-out), part of the gateway's settings."""

from __future__ import annotations

from pydantic import Field

from modelship_common.kafka import KafkaSettings
from modelship_common.storage import StorageSettings


class ImagePipelineSettings(StorageSettings, KafkaSettings):
    """The image pipeline's part of the gateway settings (``MODELSHIP_*``; object store, Kafka, fan-out)."""

    fanout_model_batch: int = Field(
        default=64, ge=1, le=1024, description="Images per call to a model server in the fan-out."
    )
    """Images per call to a model server in the fan-out."""

    fanout_local_batch: int = Field(
        default=128, ge=1, description="Without Kafka: most uploads the in-process fan-out scores together."
    )
    """Without Kafka: most uploads the in-process fan-out scores together."""
