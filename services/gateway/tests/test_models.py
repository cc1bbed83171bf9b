"""GET /api/models: discovery at request time, server readiness and version, registry metrics."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelship_common.schemas import digits, penguins
from services.conftest import PENGUINS_METRICS
from services.gateway.tests.test_errors import write_endpoint
from services.gateway.tests.test_predict import ROW, expected_rows
from services.gateway.tests.testkit import LiveGateway, Process, free_port, http_ok, python_env, wait_until

# Live gateways, the stand-in model server and a real MLflow server (subprocesses).
pytestmark = pytest.mark.integration


def test_models_carry_registry_metrics_and_classes(start_gateway, mlflow_uri: str, standin_url: str) -> None:
    gateway = start_gateway(mlflow_tracking_uri=mlflow_uri)
    models = {m["name"]: m for m in gateway.http.get("/api/models").json()}
    assert set(models) == {"penguins", "digits-fast", "broken"}
    assert models["penguins"] == {
        "name": "penguins",
        "version": "3",
        "task": "tabular",
        "url": standin_url,
        "ready": True,
        "classes": list(penguins.CLASSES),
        "metrics": {k: float(v) for k, v in PENGUINS_METRICS.items()},
    }
    assert models["digits-fast"]["task"] == "image"
    assert models["digits-fast"]["classes"] == list(digits.CLASSES)
    assert models["digits-fast"]["metrics"]["test_f1"] == 0.931
    # Not in the registry: listed from the server's own word, without metrics.
    assert models["broken"]["version"] == "1" and models["broken"]["metrics"] == {}
    # Cached: asking again gives the same answer.
    assert {m["name"]: m for m in gateway.http.get("/api/models").json()} == models


def test_new_discovery_file_appears_without_restart(start_gateway, standin_url: str) -> None:
    gateway = start_gateway(model_servers={})
    assert gateway.http.get("/api/models").json() == []
    assert gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW]}).status_code == 404

    write_endpoint(gateway.settings.discovery_dir, "penguins", standin_url + "/")
    (models,) = gateway.http.get("/api/models").json()
    assert (models["name"], models["url"], models["ready"], models["version"]) == ("penguins", standin_url, True, "3")
    response = gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW]})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected_rows([ROW])

    (gateway.settings.discovery_dir / "penguins.json").unlink()
    assert gateway.http.get("/api/models").json() == []


def test_mlflow_down_does_not_break_predictions(gateway: LiveGateway) -> None:
    started = time.monotonic()
    models = {m["name"]: m for m in gateway.http.get("/api/models").json()}
    assert models["penguins"]["ready"] is True
    assert models["penguins"]["version"] == "3"
    assert models["penguins"]["task"] == "tabular"  # from the model server's metadata
    assert models["penguins"]["metrics"] == {} and models["penguins"]["classes"] == []
    assert models["digits-fast"]["task"] == "image"
    response = gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW]})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == expected_rows([ROW])
    assert time.monotonic() - started < 15


def test_first_models_call_after_start_has_registry_metadata(tmp_path: Path, mlflow_uri: str, standin_url: str) -> None:
    """A freshly started gateway process (MLflow not yet imported) answers its very first ``/api/models`` with
    the registry's classes and metrics: importing MLflow and building its client is not part of the lookup's
    deadline (which was spent on the import, leaving the metadata empty for ``registry_retry_s``)."""
    port = free_port()
    env = {
        **python_env(),
        "MODELSHIP_PORT": str(port),
        "MODELSHIP_HOST": "127.0.0.1",
        "MODELSHIP_DATABASE_URL": f"sqlite:///{tmp_path / 'predictions.db'}",
        "MODELSHIP_MODEL_SERVERS": json.dumps({"penguins": standin_url}),
        "MODELSHIP_MLFLOW_TRACKING_URI": mlflow_uri,
        "MODELSHIP_REGISTRY_TIMEOUT_S": "1.0",  # ample for one lookup on localhost, short of an MLflow import
        "MODELSHIP_REGISTRY_RETRY_S": "300",
    }
    log = tmp_path / "gateway.log"
    proc = Process([sys.executable, "-m", "modelship_gateway"], log=log, env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http_ok(f"{url}/healthz"), deadline_s=120, what="gateway", alive=proc.alive, log=log)
        (model,) = httpx.get(f"{url}/api/models", timeout=30).json()
        assert model["classes"] == list(penguins.CLASSES), log.read_text()[-2000:]
        assert model["metrics"] == {k: float(v) for k, v in PENGUINS_METRICS.items()}
    finally:
        proc.stop()
