"""Settings shared by the services. Each service subclasses :class:`BaseServiceSettings` with its own fields.

Every field is read from the environment with the ``MODELSHIP_`` prefix (``MODELSHIP_MLFLOW_TRACKING_URI``...).
Nothing here is built at import time: call the service's ``get_settings()``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "MODELSHIP_"
MIB = 1024 * 1024


def default_database_url() -> str:
    """SQLite file under the modelship cache (``~/.cache/modelship/demo/predictions.db``), as ``make demo`` uses."""
    cache = Path(os.environ.get("MODELSHIP_CACHE") or "~/.cache/modelship").expanduser()
    return f"sqlite:///{cache / 'demo' / 'predictions.db'}"


class BaseServiceSettings(BaseSettings):
    """Fields every modelship service understands."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=None, extra="ignore", use_attribute_docstrings=True
    )

    mlflow_tracking_uri: str = "http://127.0.0.1:5000"
    """MLflow tracking server (also the model registry)."""

    log_level: str = "INFO"
    """Python logging level for the service."""

    log_format: Literal["auto", "json", "text"] = "auto"
    """Log lines as JSON objects (json), for people (text), or text on a terminal else JSON (auto)."""


class DatabaseSettings(BaseSettings):
    """Where the predictions store is: mixed into the gateway's and the streaming worker's settings (one database)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=None, extra="ignore", use_attribute_docstrings=True
    )

    database_url: str = Field(default_factory=default_database_url)
    """SQLAlchemy URL of the predictions store (SQLite file for the demo, PostgreSQL in clusters)."""

    database_wait_s: float = 60.0
    """Seconds to keep retrying a database that refuses connections at start-up (a PostgreSQL still starting)."""
