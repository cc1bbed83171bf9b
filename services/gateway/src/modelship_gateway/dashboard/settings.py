"""Dashboard settings: links to the other components' own UIs and the health-check budget (``MODELSHIP_*``)."""

from __future__ import annotations

import functools

from pydantic import Field

from modelship_common.settings import BaseServiceSettings


class DashboardSettings(BaseServiceSettings):
    """What the dashboard links to and checks. Unset URLs show as "not configured" on the Monitoring page."""

    mlflow_ui_url: str | None = Field(
        default=None,
        description="MLflow UI as a browser reaches it (e.g. http://localhost:5000); default: the tracking URI.",
    )
    """MLflow UI as a browser reaches it; default: the tracking URI."""

    prometheus_url: str | None = Field(default=None, description="Prometheus server, e.g. http://prometheus:9090.")
    """Prometheus server, e.g. ``http://prometheus:9090``."""

    grafana_url: str | None = Field(default=None, description="Grafana, e.g. http://grafana:3000.")
    """Grafana, e.g. ``http://grafana:3000``."""

    minio_console_url: str | None = Field(default=None, description="MinIO console, e.g. http://minio:9001.")
    """MinIO console, e.g. ``http://minio:9001``."""

    operator_url: str | None = Field(
        default=None, description="The rollout operator's health/webhook server, e.g. http://modelship-operator:8080."
    )
    """The rollout operator's health/webhook server, e.g. ``http://modelship-operator:8080``."""

    kafka_consumer_group: str = Field(
        default="modelship-streaming", description="Consumer group of the streaming worker (for its lag)."
    )
    """Consumer group of the streaming worker (for its lag)."""

    health_timeout_s: float = Field(
        default=2.0, gt=0, description="Timeout in seconds of each Monitoring-page health check (run concurrently)."
    )
    """Timeout in seconds of each Monitoring-page health check (run concurrently)."""

    mlflow_timeout_s: float = Field(
        default=5.0, gt=0, description="Timeout in seconds of the Experiments page's MLflow queries."
    )
    """Timeout in seconds of the Experiments page's MLflow queries."""

    refresh_s: int = Field(
        default=30, ge=0, description="Data pages refresh themselves every this many seconds (0 = never)."
    )
    """Data pages refresh themselves every this many seconds (0 = never)."""

    page_size: int = Field(default=25, ge=1, le=500, description="Rows per page of the Predictions table.")
    """Rows per page of the Predictions table."""


@functools.lru_cache(maxsize=1)
def get_dashboard_settings() -> DashboardSettings:
    """Read once from the environment (a FastAPI dependency; tests override it)."""
    return DashboardSettings()
