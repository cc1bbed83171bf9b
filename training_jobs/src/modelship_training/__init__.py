"""modelship training jobs: penguins (scikit-learn) and digits (TensorFlow/Keras CNNs), tracked in MLflow.

Entry points: ``python -m modelship_training penguins|digits|all`` and :func:`modelship_training.jobs.train_all`.
Nothing is built at import time; settings come from :func:`modelship_training.settings.get_settings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelship_training.jobs import TrainingReport
    from modelship_training.settings import TrainingSettings

__all__ = ["get_settings", "train_all"]


def train_all(settings: TrainingSettings, **kwargs: Any) -> TrainingReport:
    """Train and register every model (penguins, then the digits CNNs). See :func:`jobs.train_all`."""
    from modelship_training.jobs import train_all as _train_all

    return _train_all(settings, **kwargs)


def get_settings(**overrides: Any) -> TrainingSettings:
    """Build the training settings from the environment (``MODELSHIP_*``) plus ``overrides``."""
    from modelship_training.settings import get_settings as _get_settings

    return _get_settings(**overrides)
