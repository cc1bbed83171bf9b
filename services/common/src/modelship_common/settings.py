"""Settings shared by the services. Each service subclasses :class:`BaseServiceSettings` with its own fields.

Every field is read from the environment with the ``MODELSHIP_`` prefix (``MODELSHIP_MLFLOW_TRACKING_URI``...).
Nothing here is built at import time: call the service's ``get_settings()``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "MODELSHIP_"


class BaseServiceSettings(BaseSettings):
    """Fields every modelship service understands."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    mlflow_tracking_uri: str = Field(
        default="http://127.0.0.1:5000",
        description="MLflow tracking server (also the model registry).",
    )
    """MLflow tracking server (also the model registry)."""

    log_level: str = Field(default="INFO", description="Python logging level for the service.")
    """Python logging level for the service."""

    log_format: Literal["auto", "json", "text"] = Field(
        default="auto",
        description="Log lines as JSON objects (json), for people (text), or text on a terminal else JSON (auto).",
    )
    """Log lines as JSON objects (json), for people (text), or text on a terminal else JSON (auto)."""
