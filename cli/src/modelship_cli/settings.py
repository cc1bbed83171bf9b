"""The command's settings: environment (``MODELSHIP_*``) first, then the command line overrides them."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from modelship_common.settings import ENV_PREFIX, DatabaseSettings


class CliSettings(DatabaseSettings):
    """Where ``--target demo`` finds the rollouts tables and the registry (what ``make demo`` runs)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=None, extra="ignore", use_attribute_docstrings=True
    )

    mlflow_tracking_uri: str = "http://127.0.0.1:5000"
    """MLflow tracking server (also the model registry); ``make demo`` starts it on port 5000."""

    mlflow_timeout_s: float = Field(default=10.0, gt=0)
    """Seconds to wait for one MLflow call before the command gives up (no retries)."""

    kube_timeout_s: float = Field(default=15.0, gt=0)
    """Seconds to wait for one Kubernetes API call (``--target cluster``)."""


def get_settings(**overrides: object) -> CliSettings:
    """The settings from the environment with the command line's values (``None`` = not given) on top."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return CliSettings.model_validate(given)
