"""Repository-wide pytest setup: the platform's session fixtures, registered once for every test directory, and
the check that keeps the ``integration`` marker honest."""

from __future__ import annotations

import pytest

pytest_plugins = ["devtools.pytest_platform"]

#: Fixtures that start a real server process (or need one): MLflow, PostgreSQL, Kafka, MinIO, model servers, the
#: gateway's stand-in model server, a gateway in front of one, the local control plane, the kopf operator.
SERVER_FIXTURES = frozenset(
    {
        # devtools/pytest_platform.py
        "mlflow_server", "tracking_uri", "mlflow_client", "postgres", "pg_database", "trained", "model_servers",
        "penguins_test", "start_gateway", "dashboard",
        # services/conftest.py (gateway and scoring tests), services/gateway/tests
        "standin_url", "mlflow_uri", "gateway_settings", "gateway",
        # services/serving/tests
        "mlflow_registry", "other_registry", "penguins_onnx", "penguins_native", "digits_model",
        # services/streaming/tests
        "kafka", "minio", "digits_servers", "stream",
        # operators/rollout/tests/integration, charts/tests, tests/e2e
        "cluster", "namespace", "kserve_crd", "default_mlflow", "mlflow_factory", "operator", "release",
    }
)  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses a server fixture must be marked ``integration``, so that ``-m "not integration"``
    (``make test-unit``) starts no server. Tests that start a server process themselves carry the marker by hand."""
    wrong = []
    for item in items:
        used = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if used and item.get_closest_marker("integration") is None:
            wrong.append(f"  {item.nodeid}: {', '.join(sorted(used))}")
    if wrong:
        raise pytest.UsageError(
            "tests using server fixtures but not marked integration (add pytest.mark.integration):\n" + "\n".join(wrong)
        )
