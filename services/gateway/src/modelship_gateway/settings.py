"""Gateway settings, read from ``MODELSHIP_*`` environment variables (see :class:`GatewaySettings`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from modelship_common.settings import BaseServiceSettings
from modelship_gateway.discovery_settings import DiscoverySettings
from modelship_gateway.image_settings import ImagePipelineSettings

MIB = 1024 * 1024


def default_database_url() -> str:
    """SQLite file under the modelship cache (``~/.cache/modelship/demo/predictions.db``), as ``make demo`` uses."""
    cache = Path(os.environ.get("MODELSHIP_CACHE") or "~/.cache/modelship").expanduser()
    return f"sqlite:///{cache / 'demo' / 'predictions.db'}"


class GatewaySettings(BaseServiceSettings, ImagePipelineSettings, DiscoverySettings):
    """Everything the gateway can be told. Each field is ``MODELSHIP_<FIELD NAME>`` in the environment.

    The image pipeline's fields (object store, Kafka, fan-out) come from :class:`ImagePipelineSettings`, the
    discovery's (``discovery``, ``model_servers``, ``discovery_dir``, ``kubernetes_*``) from
    :class:`DiscoverySettings`.
    """

    database_url: str = Field(
        default_factory=default_database_url,
        description="SQLAlchemy URL of the predictions store (SQLite file for the demo, PostgreSQL in clusters).",
    )
    """SQLAlchemy URL of the predictions store (SQLite file for the demo, PostgreSQL in clusters)."""
    database_wait_s: float = Field(
        default=60.0,
        description="Seconds to keep retrying a database that refuses connections at start-up (a PostgreSQL still starting).",
    )
    """Seconds to keep retrying a database that refuses connections at start-up (a PostgreSQL still starting)."""

    host: str = Field(default="0.0.0.0", description="Interface the HTTP server binds to.")
    """Interface the HTTP server binds to."""

    port: int = Field(default=8000, ge=1, le=65535, description="Port the HTTP server listens on.")
    """Port the HTTP server listens on."""

    protocol: Literal["v1", "v2"] = Field(
        default="v2", description="Inference protocol spoken to the model servers (Open Inference Protocol v2 or v1)."
    )
    """Inference protocol spoken to the model servers (Open Inference Protocol v2 or v1)."""

    request_timeout_s: float = Field(
        default=30.0, gt=0, description="Timeout in seconds of one inference call to a model server."
    )
    """Timeout in seconds of one inference call to a model server."""

    probe_timeout_s: float = Field(
        default=2.0, gt=0, description="Timeout in seconds of the metadata/readiness probes behind GET /api/models."
    )
    """Timeout in seconds of the metadata/readiness probes behind ``GET /api/models``."""

    registry_timeout_s: float = Field(
        default=3.0,
        gt=0,
        description="How long to wait for MLflow when looking up a model version's metrics and classes; "
        "MLflow being slow or down only leaves them empty.",
    )
    """How long to wait for MLflow when looking up a model version's metrics and classes."""

    registry_cache_s: float = Field(
        default=300.0, ge=0, description="How long a model version's registry metadata is cached, in seconds."
    )
    """How long a model version's registry metadata is cached, in seconds."""

    registry_retry_s: float = Field(
        default=30.0,
        ge=0,
        description="After MLflow failed to answer for a model version, how long to wait before asking again.",
    )
    """After MLflow failed to answer for a model version, how long to wait before asking again."""

    max_upload_bytes: int = Field(
        default=5 * MIB, gt=0, description="Largest accepted image upload in bytes (larger ones get 413)."
    )
    """Largest accepted image upload in bytes (larger ones get 413)."""


def get_settings() -> GatewaySettings:
    """Read the settings from the environment (call it; nothing is read at import time)."""
    return GatewaySettings()
