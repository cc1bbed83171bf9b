"""Gateway settings, read from ``MODELSHIP_*`` environment variables: one :class:`GatewaySettings` for the API,
the image pipeline and the dashboard, built once and carried by the application's lifespan."""

from __future__ import annotations

from pydantic import Field

from modelship_common.kafka import KafkaSettings
from modelship_common.settings import MIB, BaseServiceSettings, DatabaseSettings
from modelship_common.storage import StorageSettings
from modelship_scoring.settings import ScoringSettings


class ImagePipelineSettings(StorageSettings, KafkaSettings):
    """The image pipeline's part of the gateway settings (``MODELSHIP_*``; object store, Kafka, fan-out)."""

    fanout_model_batch: int = Field(default=64, ge=1, le=1024)
    """Images per call to a model server in the fan-out."""

    fanout_local_batch: int = Field(default=128, ge=1)
    """Without Kafka: most uploads the in-process fan-out scores together."""


class DashboardSettings(BaseServiceSettings):
    """What the dashboard links to and checks. Unset URLs show as "not configured" on the Monitoring page."""

    mlflow_ui_url: str | None = None
    """MLflow UI as a browser reaches it; default: the tracking URI."""

    prometheus_url: str | None = None
    """Prometheus server, e.g. ``http://prometheus:9090``."""

    grafana_url: str | None = None
    """Grafana, e.g. ``http://grafana:3000``."""

    minio_console_url: str | None = None
    """MinIO console, e.g. ``http://minio:9001``."""

    operator_url: str | None = None
    """The rollout operator's health/webhook server, e.g. ``http://modelship-operator:8080``."""

    kafka_consumer_group: str = "modelship-streaming"
    """Consumer group of the streaming worker (for its lag)."""

    health_timeout_s: float = Field(default=2.0, gt=0)
    """Timeout in seconds of each Monitoring-page health check (run concurrently)."""

    mlflow_timeout_s: float = Field(default=5.0, gt=0)
    """Timeout in seconds of the Experiments page's MLflow queries."""

    refresh_s: int = Field(default=30, ge=0)
    """Data pages refresh themselves every this many seconds (0 = never)."""

    page_size: int = Field(default=25, ge=1, le=500)
    """Rows per page of the Predictions table."""


class GatewaySettings(ScoringSettings, DatabaseSettings, ImagePipelineSettings, DashboardSettings):
    """Everything the gateway can be told. Each field is ``MODELSHIP_<FIELD NAME>`` in the environment.

    The scoring core's fields (discovery, inference protocol, model-server timeouts, registry cache, image models)
    come from :class:`ScoringSettings`, shared with the streaming worker; the database's from
    :class:`DatabaseSettings`; the image pipeline's (object store, Kafka, fan-out batches) from
    :class:`ImagePipelineSettings`; the dashboard's (links, health-check budget) from :class:`DashboardSettings`.
    Built once by :func:`get_settings` and carried by the application's lifespan to everything that needs it.
    """

    host: str = "0.0.0.0"
    """Interface the HTTP server binds to."""

    port: int = Field(default=8000, ge=1, le=65535)
    """Port the HTTP server listens on."""

    workers: int = Field(default=1, ge=1, le=64)
    """Worker processes serving the port (uvicorn's); with more than one, their metrics are shared through
    prometheus_client's multiprocess directory (``PROMETHEUS_MULTIPROC_DIR``, a temporary one if unset)."""

    rollouts_refresh_s: float = Field(default=1.0, gt=0)
    """How often the rollouts table (traffic splits and mirroring of Shadow/Canary rollouts) is read."""

    max_upload_bytes: int = Field(default=5 * MIB, gt=0)
    """Largest accepted image upload in bytes (larger ones get 413)."""

    fast_predict: bool = True
    """Answer ``POST /api/models/{name}/predict`` on its lean path (the same service and answers, less CPU per
    request); off, FastAPI's route answers every request."""


def get_settings() -> GatewaySettings:
    """Read the settings from the environment (call it; nothing is read at import time)."""
    return GatewaySettings()
