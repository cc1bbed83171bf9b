"""Open Inference Protocol conformance: a standard V2 client (tritonclient, HTTP and gRPC) against real servers.

Two ``python -m modelship_serving`` processes (penguins, tabular FP32; digits-fast, image BYTES), each with REST
and gRPC. Every input kind a client may send: JSON tensors and the binary tensor extension, 1 and 32 rows, binary
outputs requested or not; gRPC ModelInfer, metadata and health. A malformed binary request is a 4xx that says
what is wrong (the server's JSON error body), never a 5xx.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelship_common.schemas import digits
from services.serving.tests.serving_helpers import Server, child_env, start_server, stop

pytestmark = pytest.mark.integration

OUTPUTS = ("class_id", "class_name", "probabilities")


@pytest.fixture(scope="module")
def servers(mlflow_registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Server]]:
    procs: list[subprocess.Popen] = []
    started: dict[str, Server] = {}
    try:
        for model, uri in (
            ("penguins", f"models:/{mlflow_registry.penguins_name}@champion"),
            ("digits-fast", f"models:/{mlflow_registry.digits_name}/{mlflow_registry.digits_version}"),
        ):
            proc, started[model] = start_server(tmp_path_factory.mktemp("oip"), mlflow_registry.uri, model, uri)
            procs.append(proc)
        yield started
    finally:
        for proc in procs:
            stop(proc)


@pytest.fixture(scope="module")
def penguins(servers) -> Server:
    return servers["penguins"]


@pytest.fixture(scope="module")
def digits_server(servers) -> Server:
    return servers["digits-fast"]


def _rows(penguins_data, n: int) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate([penguins_data.features] * 2)[:n], dtype=np.float32)


@pytest.fixture(scope="module")
def pngs() -> list[bytes]:
    from sklearn.datasets import load_digits

    x8, _ = load_digits(return_X_y=True)
    return [digits.encode_png(image) for image in digits.upsample_8x8(x8[300:332])]


def _reference(server: Server, datatype: str, shape: list[int], data: list) -> dict[str, list]:
    """The server's answer to the same tensor as a plain JSON V2 request (no client library)."""
    body = {"inputs": [{"name": "x", "shape": shape, "datatype": datatype, "data": data}]}
    response = httpx.post(f"{server.url}/v2/models/{server.model}/infer", json=body, timeout=60)
    assert response.status_code == 200, response.text
    return {o["name"]: o["data"] for o in response.json()["outputs"]}


def _check(result, reference: dict[str, list], n: int, n_classes: int) -> None:
    class_id = result.as_numpy("class_id")
    class_name = result.as_numpy("class_name")
    probabilities = result.as_numpy("probabilities")
    assert class_id.shape == (n,) and class_id.dtype == np.int64
    assert class_id.tolist() == reference["class_id"]
    names = [v.decode() if isinstance(v, bytes) else v for v in class_name.reshape(-1).tolist()]
    assert names == reference["class_name"]
    assert probabilities.shape == (n, n_classes) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.reshape(-1), reference["probabilities"], atol=1e-6)


# --- HTTP ---------------------------------------------------------------------------------------------------


def _http_infer(server: Server, datatype: str, array: np.ndarray, binary_in: bool, binary_out: bool | None):
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=server.http, network_timeout=60.0)
    try:
        inp = httpclient.InferInput("input-0", list(array.shape), datatype)
        inp.set_data_from_numpy(array, binary_data=binary_in)
        outputs = None  # the client's default: every output, as the server chooses
        if binary_out is not None:
            outputs = [httpclient.InferRequestedOutput(name, binary_data=binary_out) for name in OUTPUTS]
        return client.infer(server.model, [inp], outputs=outputs, request_id="oip-1")
    finally:
        client.close()


BINARY_CASES = [(False, False), (False, True), (True, False), (True, True), (True, None), (False, None)]
CASE_IDS = [f"in-{'bin' if i else 'json'}-out-{'default' if o is None else 'bin' if o else 'json'}" for i, o in
            BINARY_CASES]  # fmt: skip


@pytest.mark.parametrize("rows", [1, 32])
@pytest.mark.parametrize(("binary_in", "binary_out"), BINARY_CASES, ids=CASE_IDS)
def test_http_tabular(penguins, penguins_data, rows, binary_in, binary_out):
    x = _rows(penguins_data, rows)
    reference = _reference(penguins, "FP32", list(x.shape), x.reshape(-1).tolist())
    result = _http_infer(penguins, "FP32", x, binary_in, binary_out)
    _check(result, reference, rows, 3)
    assert result.get_response()["model_name"] == "penguins"
    assert result.get_response()["id"] == "oip-1"


@pytest.mark.parametrize("rows", [1, 32])
@pytest.mark.parametrize(("binary_in", "binary_out"), BINARY_CASES, ids=CASE_IDS)
def test_http_image_bytes(digits_server, pngs, rows, binary_in, binary_out):
    b64 = [base64.b64encode(p).decode() for p in pngs[:rows]]
    reference = _reference(digits_server, "BYTES", [rows], b64)
    # JSON carries base64 text; the binary extension carries the images themselves (tritonclient's default).
    values = np.asarray(pngs[:rows] if binary_in else b64, dtype=np.object_)
    result = _http_infer(digits_server, "BYTES", values, binary_in, binary_out)
    _check(result, reference, rows, len(digits.CLASSES))


def test_http_binary_base64_text_is_still_an_image(digits_server, pngs):
    b64 = [base64.b64encode(p) for p in pngs[:3]]
    reference = _reference(digits_server, "BYTES", [3], [v.decode() for v in b64])
    result = _http_infer(digits_server, "BYTES", np.asarray(b64, dtype=np.object_), True, True)
    _check(result, reference, 3, len(digits.CLASSES))


def test_http_health_and_metadata(penguins, digits_server, mlflow_registry):
    import tritonclient.http as httpclient

    for server, datatype, version in (
        (penguins, "FP32", mlflow_registry.penguins_version),
        (digits_server, "BYTES", mlflow_registry.digits_version),
    ):
        client = httpclient.InferenceServerClient(url=server.http)
        try:
            assert client.is_server_live()
            assert client.is_server_ready()
            assert client.is_model_ready(server.model)
            meta = client.get_model_metadata(server.model)
            assert meta["name"] == server.model
            assert meta["versions"] == [version]
            assert meta["inputs"][0]["datatype"] == datatype
            assert [o["name"] for o in meta["outputs"]] == list(OUTPUTS)
        finally:
            client.close()


# --- malformed binary requests: 4xx with a message ----------------------------------------------------------


def _binary_post(server: Server, header: dict | bytes, tail: bytes, json_length: int | str | None = None):
    head = header if isinstance(header, bytes) else json.dumps(header).encode()
    length = len(head) if json_length is None else json_length
    return httpx.post(
        f"{server.url}/v2/models/{server.model}/infer",
        content=head + tail,
        headers={"Inference-Header-Content-Length": str(length), "content-type": "application/octet-stream"},
        timeout=60,
    )


def _tensor(datatype: str, shape: list[int], size: int, name: str = "x") -> dict:
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "parameters": {"binary_data_size": size}}]}


def _bytes_tensor(values: list[bytes]) -> bytes:
    return b"".join(len(v).to_bytes(4, "little") + v for v in values)


ROW = np.asarray([[45.2, 14.8, 212, 5200, 1, 0, 0, 1, 0]], dtype=np.float32).tobytes()

MALFORMED_TABULAR = [
    ("header length past the body", _tensor("FP32", [1, 9], 36), ROW, 10_000,
     "inference-header-content-length is 10000"),
    ("header length not a number", _tensor("FP32", [1, 9], 36), ROW, "ten", "must be an integer"),
    ("header length zero", _tensor("FP32", [1, 9], 36), ROW, 0, "inference-header-content-length is 0"),
    ("header not JSON", b"{not json", ROW, None, "not a JSON object"),
    ("no inputs list", {"inputs": "x"}, b"", None, '"inputs" list'),
    ("unknown datatype", _tensor("FP128", [1, 9], 36), ROW, None, "unknown datatype 'FP128'"),
    ("shape larger than the data", _tensor("FP32", [2, 9], 36), ROW, None, "is 72 bytes but binary_data_size is 36"),
    ("binary_data_size past the body", _tensor("FP32", [2, 9], 72), ROW, None, "only 36 bytes of the body are left"),
    ("bytes after the tensors", _tensor("FP32", [1, 9], 36), ROW + b"xx", None, "2 bytes after"),
    ("no data and no size", {"inputs": [{"name": "x", "shape": [1, 9], "datatype": "FP32"}]}, ROW, None,
     'no "data" and no integer "binary_data_size"'),
    ("negative dimension", _tensor("FP32", [-1, 9], 36), ROW, None, "non-negative integers"),
    ("wrong shape for the model", _tensor("FP32", [9, 1], 36), ROW, None,
     "expected shape [n, 9]"),
    ("a datatype the model does not take", _tensor("INT32", [1, 9], 36), ROW, None, "unsupported datatype INT32"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("header", "tail", "json_length", "message"),
    [c[1:] for c in MALFORMED_TABULAR],
    ids=[c[0] for c in MALFORMED_TABULAR],
)
def test_malformed_binary_request_is_400_with_a_message(penguins, header, tail, json_length, message):
    response = _binary_post(penguins, header, tail, json_length)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"]


def test_malformed_binary_images_are_400_with_a_message(digits_server, pngs):
    cases = [
        (_bytes_tensor(pngs[:2]), [3], "shape [3] holds 3 elements but the binary data has 2"),
        (_bytes_tensor(pngs[:1])[:-5], [1], "past the end of its binary data"),
        (b"\x01\x00", [1], "ends inside an element's 4-byte length"),
        (_bytes_tensor([b"\x89PNG\r\n\x1a\nnot really"]), [1], "cannot decode image"),
        (_bytes_tensor([b"\x00\xff\xfe binary junk"]), [1], "expected PNG/JPEG/GIF bytes or their base64 text"),
        (_bytes_tensor([b"bm90IGFuIGltYWdl"]), [1], "cannot decode image"),
        (_bytes_tensor(pngs[:2]), [2, 1], "BYTES image input must have shape [n]"),
    ]
    for tail, shape, message in cases:
        response = _binary_post(digits_server, _tensor("BYTES", shape, len(tail), "images"), tail)
        assert response.status_code == 400, (message, response.text)
        assert message in response.json()["error"], message


# --- gRPC ---------------------------------------------------------------------------------------------------
# tritonclient.grpc cannot share a process with kserve (both register the ``inference.*`` protos): it runs in a
# child process, oip_grpc_client.py.

GRPC_CLIENT = Path(__file__).with_name("oip_grpc_client.py")


class GrpcResult:
    """What the child process answered, with tritonclient's ``as_numpy`` to read it."""

    def __init__(self, answer: dict) -> None:
        self.answer = answer

    def as_numpy(self, name: str) -> np.ndarray:
        output = self.answer["outputs"][name]
        dtype = np.object_ if output["dtype"] == "object" else np.dtype(output["dtype"])
        return np.asarray(output["data"], dtype=dtype).reshape(output["shape"])


def _grpc(request: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, str(GRPC_CLIENT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def _grpc_infer(server: Server, datatype: str, data: list, shape: list[int], outputs: bool) -> dict:
    return _grpc(
        {"op": "infer", "url": server.grpc, "model": server.model, "datatype": datatype, "shape": shape,
         "data": data, "outputs": outputs}
    )  # fmt: skip


def _b64(values: list[bytes]) -> list[str]:
    return [base64.b64encode(v).decode() for v in values]


@pytest.mark.parametrize("outputs", [False, True], ids=["all-outputs", "requested-outputs"])
@pytest.mark.parametrize("rows", [1, 32])
def test_grpc_tabular(penguins, penguins_data, rows, outputs):
    x = _rows(penguins_data, rows)
    reference = _reference(penguins, "FP32", list(x.shape), x.reshape(-1).tolist())
    answer = _grpc_infer(penguins, "FP32", x.reshape(-1).tolist(), list(x.shape), outputs)
    assert "error" not in answer, answer
    _check(GrpcResult(answer), reference, rows, 3)
    assert (answer["model_name"], answer["id"]) == ("penguins", "oip-grpc")


@pytest.mark.parametrize("outputs", [False, True], ids=["all-outputs", "requested-outputs"])
@pytest.mark.parametrize("rows", [1, 32])
def test_grpc_image_bytes(digits_server, pngs, rows, outputs):
    reference = _reference(digits_server, "BYTES", [rows], _b64(pngs[:rows]))
    answer = _grpc_infer(digits_server, "BYTES", _b64(pngs[:rows]), [rows], outputs)  # sent as the PNGs' bytes
    assert "error" not in answer, answer
    _check(GrpcResult(answer), reference, rows, len(digits.CLASSES))


def test_grpc_health_and_metadata(penguins, digits_server, mlflow_registry):
    for server, datatype, version in (
        (penguins, "FP32", mlflow_registry.penguins_version),
        (digits_server, "BYTES", mlflow_registry.digits_version),
    ):
        answer = _grpc({"op": "health", "url": server.grpc, "model": server.model})
        assert (answer["live"], answer["ready"], answer["model_ready"]) == (True, True, True), answer
        meta = answer["metadata"]
        assert meta["name"] == server.model
        assert meta["versions"] == [version]
        assert meta["inputs"][0]["datatype"] == datatype
        assert [o["name"] for o in meta["outputs"]] == list(OUTPUTS)


def test_grpc_bad_input_is_invalid_argument(penguins, digits_server):
    cases = [
        (penguins, "FP32", [0.0] * 3, [1, 3], "expected shape [n, 9]"),
        (penguins, "INT32", [0] * 9, [1, 9], "unsupported datatype INT32"),
        (digits_server, "BYTES", _b64([b"\x89PNG\r\n\x1a\nnope"]), [1], "cannot decode image"),
        (digits_server, "BYTES", _b64([b"\x00\xff junk"]), [1], "expected PNG/JPEG/GIF bytes or their base64 text"),
    ]
    for server, datatype, data, shape, message in cases:
        answer = _grpc_infer(server, datatype, data, shape, outputs=False)
        assert answer.get("error", {}).get("status") == "StatusCode.INVALID_ARGUMENT", answer
        assert message in answer["error"]["message"]
