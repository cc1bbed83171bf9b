"""The training jobs: penguins, digits, all. The CLI and the demo launcher both call these."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelship_training import tracking
from modelship_training.results import TrainResult

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from modelship_training.penguins_models import GridSearchResult
    from modelship_training.settings import TrainingSettings

log = logging.getLogger(__name__)


@dataclass
class TrainingReport:
    """Everything one job registered, in training order."""

    results: list[TrainResult] = field(default_factory=list)
    grid_search: GridSearchResult | None = None

    def best(self, model_name: str) -> TrainResult:
        """The version of ``model_name`` with the highest test F1 trained by this job."""
        candidates = [r for r in self.results if r.model_name == model_name]
        if not candidates:
            raise KeyError(f"no {model_name!r} model was trained")
        return max(candidates, key=lambda r: r.metrics["test_f1"])


def train_penguins(
    settings: TrainingSettings,
    client: MlflowClient | None = None,
    *,
    estimators: Sequence[str] | None = None,
    grid_search: bool = True,
) -> TrainingReport:
    """Prepare the penguins tables, train every candidate estimator and the random-forest grid search."""
    from modelship_common.db import make_engine
    from modelship_training import penguins_data, penguins_models
    from modelship_training.trainer import ModelTrainer

    client = client or tracking.connect(settings.mlflow_tracking_uri)
    engine = make_engine(settings.database_url)
    try:
        data = penguins_data.prepare(engine)
    finally:
        engine.dispose()
    log.info("penguins: %d processed rows, fingerprint %s", data.n_rows, data.fingerprint[:12])
    trainer = ModelTrainer(settings, data, client)
    report = TrainingReport(results=penguins_models.train_candidates(trainer, estimators))
    if grid_search:
        report.grid_search = penguins_models.random_forest_grid_search(trainer)
        report.results.append(report.grid_search.best)
    return report


def train_digits(
    settings: TrainingSettings,
    client: MlflowClient | None = None,
    *,
    dataset: str = "sklearn",
    variants: Sequence[str] | None = None,
) -> TrainingReport:
    """Train the digits CNN variants (all three by default) on ``dataset`` (``sklearn`` or ``mnist``)."""
    from modelship_training import digits_data
    from modelship_training.digits_models import VARIANTS
    from modelship_training.digits_trainer import quiet_tensorflow, train_variant

    names = list(variants or VARIANTS)
    unknown = [name for name in names if name not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown digits variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    client = client or tracking.connect(settings.mlflow_tracking_uri)
    quiet_tensorflow()
    data = digits_data.load(dataset, test_size=settings.test_size, seed=settings.random_seed)
    return TrainingReport(results=[train_variant(settings, client, data, VARIANTS[name]) for name in names])


def train_all(settings: TrainingSettings, *, dataset: str = "sklearn") -> TrainingReport:
    """Train and register every model: penguins (all estimators + grid search), then the digits CNNs."""
    client = tracking.connect(settings.mlflow_tracking_uri)
    penguins = train_penguins(settings, client)
    digits = train_digits(settings, client, dataset=dataset)
    return TrainingReport(results=penguins.results + digits.results, grid_search=penguins.grid_search)
