"""GET /api/models: discovery at request time, server readiness and version, registry metrics."""

from __future__ import annotations

import time

from modelship_common.schemas import digits, penguins
from services.gateway.tests.conftest import PENGUINS_METRICS
from services.gateway.tests.test_errors import write_endpoint
from services.gateway.tests.test_predict import ROW, expected_rows
from services.gateway.tests.testkit import LiveGateway


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
