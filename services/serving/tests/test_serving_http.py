"""A real ``python -m modelship_serving`` process over HTTP: V1, V2, metadata, /metrics, 400 and 404."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.serving.tests.serving_helpers import child_env, free_port, stop, wait_http

# A real MLflow server and `python -m modelship_serving` processes.
pytestmark = pytest.mark.integration

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


def _start(root: Path, registry_uri: str, model_uri: str, **env: str) -> tuple[subprocess.Popen, Server]:
    port = free_port()
    argv = [
        sys.executable, "-m", "modelship_serving",
        "--model-uri", model_uri, "--model_name", "penguins",
        "--http_port", str(port), "--grpc_port", str(free_port()),
    ]  # fmt: skip
    child = child_env(MODELSHIP_MLFLOW_TRACKING_URI=registry_uri, MODELSHIP_MODEL_CACHE_DIR=str(root / "cache"), **env)
    child.pop("MODELSHIP_LOG_FORMAT", None)  # the default: stderr is a file, so JSON lines
    log_path = root / "serving.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=child, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/v2/models/penguins/ready", proc, log_path, "model server")
    return proc, Server(url=url, log_path=log_path)


@pytest.fixture(scope="module")
def servers(mlflow_registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    """The champion alias of penguins, resolved at start, served as ``penguins`` twice: with the inference fast
    path (the default) and with every request going through kserve's FastAPI app (``MODELSHIP_FAST_PATH=false``).
    """
    procs: list[subprocess.Popen] = []
    started: dict[str, Server] = {}
    try:
        for label, fast_path in (("fast path", "true"), ("kserve app", "false")):
            proc, started[label] = _start(
                tmp_path_factory.mktemp("server"),
                mlflow_registry.uri,
                f"models:/{mlflow_registry.penguins_name}@champion",
                MODELSHIP_FAST_PATH=fast_path,
            )
            procs.append(proc)
        yield started
    finally:
        for proc in procs:
            stop(proc)


@pytest.fixture(params=["fast path", "kserve app"])
def server(request, servers) -> Server:
    """Each HTTP test runs against both request paths: they must behave the same."""
    return servers[request.param]


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
    held_out = penguins_data.test[:4]  # rows the model was not fit on
    x = penguins_data.features[held_out]
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
    assert out["class_id"]["data"] == penguins_data.labels[held_out].tolist()
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


ENCODED = [45.2, 14.8, 212.0, 5200.0, 1.0, 0.0, 0.0, 1.0, 0.0]


def test_binary_outputs_are_octet_stream_and_their_switches_booleans(server):
    """The binary tensor extension: outputs asked for per output or for all (``binary_data_output``, which the
    server ignored) come as binary, typed application/octet-stream (was application/json, or no type at all)."""
    tensor = {"name": "x", "shape": [1, 9], "datatype": "FP32", "data": ENCODED}
    url = f"{server.url}/v2/models/penguins/infer"
    for body in (
        {"inputs": [tensor], "outputs": [{"name": "class_id", "parameters": {"binary_data": True}}]},
        {"inputs": [tensor], "parameters": {"binary_data_output": True}},
    ):
        response = httpx.post(url, json=body)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/octet-stream"
        header = json.loads(response.content[: int(response.headers["inference-header-content-length"])])
        assert header["outputs"][0]["parameters"]["binary_data_size"] == 8
    response = httpx.post(url, json={"inputs": [tensor]})
    assert response.headers["content-type"] == "application/json"
    for body in (
        {"inputs": [tensor], "parameters": {"binary_data_output": 0}},
        {"inputs": [tensor], "outputs": [{"name": "class_id", "parameters": {"binary_data": "yes"}}]},
    ):
        response = httpx.post(url, json=body)
        assert response.status_code == 400, response.text
        assert "must be true or false" in response.json()["error"]


def test_the_served_version_has_the_versioned_routes(server, mlflow_registry):
    """``/v2/models/{name}/versions/{version}[/ready|/infer]`` (kserve answered every version 501)."""
    version = mlflow_registry.penguins_version
    versioned = f"{server.url}/v2/models/penguins/versions/{version}"
    assert httpx.get(versioned).json()["versions"] == [version]
    assert httpx.get(f"{versioned}/ready").json() == {"name": "penguins", "ready": True}
    tensor = {"name": "x", "shape": [1, 9], "datatype": "FP32", "data": ENCODED}
    response = httpx.post(f"{versioned}/infer", json={"inputs": [tensor]})
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == version
    other = f"{server.url}/v2/models/penguins/versions/{int(version) + 1}"
    for response in (httpx.get(other), httpx.get(f"{other}/ready"), httpx.post(f"{other}/infer", json={})):
        assert response.status_code == 404, response.text
        assert f"version {version} is" in response.json()["error"]
    response = httpx.get(f"{server.url}/v2/models/nope/versions/1")
    assert response.status_code == 404 and "nope" in response.json()["error"]


def test_routing_errors_have_the_error_body(server):
    """kserve's app answered these with FastAPI's ``{"detail": ...}``; every error body is ``{"error": ...}``."""
    response = httpx.get(f"{server.url}/v2/nothing-here")
    assert response.status_code == 404 and response.json() == {"error": "Not Found"}
    response = httpx.delete(f"{server.url}/v2/health/live")
    assert response.status_code == 405 and response.headers["allow"] == "GET", response.headers
    assert response.json() == {"error": "Method Not Allowed"}
    # An unparseable JSON body on a route the fast path leaves to kserve (a versioned one).
    response = httpx.post(
        f"{server.url}/v2/models/nope/versions/1/infer", content=b"\x0c}~", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and set(response.json()) == {"error"}, response.text


def test_the_served_model_cannot_be_unloaded(server):
    """kserve's repository extension unloaded it on one POST: every prediction then 404, the server still ready."""
    repository = f"{server.url}/v2/repository/models"
    response = httpx.post(f"{repository}/penguins/unload")
    assert response.status_code == 400, response.text
    assert "unloading it is not supported" in response.json()["error"]
    assert httpx.post(f"{server.url}/v1/models/penguins:predict", json={"instances": [ROW]}).status_code == 200
    assert httpx.post(f"{repository}/penguins/load").json() == {"name": "penguins", "load": True}
    for action in ("load", "unload"):
        response = httpx.post(f"{repository}/nope/{action}")
        assert response.status_code == 404, (action, response.text)  # kserve's load answered 503
        assert "nope" in response.json()["error"]


def test_metrics(server, mlflow_registry):
    httpx.post(f"{server.url}/v1/models/penguins:predict", json={"instances": [ROW, ROW]}).raise_for_status()
    httpx.post(f"{server.url}/v1/models/nope:predict", json={"instances": [ROW]})
    # A bad row of its own: the error counter must not depend on another test having sent one first.
    bad = httpx.post(f"{server.url}/v1/models/penguins:predict", json={"instances": [{**ROW, "island": "Mars"}]})
    assert bad.status_code == 400, bad.text
    text = httpx.get(f"{server.url}/metrics").text
    version = mlflow_registry.penguins_version
    assert f'modelship_predictions_total{{model="penguins",protocol="v1",version="{version}"}}' in text
    assert f'modelship_instances_total{{model="penguins",version="{version}"}}' in text
    assert 'reason="features"' in text
    assert 'reason="model_not_found"' in text
    assert 'modelship_model_info{model="penguins",platform="onnxruntime",task="tabular"' in text
    assert 'request_predict_seconds_count{model_name="penguins"}' in text


PARITY_REQUESTS = [
    ("/v1/models/penguins:predict", {"instances": [ROW, {**ROW, "island": "Biscoe", "body_mass_g": 5200}]}),
    ("/v1/models/penguins:predict", {"instances": [{**ROW, "island": "Mars"}]}),
    ("/v1/models/penguins:predict", {"rows": []}),
    ("/v1/models/nope:predict", {"instances": [ROW]}),
    ("/v2/models/penguins/infer", {"id": "p-1", "inputs": [{"name": "x", "shape": [2, 9], "datatype": "FP32",
                                                           "data": [45.2, 14.8, 212, 5200, 1, 0, 0, 1, 0] * 2}]}),
    ("/v2/models/penguins/infer", {"id": "p-2", "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32",
                                                           "data": [1, 2, 3]}]}),
    ("/v2/models/penguins/infer", {"id": "p-3", "inputs": [{"name": "x", "shape": [1, 9], "datatype": "INT64",
                                                           "data": [45, 14, 212, 5200, 1, 0, 0, 1, 0]}]}),
    ("/v2/models/penguins/infer", {"inputs": [{"name": "x"}]}),
    ("/v2/models/penguins/infer", [1, 2]),
    ("/v2/models/nope/infer", {"id": "p-4", "inputs": []}),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body"), PARITY_REQUESTS, ids=range(len(PARITY_REQUESTS)))
def test_fast_path_answers_exactly_like_kserves_app(servers, path, body):
    fast = httpx.post(f"{servers['fast path'].url}{path}", json=body)
    slow = httpx.post(f"{servers['kserve app'].url}{path}", json=body)
    assert fast.status_code == slow.status_code
    assert fast.headers["content-type"] == slow.headers["content-type"]
    if "error" in slow.json():
        assert fast.json() == slow.json()
    else:
        assert fast.content == slow.content  # byte for byte, key order and nulls included


@pytest.mark.parametrize("path", ["/v1/models/penguins:predict", "/v2/models/penguins/infer"])
def test_a_body_that_is_not_json_is_400_on_both_paths(servers, path):
    answers = [
        httpx.post(f"{s.url}{path}", content=b'{"inputs": [}', headers={"content-type": "application/json"})
        for s in servers.values()
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()


def test_requests_the_fast_path_does_not_answer_reach_kserve(servers):
    url = servers["fast path"].url
    # A binary-mode CloudEvent: kserve decodes it and answers with CloudEvent headers.
    event_headers = {
        "ce-specversion": "1.0", "ce-source": "test", "ce-type": "io.modelship.test", "ce-id": "e-1",
        "content-type": "application/json",
    }  # fmt: skip
    response = httpx.post(f"{url}/v1/models/penguins:predict", json={"instances": [ROW]}, headers=event_headers)
    assert response.status_code == 200, response.text
    assert response.headers["ce-specversion"] == "1.0"
    assert response.json()["predictions"][0]["class_name"] == "Adelie"
    # A non-JSON content type: kserve hands the raw body to the model, which refuses it.
    response = httpx.post(
        f"{url}/v1/models/penguins:predict", content=b"island=Dream", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 400
    assert "expected a JSON object" in response.json()["error"]
    # Other methods on the inference routes are kserve's too; on the V1 verb a 405 that says POST (kserve's app
    # matched its model-readiness route there, for a model named "penguins:predict").
    assert httpx.get(f"{url}/v2/models/penguins/infer").status_code == 405
    for method in ("GET", "OPTIONS", "PUT"):
        response = httpx.request(method, f"{url}/v1/models/penguins:predict")
        assert (response.status_code, response.headers.get("allow")) == (405, "POST"), (method, response.text)
        assert "use POST" in response.json()["error"]


def test_no_per_request_log_lines(server):
    for _ in range(5):
        httpx.post(f"{server.url}/v1/models/penguins:predict", json={"instances": [ROW]}).raise_for_status()
    log = server.log_path.read_text(errors="replace")
    assert "POST /v1/models/penguins:predict" not in log
    assert "predict_ms" not in log
    assert "model penguins ready" in log


def test_logs_are_json_lines_with_the_model_and_version(servers) -> None:
    """One JSON object per line (kserve's and uvicorn's lines and Python warnings too), the served model and
    version on every line after the model is loaded."""
    for server in servers.values():
        httpx.post(f"{server.url}/v1/models/penguins:predict", json={"instances": [ROW]}, timeout=30)
        records = [json.loads(line) for line in server.log_path.read_text().splitlines() if line.strip()]
        assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
        loggers = {r["logger"] for r in records}
        assert {"kserve", "uvicorn.error", "modelship_serving.model"} <= loggers, loggers
        ready = next(i for i, r in enumerate(records) if r["message"].startswith("model penguins ready"))
        after = records[ready + 1 :]
        assert after and all(r.get("model") == "penguins" and r.get("version") for r in after), after[:3]


_BINARY_ROWS = struct.pack("<18f", *([45.2, 14.8, 212, 5200, 1, 0, 0, 1, 0] * 2))
BINARY_PARITY_REQUESTS = [
    # (JSON header, binary tail, Inference-Header-Content-Length or None for the header's own length)
    ({"id": "b-1", "inputs": [{"name": "x", "shape": [2, 9], "datatype": "FP32",
                               "parameters": {"binary_data_size": 72}}]}, _BINARY_ROWS, None),
    ({"id": "b-2", "inputs": [{"name": "x", "shape": [2, 9], "datatype": "FP32",
                               "parameters": {"binary_data_size": 72}}],
      "outputs": [{"name": "class_id", "parameters": {"binary_data": True}}]}, _BINARY_ROWS, None),
    ({"inputs": [{"name": "x", "shape": [2, 9], "datatype": "FP32",
                  "parameters": {"binary_data_size": 72}}]}, _BINARY_ROWS, 10_000),
    ({"inputs": [{"name": "x", "shape": [3, 9], "datatype": "FP32",
                  "parameters": {"binary_data_size": 72}}]}, _BINARY_ROWS, None),
    ({"inputs": [{"name": "x", "shape": [2, 9], "datatype": "FP128",
                  "parameters": {"binary_data_size": 72}}]}, _BINARY_ROWS, None),
]  # fmt: skip


@pytest.mark.parametrize(("header", "tail", "length"), BINARY_PARITY_REQUESTS, ids=range(len(BINARY_PARITY_REQUESTS)))
def test_binary_requests_are_answered_alike_on_both_paths(servers, header, tail, length):
    head = json.dumps(header).encode()
    headers = {"inference-header-content-length": str(len(head) if length is None else length)}
    answers = [
        httpx.post(f"{s.url}/v2/models/penguins/infer", content=head + tail, headers=headers) for s in servers.values()
    ]
    assert answers[0].status_code == answers[1].status_code
    assert answers[0].status_code in (200, 400), answers[0].text
    assert answers[0].headers.get("inference-header-content-length") == answers[1].headers.get(
        "inference-header-content-length"
    )
    assert answers[0].content == answers[1].content
