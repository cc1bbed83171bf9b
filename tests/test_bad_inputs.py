"""Every bad input gets its 4xx and a JSON message: over HTTP against the real model servers and the gateway."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import numpy as np
import pytest

from modelship_common.schemas import digits, penguins

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GOOD_ROW: dict[str, Any] = dict(penguins.EXAMPLE_ROW)  # a female Gentoo: Biscoe, 45.2 x 14.8 mm, 212 mm, 5,200 g
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # both servers' default limit


def row(**changes: Any) -> dict[str, Any]:
    out = {**GOOD_ROW, **changes}
    return {k: v for k, v in out.items() if v is not None}


def without(name: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD_ROW.items() if k != name}


def renamed(old: str, new: str) -> dict[str, Any]:
    out = without(old)
    out[new] = GOOD_ROW[old]
    return out


def outside_edges() -> list[Any]:
    """Just outside each end of every numeric range (the range is inclusive)."""
    cases = []
    for name, (low, high) in penguins.NUMERIC_RANGES.items():
        cases.append(pytest.param(row(**{name: low - 0.01}), name, id=f"{name}-below-{low:g}"))
        cases.append(pytest.param(row(**{name: high + 0.01}), name, id=f"{name}-above-{high:g}"))
    return cases


#: (instances, words the message must contain)
BAD_ROWS = [
    pytest.param([without("sex")], "sex", id="missing-sex"),
    pytest.param([without("bill_depth_mm")], "bill_depth_mm", id="missing-bill_depth"),
    pytest.param([renamed("bill_length_mm", "beak_length_mm")], "beak_length_mm", id="wrong-feature-name"),
    pytest.param([{**GOOD_ROW, "colour": "black"}], "colour", id="extra-feature"),
    pytest.param([row(island="Atlantis")], "island", id="unknown-island"),
    pytest.param([row(sex="unknown")], "sex", id="unknown-sex"),
    pytest.param([row(body_mass_g="heavy")], "body_mass_g", id="not-a-number"),
    pytest.param([["Biscoe", 45.2, 14.8, 212]], "expected", id="short-raw-list"),
    pytest.param([[45.2, 14.8, 212, 5200, 1, 0, 0, 1]], "expected", id="eight-encoded-values"),
    pytest.param([[45.2, 14.8, 212, 5200, 1, 1, 0, 1, 0]], "one-hot", id="two-islands-one-hot"),
    pytest.param([], "instance", id="no-rows"),
    *(
        pytest.param([r], name, id=f"range-{p_id}")
        for r, name, p_id in ((c.values[0], c.values[1], c.id) for c in outside_edges())
    ),
]


def png_of(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def oversized_png() -> bytes:
    """A real (noise) PNG just over the 5 MiB limit."""
    rng = np.random.default_rng(0)
    data = png_of(rng.integers(0, 256, size=(2400, 2400), dtype=np.uint8))
    assert len(data) > MAX_IMAGE_BYTES
    return data


def sample_png() -> bytes:
    from sklearn.datasets import load_digits

    return digits.encode_png(digits.upsample_8x8(load_digits().data[:1])[0])


def assert_error(resp: httpx.Response, status: int, key: str, *words: str) -> str:
    assert resp.status_code == status, f"{resp.status_code} {resp.text[:500]}"
    assert resp.headers["content-type"].startswith("application/json")
    message = resp.json()[key]
    assert isinstance(message, str) and message
    for word in words:
        assert word.lower() in message.lower(), message
    return message


# ------------------------------------------------------------------------------------------ model server


@pytest.mark.parametrize(("instances", "word"), BAD_ROWS)
def test_model_server_rejects_bad_rows_with_400(model_servers, instances, word):
    url = model_servers["penguins"].url
    resp = httpx.post(f"{url}/v1/models/penguins:predict", json={"instances": instances}, timeout=30)
    assert_error(resp, 400, "error", word)


def test_model_server_accepts_the_range_edges_themselves(model_servers):
    url = model_servers["penguins"].url
    lows = row(**{k: lo for k, (lo, _) in penguins.NUMERIC_RANGES.items()})
    highs = row(**{k: hi for k, (_, hi) in penguins.NUMERIC_RANGES.items()})
    resp = httpx.post(f"{url}/v1/models/penguins:predict", json={"instances": [lows, highs]}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["predictions"]) == 2


@pytest.mark.parametrize(
    ("tensor", "word"),
    [
        pytest.param(
            {"shape": [1, 8], "datatype": "FP32", "data": [45.2, 14.8, 212, 5200, 1, 0, 0, 1]},
            "shape",
            id="v2-8-columns",
        ),
        pytest.param(
            {"shape": [9], "datatype": "FP32", "data": [45.2, 14.8, 212, 5200, 1, 0, 0, 1, 0]}, "shape", id="v2-rank-1"
        ),
        pytest.param(
            {"shape": [1, 9], "datatype": "FP32", "data": [45.2, 14.8, 212, 99999, 1, 0, 0, 1, 0]},
            "body_mass_g",
            id="v2-out-of-range",
        ),
        pytest.param(
            {"shape": [2, 9], "datatype": "FP32", "data": [45.2, 14.8, 212, 5200, 1, 0, 0, 1, 0]},
            "",
            id="v2-shape-data-mismatch",
        ),
        pytest.param({"shape": [1, 9], "datatype": "BOOL", "data": [True] * 9}, "datatype", id="v2-bool"),
    ],
)
def test_model_server_rejects_bad_v2_tensors_with_400(model_servers, tensor, word):
    url = model_servers["penguins"].url
    resp = httpx.post(f"{url}/v2/models/penguins/infer", json={"inputs": [{"name": "x", **tensor}]}, timeout=30)
    assert_error(resp, 400, "error", word)


def test_model_server_unknown_model_is_404(model_servers):
    url = model_servers["penguins"].url
    resp = httpx.post(f"{url}/v1/models/no-such-model:predict", json={"instances": [GOOD_ROW]}, timeout=30)
    assert_error(resp, 404, "error", "no-such-model")
    body = {
        "inputs": [{"name": "x", "shape": [1, 9], "datatype": "FP32", "data": [45.2, 14.8, 212, 5200, 1, 0, 0, 1, 0]}]
    }
    resp = httpx.post(f"{url}/v2/models/no-such-model/infer", json=body, timeout=30)
    assert_error(resp, 404, "error", "no-such-model")


def test_model_server_rejects_bad_images_with_400(model_servers, oversized_png):
    url = model_servers["digits-balanced"].url
    predict = f"{url}/v1/models/digits-balanced:predict"

    def v1(instances: list[Any]) -> httpx.Response:
        return httpx.post(predict, json={"instances": instances}, timeout=60)

    assert_error(v1([{"b64": base64.b64encode(b"this is not an image").decode()}]), 400, "error", "decode")
    assert_error(v1([{"b64": "***not base64***"}]), 400, "error", "base64")
    assert_error(v1([{"b64": base64.b64encode(oversized_png).decode()}]), 400, "error", "limit")
    assert_error(v1([np.zeros((27, 28)).tolist()]), 400, "error", "shape")
    assert_error(v1([np.full((28, 28), 2.0).tolist()]), 400, "error", "[0, 1]")
    assert_error(v1([{"url": "http://example.com/7.png"}]), 400, "error", "b64")
    # V2: BYTES that are not an image, a wrongly shaped FP32 tensor.
    bad_bytes = {
        "inputs": [
            {"name": "image", "shape": [1], "datatype": "BYTES", "data": [base64.b64encode(b"GIF89a-broken").decode()]}
        ]
    }
    assert_error(httpx.post(f"{url}/v2/models/digits-balanced/infer", json=bad_bytes, timeout=30), 400, "error")
    rgb = {"inputs": [{"name": "image", "shape": [1, 28, 28, 3], "datatype": "FP32", "data": [0.0] * (28 * 28 * 3)}]}
    assert_error(httpx.post(f"{url}/v2/models/digits-balanced/infer", json=rgb, timeout=30), 400, "error", "shape")
    # A good image right after all that still works.
    ok = v1([{"b64": base64.b64encode(sample_png()).decode()}])
    assert ok.status_code == 200, ok.text


# ------------------------------------------------------------------------------------------------ gateway


@pytest.fixture(scope="module")
def gateway(model_servers, tracking_uri, log_dir, tmp_path_factory):
    from devtools import servers

    db = tmp_path_factory.mktemp("gw-bad") / "predictions.db"
    proc = servers.start_gateway(
        tracking_uri=tracking_uri,
        database_url=f"sqlite:///{db}",
        log_dir=log_dir,
        model_servers={n: str(p.url) for n, p in model_servers.items()},
    )
    yield proc
    proc.stop()


@pytest.mark.parametrize(("instances", "word"), BAD_ROWS)
def test_gateway_rejects_bad_rows_with_422(gateway, instances, word):
    resp = httpx.post(f"{gateway.url}/api/models/penguins/predict", json={"instances": instances}, timeout=30)
    assert_error(resp, 422, "detail", word)


def test_gateway_unknown_model_is_404(gateway):
    resp = httpx.post(f"{gateway.url}/api/models/no-such-model/predict", json={"instances": [GOOD_ROW]}, timeout=30)
    assert_error(resp, 404, "detail", "no-such-model")
    resp = httpx.post(
        f"{gateway.url}/api/models/no-such-model/predict-image",
        files={"file": ("7.png", sample_png(), "image/png")},
        timeout=30,
    )
    assert_error(resp, 404, "detail", "no-such-model")


def test_gateway_rejects_bad_uploads(gateway, oversized_png):
    url = f"{gateway.url}/api/models/digits-balanced/predict-image"
    resp = httpx.post(url, files={"file": ("x.png", b"this is not an image", "image/png")}, timeout=30)
    assert_error(resp, 400, "detail", "decode")
    resp = httpx.post(url, files={"file": ("big.png", oversized_png, "image/png")}, timeout=60)
    assert_error(resp, 413, "detail", "limit")
    resp = httpx.post(url, files={"other": ("7.png", sample_png(), "image/png")}, timeout=30)
    assert_error(resp, 422, "detail")
    resp = httpx.post(url, files={"file": ("empty.png", b"", "image/png")}, timeout=30)
    assert resp.status_code in (400, 422), resp.text
    assert resp.json()["detail"]
    ok = httpx.post(url, files={"file": ("7.png", sample_png(), "image/png")}, timeout=30)
    assert ok.status_code == 200, ok.text


def test_gateway_rejects_malformed_json_and_a_body_without_instances(gateway):
    resp = httpx.post(
        f"{gateway.url}/api/models/penguins/predict",
        content=b"{not json",
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert resp.status_code == 422 and resp.json()["detail"]
    resp = httpx.post(f"{gateway.url}/api/models/penguins/predict", json={"rows": [GOOD_ROW]}, timeout=30)
    assert resp.status_code == 422 and resp.json()["detail"]
