"""The penguins estimators, and a random-forest grid search whose every combination is a nested MLflow run."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import ParameterGrid, StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from modelship_training.results import TrainResult
from modelship_training.trainer import ModelTrainer

log = logging.getLogger(__name__)

#: name -> (estimator factory taking the seed, whether the pipeline standardises the features first)
Candidate = tuple[Callable[[int], BaseEstimator], bool]

CANDIDATES: dict[str, Candidate] = {
    "logistic_regression": (lambda seed: LogisticRegression(max_iter=2000, random_state=seed), True),
    "random_forest": (lambda seed: RandomForestClassifier(n_estimators=200, random_state=seed), False),
    "gradient_boosting": (lambda seed: GradientBoostingClassifier(random_state=seed), False),
    # An SVM with Platt-scaled probabilities. scikit-learn 1.9 deprecates SVC(probability=True) and recommends
    # exactly this: one sigmoid calibration fitted on cross-validated decision values of one SVC.
    "svm": (
        lambda seed: CalibratedClassifierCV(SVC(kernel="rbf", random_state=seed), method="sigmoid", ensemble=False),
        True,
    ),
    "knn": (lambda seed: KNeighborsClassifier(n_neighbors=5), True),
}

#: 3 x 3 x 2 x 2 = 36 random-forest combinations, searched in :class:`~sklearn.model_selection.ParameterGrid`'s
#: order: parameter names sorted (``max_depth``, ``max_features``, ``min_samples_leaf``, ``n_estimators``), the last
#: one varying fastest, so combination 00 is ``max_depth=None, max_features="sqrt", min_samples_leaf=1,
#: n_estimators=50`` and 01 the same with ``n_estimators=100``.
RF_GRID: dict[str, Sequence[Any]] = {
    "n_estimators": (50, 100, 200),
    "max_depth": (None, 4, 8),
    "min_samples_leaf": (1, 3),
    "max_features": ("sqrt", None),
}


@dataclass(frozen=True)
class GridPoint:
    """Scores of one grid combination (a nested run)."""

    params: dict[str, Any]
    run_id: str
    cv_accuracy: float
    cv_std: float
    test_accuracy: float
    test_f1: float


@dataclass(frozen=True)
class GridSearchResult:
    """All combinations (best first by CV accuracy), the parent run and the registered best model."""

    parent_run_id: str
    points: list[GridPoint]
    best: TrainResult


def train_candidates(trainer: ModelTrainer, names: Sequence[str] | None = None) -> list[TrainResult]:
    """Train, log and register each candidate estimator (all of :data:`CANDIDATES` by default)."""
    results = []
    for name in names or list(CANDIDATES):
        factory, scaled = CANDIDATES[name]
        scaler = StandardScaler() if scaled else None
        results.append(trainer.train_and_save(name, factory(trainer.settings.random_seed), scaler))
    return results


def random_forest_grid_search(
    trainer: ModelTrainer,
    param_grid: Mapping[str, Sequence[Any]] = RF_GRID,
    cv_folds: int = 3,
    name: str = "random_forest_grid",
) -> GridSearchResult:
    """Score every ``param_grid`` combination with stratified k-fold CV on the training split.

    Combinations run in :class:`~sklearn.model_selection.ParameterGrid` order (see :data:`RF_GRID`); each is a
    nested MLflow run ``<name>-<index>`` under one parent run, with its params, CV accuracy (mean, std) and test
    accuracy/F1 of the model refitted on the whole training split. The combination with the best CV accuracy
    (the earlier one on a tie; test scores are not used for the choice) is registered through ``trainer.train_and_save``
    as a nested run of the same parent.
    """
    import mlflow

    seed = trainer.settings.random_seed
    folds = StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=seed)
    base = RandomForestClassifier(random_state=seed)
    combinations = list(ParameterGrid(dict(param_grid)))  # the order documented at RF_GRID
    mlflow.set_experiment(trainer.settings.penguins_experiment)
    points: list[GridPoint] = []
    started = time.perf_counter()
    with mlflow.start_run(run_name=f"{name}-search") as parent:
        mlflow.log_params({"grid": repr(dict(param_grid)), "cv_folds": cv_folds, "n_combinations": len(combinations)})
        for index, params in enumerate(combinations):
            estimator = clone(base).set_params(**params, n_jobs=-1)  # both cores for the search only
            with mlflow.start_run(run_name=f"{name}-{index:02d}", nested=True) as child:
                scores = cross_val_score(estimator, trainer.x_train, trainer.y_train, cv=folds, scoring="accuracy")
                estimator.fit(trainer.x_train, trainer.y_train)
                y_pred = estimator.predict(trainer.x_test)
                point = GridPoint(
                    params=params,
                    run_id=child.info.run_id,
                    cv_accuracy=float(np.mean(scores)),
                    cv_std=float(np.std(scores)),
                    test_accuracy=float(accuracy_score(trainer.y_test, y_pred)),
                    test_f1=float(f1_score(trainer.y_test, y_pred, average="weighted")),
                )
                mlflow.log_params({k: str(v) for k, v in params.items()})
                mlflow.log_metrics(
                    {
                        "cv_accuracy": point.cv_accuracy,
                        "cv_accuracy_std": point.cv_std,
                        "test_accuracy": point.test_accuracy,
                        "test_f1": point.test_f1,
                    }
                )
            points.append(point)
            log.info(
                "grid %d/%d %s: cv_accuracy=%.4f test_accuracy=%.4f",
                index + 1,
                len(combinations),
                params,
                point.cv_accuracy,
                point.test_accuracy,
            )
        ranked = sorted(points, key=lambda p: -p.cv_accuracy)  # stable: the earlier combination wins a tie
        winner = ranked[0]
        mlflow.log_params({f"best_{k}": str(v) for k, v in winner.params.items()})
        mlflow.log_metrics({"best_cv_accuracy": winner.cv_accuracy, "search_seconds": time.perf_counter() - started})
        best = trainer.train_and_save(
            name,
            clone(base).set_params(**winner.params),
            extra_params={"grid_best_cv_accuracy": winner.cv_accuracy, "grid_parent_run": parent.info.run_id},
        )
    return GridSearchResult(parent_run_id=parent.info.run_id, points=ranked, best=best)
