"""The random-forest grid's documented search order (no MLflow: the search itself runs in test_penguins_job)."""

from __future__ import annotations

from sklearn.model_selection import ParameterGrid

from modelship_training.penguins_models import RF_GRID


def test_rf_grid_is_searched_in_the_documented_order() -> None:
    combinations = list(ParameterGrid(RF_GRID))
    assert len(combinations) == 3 * 3 * 2 * 2
    assert len({tuple(sorted(c.items(), key=str)) for c in combinations}) == len(combinations)
    # names sorted, the last (n_estimators) varying fastest: what RF_GRID's comment promises
    assert combinations[0] == {"max_depth": None, "max_features": "sqrt", "min_samples_leaf": 1, "n_estimators": 50}
    assert combinations[1] == {"max_depth": None, "max_features": "sqrt", "min_samples_leaf": 1, "n_estimators": 100}
    assert combinations[3] == {"max_depth": None, "max_features": "sqrt", "min_samples_leaf": 3, "n_estimators": 50}
    assert combinations[-1] == {"max_depth": 8, "max_features": None, "min_samples_leaf": 3, "n_estimators": 200}
