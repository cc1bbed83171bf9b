"""Live gateways for the gateway tests, in front of the KServe stand-in model server (``standin_url``, with
``mlflow_uri`` and ``dead_url`` in ``services/conftest.py``, shared with the scoring core's tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelship_gateway.settings import GatewaySettings
from services.conftest import STANDIN_MODELS
from services.gateway.tests.testkit import LiveGateway


@pytest.fixture
def gateway_settings(tmp_path: Path, standin_url: str, dead_url: str) -> Callable[..., GatewaySettings]:
    """Settings for a test gateway: its own SQLite file and discovery dir; MLflow unreachable unless overridden."""

    def make(**overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "database_url": f"sqlite:///{tmp_path / 'predictions.db'}",
            "model_servers": {name: standin_url for name in STANDIN_MODELS},
            "discovery_dir": tmp_path / "endpoints",
            "mlflow_tracking_uri": dead_url,
            "registry_timeout_s": 20.0,
        }
        values.update(overrides)
        return GatewaySettings(**values)

    return make


@pytest.fixture
def start_gateway(gateway_settings: Callable[..., GatewaySettings]) -> Iterator[Callable[..., LiveGateway]]:
    """Start live gateways (stopped at the end of the test)."""
    started: list[LiveGateway] = []

    def start(**overrides: Any) -> LiveGateway:
        gateway = LiveGateway(gateway_settings(**overrides)).__enter__()
        started.append(gateway)
        return gateway

    yield start
    for gateway in reversed(started):
        gateway.__exit__(None, None, None)


@pytest.fixture
def gateway(start_gateway: Callable[..., LiveGateway]) -> LiveGateway:
    """A live gateway in front of the stand-in model server, MLflow unreachable."""
    return start_gateway()


@pytest.fixture
def image_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No Kafka, a local object store in tmp_path: the directory uploaded images go to."""
    monkeypatch.delenv("MODELSHIP_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("MODELSHIP_S3_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("MODELSHIP_OBJECT_STORE", "local")
    monkeypatch.setenv("MODELSHIP_IMAGE_DIR", str(tmp_path / "images"))
    return tmp_path / "images"
