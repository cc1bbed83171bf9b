"""Root cross-component tests. The servers come from the platform plugin (``devtools/pytest_platform.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _mlflow_uses_the_session_server(request: pytest.FixtureRequest) -> Iterator[None]:
    """MLflow's fluent API (``mlflow.sklearn.load_model``...) reads a process-wide tracking URI, which tests of
    other packages in the same session point elsewhere: point it at this session's server for every integration
    test here. Unit tests here (no server) start no MLflow."""
    if request.node.get_closest_marker("integration") is None:
        yield
        return
    import mlflow

    tracking_uri = request.getfixturevalue("tracking_uri")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    yield
