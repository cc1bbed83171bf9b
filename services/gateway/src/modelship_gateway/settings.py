"""Gateway settings, read from ``MODELSHIP_*`` environment variables (see :class:`GatewaySettings`)."""

from __future__ import annotations

from pydantic import Field

from modelship_common.settings import MIB, DatabaseSettings
from modelship_gateway.image_settings import ImagePipelineSettings
from modelship_scoring.settings import ScoringSettings


class GatewaySettings(ScoringSettings, DatabaseSettings, ImagePipelineSettings):
    """Everything the gateway can be told. Each field is ``MODELSHIP_<FIELD NAME>`` in the environment.

    The scoring core's fields (discovery, inference protocol, model-server timeouts, registry cache, image models)
    come from :class:`ScoringSettings`, shared with the streaming worker; the database's from
    :class:`DatabaseSettings`; the image pipeline's (object store, Kafka, fan-out batches) from
    :class:`ImagePipelineSettings`.
    """

    host: str = Field(default="0.0.0.0", description="Interface the HTTP server binds to.")
    """Interface the HTTP server binds to."""

    port: int = Field(default=8000, ge=1, le=65535, description="Port the HTTP server listens on.")
    """Port the HTTP server listens on."""

    max_upload_bytes: int = Field(
        default=5 * MIB, gt=0, description="Largest accepted image upload in bytes (larger ones get 413)."
    )
    """Largest accepted image upload in bytes (larger ones get 413)."""


def get_settings() -> GatewaySettings:
    """Read the settings from the environment (call it; nothing is read at import time)."""
    return GatewaySettings()
