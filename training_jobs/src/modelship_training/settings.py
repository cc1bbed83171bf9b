"""Settings of the training jobs (environment variables with the ``MODELSHIP_`` prefix)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from modelship_common.settings import BaseServiceSettings

DEFAULT_DATA_DIR = Path("~/.cache/modelship/demo").expanduser()
#: Names of the penguins estimators (penguins_models.CANDIDATES, mirrored here so settings import no scikit-learn).
PENGUINS_ESTIMATORS: tuple[str, ...] = ("logistic_regression", "random_forest", "gradient_boosting", "svm", "knn")


def _default_database_url() -> str:
    return f"sqlite:///{DEFAULT_DATA_DIR / 'training.db'}"


def git_revision(cwd: Path | None = None) -> str:
    """The current git commit (``git rev-parse HEAD``), or ``"unknown"`` outside a checkout or without git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd or Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    revision = done.stdout.strip()
    return revision if done.returncode == 0 and revision else "unknown"


class TrainingSettings(BaseServiceSettings):
    """Where the training data lives, where runs and models go, and how models are split and promoted."""

    database_url: str = Field(default_factory=_default_database_url)
    """SQLAlchemy URL of the training-data database; SQLite file by default, PostgreSQL when set."""

    penguins_experiment: str = "penguins"
    """MLflow experiment that holds the penguins training runs."""

    digits_experiment: str = "digits"
    """MLflow experiment that holds the digits CNN training runs."""

    penguins_model_name: str = "penguins"
    """Registered model that every penguins estimator becomes a version of."""

    promotion_margin: float = Field(default=0.0, ge=0.0)
    """A new version becomes champion when its test F1 >= the champion's test F1 + this margin."""

    test_size: float = Field(default=0.2, gt=0.0, lt=1.0)
    """Fraction of the data held out (stratified) as the test split."""

    random_seed: int = 42
    """Seed for splits, estimators and TensorFlow."""

    git_revision: str = Field(default_factory=git_revision)
    """Git commit the models are trained from; defaults to ``git rev-parse HEAD``, else ``unknown``."""

    digits_epochs: int | None = Field(default=None, ge=1)
    """Override the number of epochs of every digits CNN variant (default: each variant's own)."""

    collector_url: str = "http://127.0.0.1:8090/batch"
    """Where ``collect`` fetches the current batch of raw penguins rows (the sample data API's ``GET /batch``)."""

    collector_source: str = Field(default="collector", min_length=1, max_length=64)
    """Value of ``penguins_raw.source`` on the rows ``collect`` stores."""

    collector_timeout_seconds: float = Field(default=30.0, gt=0.0)
    """Timeout of the collector's HTTP request to the data API."""

    retrain_threshold_rows: int = Field(default=50, ge=1)
    """``collect`` retrains penguins once this many raw rows arrived since the last retraining it started."""

    retrain_estimators: list[str] | None = None
    """Penguins estimators a retraining started by ``collect`` trains; None = every candidate."""

    retrain_grid_search: bool = False
    """Whether a retraining started by ``collect`` also runs the random-forest grid search (slow)."""

    @field_validator("retrain_estimators")
    @classmethod
    def _known_estimators(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            unknown = [name for name in value if name not in PENGUINS_ESTIMATORS]
            if unknown or not value:
                raise ValueError(f"choose one or more of {', '.join(PENGUINS_ESTIMATORS)}, got {value}")
        return value


def get_settings(**overrides: Any) -> TrainingSettings:
    """Read the settings from the environment; keyword ``overrides`` win over the environment."""
    return TrainingSettings(**overrides)
