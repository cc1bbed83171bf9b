"""Held-out test data exactly as training splits it, for the benchmark, the demo and the root tests."""

from __future__ import annotations

import numpy as np

from modelship_common.schemas import penguins


def penguins_test_split(training_db_url: str) -> tuple[np.ndarray, np.ndarray]:
    """Encoded float32 (n, 9) test rows and their class ids, read from the training database's
    ``penguins_processed`` and split with the training settings' test size and seed (as ``ModelTrainer`` does)."""
    from sklearn.model_selection import train_test_split

    from modelship_common.db import make_engine
    from modelship_training import penguins_data
    from modelship_training.settings import get_settings

    settings = get_settings(database_url=training_db_url)
    engine = make_engine(training_db_url)
    try:
        data = penguins_data.to_arrays(penguins_data.read_processed(engine))
    finally:
        engine.dispose()
    _, x_test, _, y_test = train_test_split(
        data.features,
        data.labels,
        test_size=settings.test_size,
        stratify=data.labels,
        random_state=settings.random_seed,
    )
    return np.asarray(x_test, dtype=np.float32), np.asarray(y_test, dtype=np.int64)


def digits_test_split() -> tuple[np.ndarray, np.ndarray]:
    """float32 (n, 28, 28, 1) test images and labels of the offline (scikit-learn) digits split."""
    from modelship_training import digits_data
    from modelship_training.settings import get_settings

    settings = get_settings()
    data = digits_data.load_sklearn(test_size=settings.test_size, seed=settings.random_seed)
    return data.x_test, data.y_test


def raw_row(encoded: np.ndarray) -> dict[str, object]:
    """An encoded penguins row back to the raw dict a user sends (``penguins.RAW_FEATURES``)."""
    values = [float(v) for v in encoded]
    row: dict[str, object] = dict(zip(penguins.NUMERIC_FEATURES, values[: len(penguins.NUMERIC_FEATURES)], strict=True))
    start = len(penguins.NUMERIC_FEATURES)
    row["island"] = penguins.ISLANDS[int(np.argmax(values[start : start + len(penguins.ISLANDS)]))]
    start += len(penguins.ISLANDS)
    row["sex"] = penguins.SEXES[int(np.argmax(values[start : start + len(penguins.SEXES)]))]
    return row
