"""Streaming worker settings, read from ``MODELSHIP_*`` environment variables (see :class:`StreamingSettings`)."""

from __future__ import annotations

from pydantic import Field

from modelship_common.kafka import KafkaSettings
from modelship_common.settings import MIB, DatabaseSettings
from modelship_common.storage import StorageSettings
from modelship_scoring.settings import ScoringSettings


class StreamingSettings(ScoringSettings, DatabaseSettings, StorageSettings, KafkaSettings):
    """Everything the worker can be told. Each field is ``MODELSHIP_<FIELD NAME>`` in the environment.

    Kafka (``kafka_*``), object storage (``object_store``, ``s3_*``, ``image_dir``) and database (``database_*``)
    fields are shared with the gateway, so one set of environment variables configures both; so are the scoring
    core's (:class:`ScoringSettings`: discovery, ``protocol``, ``registry_*``, ``image_models*``), except for the
    two model-server timeouts, whose defaults are longer here (one call carries a batch of images).
    """

    consumer_group: str = "modelship-streaming"
    """Kafka consumer group of the workers (they share the partitions)."""

    batch_size: int = Field(default=256, ge=1, le=10000)
    """Most messages taken from Kafka and scored together."""

    batch_wait_s: float = Field(default=0.05, gt=0)
    """How long to wait for more messages before scoring a partial batch."""

    model_batch_size: int = Field(default=64, ge=1, le=1024)
    """Images per call to a model server (V2 BYTES ``[n]``)."""

    max_image_bytes: int = Field(default=5 * MIB, gt=0)
    """Largest image the worker decodes; larger ones go to the dead-letter topic."""

    request_timeout_s: float = Field(default=60.0, gt=0)
    """Timeout in seconds of one inference call (a batch of images) to a model server."""

    probe_timeout_s: float = Field(default=5.0, gt=0)
    """Timeout in seconds of the metadata/readiness probes of the model servers."""

    retry_backoff_s: float = Field(default=1.0, gt=0)
    """First pause before a failed batch is retried (doubles up to 30 s)."""

    create_topics: bool = True
    """Create the missing pipeline topics at start."""

    metrics_host: str = "0.0.0.0"
    """Interface of the metrics and health HTTP server."""

    metrics_port: int = Field(default=9108, ge=0, le=65535)
    """Port of ``/metrics``, ``/healthz`` and ``/readyz`` (0 = off)."""

    stall_after_s: float = Field(default=120.0, gt=0)
    """``/healthz`` fails when the consume loop has not turned for this long."""


def get_settings() -> StreamingSettings:
    """Read the settings from the environment (nothing is read at import time)."""
    return StreamingSettings()
