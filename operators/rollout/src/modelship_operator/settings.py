"""Operator settings, read from ``MODELSHIP_*`` environment variables (see README.md for the table)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator

from modelship_common.settings import BaseServiceSettings, DatabaseSettings


class Target(StrEnum):
    """What the operator renders per InferenceService."""

    deployment = "deployment"
    kserve = "kserve"


class OperatorSettings(BaseServiceSettings, DatabaseSettings):
    """Settings of the rollout operator. Built in the kopf startup handler, never at import time.

    The database (``MODELSHIP_DATABASE_URL``, :class:`DatabaseSettings`) is the predictions store the gateway writes:
    Shadow and Canary rollouts are judged on its ``predictions`` and recorded in its ``rollouts`` tables.
    """

    target: Target = Target.deployment
    """``deployment``: a Deployment + Service per model; ``kserve``: a serving.kserve.io/v1beta1 InferenceService."""

    serving_image: str = Field(default="modelship-serving:0.1.0", min_length=1)
    """Model server image (services/serving). The chart sets the pinned repository:tag."""

    serving_image_pull_policy: str = Field(default="IfNotPresent", pattern="^(Always|IfNotPresent|Never)$")
    """Image pull policy of model server containers."""

    serving_service_account: str = ""
    """ServiceAccount of model server pods; empty means the namespace's default."""

    serving_run_as_user: int = Field(default=1000, ge=1)
    """uid (and gid) model server pods run as; they always run as non-root."""

    serving_env: dict[str, str] = Field(default_factory=dict)
    """Extra environment of model server pods, as a JSON object (e.g. MLFLOW_S3_ENDPOINT_URL)."""

    serving_env_from_secret: str = ""
    """Name of a Secret whose keys become environment variables of model server pods (e.g. S3 credentials)."""

    serving_node_selector: dict[str, str] = Field(default_factory=dict)
    """nodeSelector of model server pods, as a JSON object."""

    serving_tolerations: list[dict[str, Any]] = Field(default_factory=list)
    """Tolerations of model server pods, as a JSON list."""

    metrics_port: int = Field(default=8081, ge=0, le=65535)
    """Port of the Prometheus ``/metrics`` endpoint; 0 disables it."""

    webhook_port: int = Field(default=8082, ge=0, le=65535)
    """Port of the MLflow webhook receiver; 0 disables it."""

    webhook_secret: SecretStr | None = None
    """HMAC secret shared with the MLflow webhook (no default). Without it the webhook receiver is off."""

    webhook_secret_file: Path | None = None
    """Alternative to ``webhook_secret``: a file holding the secret (a mounted Secret)."""

    webhook_max_age_seconds: int = Field(default=300, ge=1)
    """Deliveries whose X-MLflow-Timestamp is further than this from now are rejected (replay protection)."""

    webhook_url: str = ""
    """If set, the URL MLflow should call; the operator registers the webhook in each registry's MLflow."""

    resync_seconds: float = Field(default=30.0, gt=0)
    """How often InferenceServices not owned by a ModelRegistry re-resolve their alias."""

    retry_seconds: float = Field(default=10.0, gt=0)
    """Retry delay when MLflow or the Kubernetes API is unreachable."""

    mlflow_timeout_seconds: float = Field(default=5.0, gt=0)
    """Timeout of each request to MLflow; the operator never waits minutes on a dead MLflow."""

    history_limit: int = Field(default=10, ge=1, le=100)
    """Entries kept in an InferenceService's status.history (version rollouts and rollout decisions)."""

    rollout_seconds: float = Field(default=5.0, gt=0)
    """Seconds between two analysis passes of a Shadow or Canary InferenceService (a webhook wakes it sooner)."""

    challenger_seconds: float = Field(default=15.0, gt=0)
    """How often the ``challenger`` alias of a Shadow or Canary model is read from MLflow (webhooks: at once)."""

    @field_validator("serving_tolerations")
    @classmethod
    def _tolerations_are_objects(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for item in value:
            if not isinstance(item, dict):
                raise ValueError("every toleration must be a JSON object")
        return value

    def resolved_webhook_secret(self) -> str | None:
        """The HMAC secret from ``webhook_secret`` or ``webhook_secret_file`` (stripped), or None."""
        if self.webhook_secret is not None and self.webhook_secret.get_secret_value():
            return self.webhook_secret.get_secret_value()
        if self.webhook_secret_file is not None:
            text = self.webhook_secret_file.read_text(encoding="utf-8").strip()
            return text or None
        return None


def get_settings(**overrides: Any) -> OperatorSettings:
    """Read the settings from the environment (overrides win)."""
    return OperatorSettings(**overrides)
