"""Streaming worker settings, read from ``MODELSHIP_*`` environment variables (see :class:`StreamingSettings`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelship_common.kafka import KafkaSettings
from modelship_common.settings import BaseServiceSettings
from modelship_common.storage import StorageSettings
from modelship_gateway.discovery_settings import DiscoverySettings
from modelship_gateway.settings import MIB, default_database_url


class StreamingSettings(BaseServiceSettings, StorageSettings, KafkaSettings, DiscoverySettings):
    """Everything the worker can be told. Each field is ``MODELSHIP_<FIELD NAME>`` in the environment.

    Kafka (``kafka_*``) and object storage (``object_store``, ``s3_*``, ``image_dir``) fields are shared with the
    gateway, so one set of environment variables configures both; so are the discovery fields (``discovery``,
    ``model_servers``, ``discovery_dir``, ``kubernetes_*``: :class:`DiscoverySettings`).
    """

    database_url: str = Field(
        default_factory=default_database_url,
        description="SQLAlchemy URL of the predictions store (the gateway's database).",
    )
    """SQLAlchemy URL of the predictions store (the gateway's database)."""
    database_wait_s: float = Field(
        default=60.0,
        description="Seconds to keep retrying a database that refuses connections at start-up (a PostgreSQL still starting).",
    )
    """Seconds to keep retrying a database that refuses connections at start-up (a PostgreSQL still starting)."""

    consumer_group: str = Field(
        default="modelship-streaming", description="Kafka consumer group of the workers (they share the partitions)."
    )
    """Kafka consumer group of the workers (they share the partitions)."""

    batch_size: int = Field(
        default=256, ge=1, le=10000, description="Most messages taken from Kafka and scored together."
    )
    """Most messages taken from Kafka and scored together."""

    batch_wait_s: float = Field(
        default=0.05, gt=0, description="How long to wait for more messages before scoring a partial batch."
    )
    """How long to wait for more messages before scoring a partial batch."""

    model_batch_size: int = Field(
        default=64, ge=1, le=1024, description="Images per call to a model server (V2 BYTES [n])."
    )
    """Images per call to a model server (V2 BYTES ``[n]``)."""

    max_image_bytes: int = Field(
        default=5 * MIB, gt=0, description="Largest image the worker decodes; larger ones go to the dead-letter topic."
    )
    """Largest image the worker decodes; larger ones go to the dead-letter topic."""

    image_models: list[str] = Field(
        default_factory=list,
        description='Image models to call, as JSON (["digits-fast", ...]); empty = every discovered model whose task '
        "is image.",
    )
    """Image models to call; empty = every discovered model whose task is ``image``."""

    image_models_refresh_s: float = Field(
        default=10.0, gt=0, description="How long the list of ready image models is reused before probing again."
    )
    """How long the list of ready image models is reused before probing again."""

    protocol: Literal["v1", "v2"] = Field(default="v2", description="Inference protocol spoken to the model servers.")
    """Inference protocol spoken to the model servers."""

    request_timeout_s: float = Field(default=60.0, gt=0, description="Timeout of one call to a model server.")
    """Timeout of one call to a model server."""

    probe_timeout_s: float = Field(default=5.0, gt=0, description="Timeout of the model-server readiness probes.")
    """Timeout of the model-server readiness probes."""

    registry_timeout_s: float = Field(
        default=3.0, gt=0, description="How long to wait for MLflow when looking up a model version's classes."
    )
    """How long to wait for MLflow when looking up a model version's classes."""

    retry_backoff_s: float = Field(
        default=1.0, gt=0, description="First pause before a failed batch is retried (doubles up to 30 s)."
    )
    """First pause before a failed batch is retried (doubles up to 30 s)."""

    create_topics: bool = Field(default=True, description="Create the missing pipeline topics at start.")
    """Create the missing pipeline topics at start."""

    metrics_host: str = Field(default="0.0.0.0", description="Interface of the metrics and health HTTP server.")
    """Interface of the metrics and health HTTP server."""

    metrics_port: int = Field(
        default=9108, ge=0, le=65535, description="Port of /metrics, /healthz and /readyz (0 = off)."
    )
    """Port of ``/metrics``, ``/healthz`` and ``/readyz`` (0 = off)."""

    stall_after_s: float = Field(
        default=120.0, gt=0, description="/healthz fails when the consume loop has not turned for this long."
    )
    """``/healthz`` fails when the consume loop has not turned for this long."""


def get_settings() -> StreamingSettings:
    """Read the settings from the environment (nothing is read at import time)."""
    return StreamingSettings()
