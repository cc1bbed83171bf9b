"""train -> register -> alias -> serve -> predict: real model servers must answer exactly what the model says.

The session trained the models into the real MLflow server; real ``python -m modelship_serving`` processes serve
``models:/<name>@champion``. Their V1 and V2 answers on the held-out rows/images are compared with the native
model loaded in this process from the same registry version (class ids equal, probabilities within 1e-5).
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np
import pytest

from devtools.datasets import raw_row
from modelship_common import registry
from modelship_common.schemas import digits, penguins

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOL = 1e-5
DIGITS_MODELS = ("digits-fast", "digits-balanced", "digits-accurate")


def post(url: str, body: Any) -> dict[str, Any]:
    resp = httpx.post(url, json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def v1_arrays(body: dict[str, Any], classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    preds = body["predictions"]
    ids = np.asarray([p["class_id"] for p in preds])
    assert [p["class_name"] for p in preds] == [classes[i] for i in ids]
    proba = np.asarray([[p["probabilities"][c] for c in classes] for p in preds], dtype=np.float64)
    return ids, proba


def v2_arrays(body: dict[str, Any], n: int, classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["class_id"]["datatype"] == "INT64" and outputs["class_id"]["shape"] == [n]
    assert outputs["probabilities"]["datatype"] == "FP32"
    assert outputs["probabilities"]["shape"] == [n, len(classes)]
    ids = np.asarray(outputs["class_id"]["data"])
    assert list(outputs["class_name"]["data"]) == [classes[i] for i in ids]
    return ids, np.asarray(outputs["probabilities"]["data"], dtype=np.float64).reshape(n, len(classes))


def assert_same(ids: np.ndarray, proba: np.ndarray, native_proba: np.ndarray) -> None:
    np.testing.assert_array_equal(ids, native_proba.argmax(axis=1))
    np.testing.assert_allclose(proba, native_proba, atol=TOL, rtol=0)


def test_penguins_champion_v1_and_v2_equal_the_native_model(trained, model_servers, penguins_test):
    import mlflow

    x_test, y_test = penguins_test
    champion = registry.resolve_alias(trained.client, "penguins", registry.CHAMPION)
    native = mlflow.sklearn.load_model(champion.uri)
    native_proba = native.predict_proba(x_test)
    np.testing.assert_array_equal(native.predict(x_test), native_proba.argmax(axis=1))
    assert np.mean(native.predict(x_test) == y_test) == pytest.approx(champion.metrics["test_accuracy"])

    url = model_servers["penguins"].url
    n = len(x_test)
    # V1: raw dicts (the user-facing form), raw lists (island first) and encoded lists all give the same answer.
    dict_rows = [raw_row(r) for r in x_test]
    v1 = post(f"{url}/v1/models/penguins:predict", {"instances": dict_rows})
    assert v1["model_name"] == "penguins" and v1["model_version"] == champion.version
    ids, proba = v1_arrays(v1, penguins.CLASSES)
    assert_same(ids, proba, native_proba)
    raw_lists = [[row[k] for k in penguins.RAW_FEATURES] for row in dict_rows]
    for instances in (raw_lists, x_test.tolist()):
        again = v1_arrays(post(f"{url}/v1/models/penguins:predict", {"instances": instances}), penguins.CLASSES)
        np.testing.assert_array_equal(again[0], ids)
        np.testing.assert_allclose(again[1], proba, atol=1e-7, rtol=0)

    # V2: FP32 [n, 9].
    body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": [n, penguins.N_FEATURES],
                "datatype": "FP32",
                "data": x_test.reshape(-1).tolist(),
            }
        ]
    }
    v2 = post(f"{url}/v2/models/penguins/infer", body)
    assert v2["model_name"] == "penguins" and v2["model_version"] == champion.version
    assert_same(*v2_arrays(v2, n, penguins.CLASSES), native_proba)

    meta = httpx.get(f"{url}/v2/models/penguins", timeout=10).json()
    assert meta["versions"] == [champion.version]


@pytest.mark.parametrize("name", DIGITS_MODELS)
def test_digits_champions_v1_and_v2_equal_the_native_model(trained, model_servers, digits_test, name):
    import mlflow

    x_test, y_test = digits_test
    champion = registry.resolve_alias(trained.client, name, registry.CHAMPION)
    native = mlflow.tensorflow.load_model(champion.uri)
    native_proba = np.asarray(native.predict(x_test, verbose=0), dtype=np.float64)
    assert np.mean(native_proba.argmax(axis=1) == y_test) == pytest.approx(champion.metrics["test_accuracy"], abs=1e-9)
    url = model_servers[name].url
    n = len(x_test)

    # V2 FP32 [n, 28, 28, 1]: the exact test images.
    body = {
        "inputs": [{"name": "image", "shape": [n, 28, 28, 1], "datatype": "FP32", "data": x_test.reshape(-1).tolist()}]
    }
    v2 = post(f"{url}/v2/models/{name}/infer", body)
    assert v2["model_version"] == champion.version
    assert_same(*v2_arrays(v2, n, digits.CLASSES), native_proba)

    # Images as PNG (8-bit, so compare with the native model on the decoded PNGs): V1 b64 and V2 BYTES.
    subset = x_test[:40]
    pngs = [digits.encode_png(img) for img in subset]
    decoded = np.stack([digits.decode_image(p, 1 << 20) for p in pngs])
    native_png = np.asarray(native.predict(decoded, verbose=0), dtype=np.float64)
    b64 = [base64.b64encode(p).decode() for p in pngs]
    v1 = post(f"{url}/v1/models/{name}:predict", {"instances": [{"b64": s} for s in b64]})
    assert v1["model_version"] == champion.version
    assert_same(*v1_arrays(v1, digits.CLASSES), native_png)
    v1_nested = post(f"{url}/v1/models/{name}:predict", {"instances": [{"image_bytes": {"b64": s}} for s in b64]})
    assert [p["class_id"] for p in v1_nested["predictions"]] == [p["class_id"] for p in v1["predictions"]]
    v2_bytes = post(
        f"{url}/v2/models/{name}/infer",
        {"inputs": [{"name": "image", "shape": [len(b64)], "datatype": "BYTES", "data": b64}]},
    )
    assert_same(*v2_arrays(v2_bytes, len(b64), digits.CLASSES), native_png)


def test_model_servers_expose_prometheus_metrics(model_servers):
    text = httpx.get(f"{model_servers['penguins'].url}/metrics", timeout=10).text
    assert "modelship_" in text
    assert "request_predict_seconds" in text or "request_" in text
