"""A real ``python -m modelship_serving`` process over HTTP: V1, V2, metadata, /metrics, 400 and 404."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.serving.tests.serving_helpers import child_env, free_port, stop, wait_http

ROW = {
    "island": "Dream",
    "bill_length_mm": 39.5,
    "bill_depth_mm": 17.4,
    "flipper_length_mm": 186,
    "body_mass_g": 3800,
    "sex": "female",
}


@dataclass(frozen=True)
class Server:
    url: str
    log_path: Path


@pytest.fixture(scope="module")
def server(mlflow_registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The champion alias of penguins, resolved at start, served as ``penguins`` on a free port."""
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    argv = [
        sys.executable, "-m", "modelship_serving",
        "--model-uri", "models:/penguins@champion",
        "--http_port", str(port), "--grpc_port", str(free_port()),
    ]  # fmt: skip
    env = child_env(
        MODELSHIP_MLFLOW_TRACKING_URI=mlflow_registry.uri,
        MODELSHIP_MODEL_CACHE_DIR=str(root / "cache"),
    )
    log_path = root / "serving.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/v2/models/penguins/ready", proc, log_path, "model server")
        yield Server(url=url, log_path=log_path)
    finally:
        stop(proc)


def test_v1_predict(server, mlflow_registry):
    response = httpx.post(f"{server.url}/v1/models/penguins:predict", json={"instances": [ROW]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "penguins"
    assert body["model_version"] == mlflow_registry.penguins_version
    [prediction] = body["predictions"]
    assert prediction["class_name"] == "Adelie"
    assert prediction["class_id"] == 0
    assert set(prediction["probabilities"]) == {"Adelie", "Chinstrap", "Gentoo"}


def test_v2_infer(server, mlflow_registry, penguins_data):
    x = penguins_data.features[:4]
    body = {
        "id": "req-1",
        "inputs": [{"name": "features", "shape": [4, 9], "datatype": "FP32", "data": x.ravel().tolist()}],
    }
    response = httpx.post(f"{server.url}/v2/models/penguins/infer", json=body)
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["id"] == "req-1"
    assert reply["model_version"] == mlflow_registry.penguins_version
    out = {o["name"]: o for o in reply["outputs"]}
    assert (out["class_id"]["datatype"], out["class_id"]["shape"]) == ("INT64", [4])
    assert out["class_id"]["data"] == penguins_data.labels[:4].tolist()
    assert out["class_name"]["datatype"] == "BYTES"
    assert out["probabilities"]["shape"] == [4, 3]


def test_v2_metadata_lists_the_pinned_version(server, mlflow_registry):
    response = httpx.get(f"{server.url}/v2/models/penguins")
    assert response.status_code == 200
    meta = response.json()
    assert meta["name"] == "penguins"
    assert meta["versions"] == [mlflow_registry.penguins_version]
    assert meta["platform"] == "onnxruntime"
    assert [o["name"] for o in meta["outputs"]] == ["class_id", "class_name", "probabilities"]
    assert httpx.get(f"{server.url}/v1/models/penguins").json() == {"name": "penguins", "ready": True}


def test_bad_input_is_400_with_a_message(server):
    response = httpx.post(f"{server.url}/v1/models/penguins:predict", json={"instances": [{**ROW, "island": "Mars"}]})
    assert response.status_code == 400
    assert "island='Mars' is not one of Biscoe, Dream, Torgersen" in response.json()["error"]
    response = httpx.post(
        f"{server.url}/v2/models/penguins/infer",
        json={"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
    )
    assert response.status_code == 400
    assert "expected shape [n, 9]" in response.json()["error"]
    response = httpx.post(f"{server.url}/v2/models/penguins/infer", json={"inputs": [{"name": "x"}]})
    assert response.status_code == 400
    assert "invalid request body" in response.json()["error"]
    response = httpx.post(
        f"{server.url}/v1/models/penguins:predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


def test_unknown_model_is_404(server):
    response = httpx.post(f"{server.url}/v1/models/nope:predict", json={"instances": [ROW]})
    assert response.status_code == 404
    assert "nope" in response.json()["error"]
    response = httpx.post(f"{server.url}/v2/models/nope/infer", json={"inputs": []})
    assert response.status_code == 404


def test_metrics(server, mlflow_registry):
    httpx.post(f"{server.url}/v1/models/penguins:predict", json={"instances": [ROW, ROW]}).raise_for_status()
    httpx.post(f"{server.url}/v1/models/nope:predict", json={"instances": [ROW]})
    text = httpx.get(f"{server.url}/metrics").text
    version = mlflow_registry.penguins_version
    assert f'modelship_predictions_total{{model="penguins",protocol="v1",version="{version}"}}' in text
    assert f'modelship_instances_total{{model="penguins",version="{version}"}}' in text
    assert 'reason="features"' in text
    assert 'reason="model_not_found"' in text
    assert 'modelship_model_info{model="penguins",platform="onnxruntime",task="tabular"' in text
    assert 'request_predict_seconds_count{model_name="penguins"}' in text


def test_no_per_request_log_lines(server):
    for _ in range(5):
        httpx.post(f"{server.url}/v1/models/penguins:predict", json={"instances": [ROW]}).raise_for_status()
    log = server.log_path.read_text(errors="replace")
    assert "POST /v1/models/penguins:predict" not in log
    assert "predict_ms" not in log
    assert "model penguins ready" in log
