"""penguins through the Model in-process: V1 and V2 handlers, ONNX vs native, every kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest
from kserve.errors import InvalidInput

from modelship_common.schemas import penguins
from services.serving.tests.serving_helpers import call, v2_body, v2_outputs

# A real MLflow server with the penguins model logged into it.
pytestmark = pytest.mark.integration

GENTOO = dict(penguins.EXAMPLE_ROW)  # a female Gentoo: Biscoe, 45.2 x 14.8 mm, 212 mm, 5,200 g


def test_load_pins_the_alias_and_serves_onnx(penguins_onnx, mlflow_registry):
    assert penguins_onnx.version == mlflow_registry.penguins_version
    assert penguins_onnx.predictor.platform == "onnxruntime"
    assert penguins_onnx.predictor.classes == penguins.CLASSES
    assert penguins_onnx.load() is True  # loading twice is a no-op


def test_v1_dict_rows(penguins_onnx, mlflow_registry):
    response = call(penguins_onnx, {"instances": [GENTOO]})
    assert response["model_name"] == "penguins"
    assert response["model_version"] == mlflow_registry.penguins_version
    [prediction] = response["predictions"]
    assert prediction["class_name"] == "Gentoo"
    assert prediction["class_id"] == 2
    assert set(prediction["probabilities"]) == set(penguins.CLASSES)
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert max(prediction["probabilities"], key=prediction["probabilities"].get) == "Gentoo"


def test_v1_raw_and_encoded_lists_agree_with_dicts(penguins_onnx, penguins_data):
    rows = penguins_data.raw[:20]
    by_dict = call(penguins_onnx, {"instances": rows})["predictions"]
    by_raw_list = call(penguins_onnx, {"instances": [[r[k] for k in penguins.RAW_FEATURES] for r in rows]})
    by_encoded = call(penguins_onnx, {"instances": penguins_data.features[:20].tolist()})
    assert by_raw_list["predictions"] == by_dict
    assert by_encoded["predictions"] == by_dict


def test_v2_matches_v1(penguins_onnx, penguins_data, mlflow_registry):
    x = penguins_data.features[:25]
    response = call(penguins_onnx, v2_body(x))
    assert response["model_name"] == "penguins"
    assert response["model_version"] == mlflow_registry.penguins_version
    out = v2_outputs(response)
    assert out["class_id"]["datatype"] == "INT64" and out["class_id"]["shape"] == [25]
    assert out["class_name"]["datatype"] == "BYTES" and out["class_name"]["shape"] == [25]
    assert out["probabilities"]["datatype"] == "FP32" and out["probabilities"]["shape"] == [25, 3]
    v1 = call(penguins_onnx, {"instances": x.tolist()})["predictions"]
    assert out["class_id"]["data"] == [p["class_id"] for p in v1]
    assert out["class_name"]["data"] == [p["class_name"] for p in v1]
    proba = np.asarray(out["probabilities"]["data"]).reshape(25, 3)
    expected = np.asarray([[p["probabilities"][c] for c in penguins.CLASSES] for p in v1])
    np.testing.assert_allclose(proba, expected, atol=1e-7)


def test_v2_fp64_and_nested_data(penguins_onnx, penguins_data):
    x = penguins_data.features[:3].astype(np.float64)
    body = v2_body(x, datatype="FP64")
    body["inputs"][0]["data"] = x.tolist()  # nested rows are fine too
    out = v2_outputs(call(penguins_onnx, body))
    assert out["class_id"]["shape"] == [3]


def test_onnx_and_native_agree(penguins_onnx, penguins_native, penguins_data):
    assert penguins_native.predictor.platform == "mlflow_sklearn"
    assert penguins_native.version == penguins_onnx.version
    x = penguins_data.features
    onnx = v2_outputs(call(penguins_onnx, v2_body(x)))
    native = v2_outputs(call(penguins_native, v2_body(x)))
    assert onnx["class_id"]["data"] == native["class_id"]["data"]
    diff = np.abs(np.asarray(onnx["probabilities"]["data"]) - np.asarray(native["probabilities"]["data"]))
    assert diff.max() <= 1e-5
    # Accuracy on the held-out rows only: the model never saw them (on its training rows it would prove little).
    test = penguins_data.test
    accuracy = np.mean(np.asarray(onnx["class_id"]["data"])[test] == penguins_data.labels[test])
    assert len(test) >= 80 and accuracy >= 0.95, accuracy


def _with(**changes):
    row = dict(GENTOO)
    for key, value in changes.items():
        if value is None:
            row.pop(key)
        else:
            row[key] = value
    return row


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"instances": [_with(sex=None)]}, "missing sex"),
        ({"instances": [_with(beak_colour="red")]}, "unknown beak_colour"),
        ({"instances": [_with(bill_length_mm=500)]}, "bill_length_mm=500 is outside the valid range 10-100"),
        ({"instances": [_with(body_mass_g=-1)]}, "body_mass_g=-1 is outside the valid range"),
        ({"instances": [_with(island="Atlantis")]}, "island='Atlantis' is not one of Biscoe, Dream, Torgersen"),
        ({"instances": [_with(sex="unknown")]}, "sex='unknown' is not one of female, male"),
        ({"instances": [_with(flipper_length_mm="long")]}, "flipper_length_mm must be a number"),
        ({"instances": [GENTOO, [1.0, 2.0, 3.0]]}, "row 1: expected 6 raw values"),
        ({"instances": [[40.0, 18.0, 190.0, 3800.0, 1.0, 1.0, 0.0, 1.0, 0.0]]}, "one-hot columns"),
        ({"instances": ["Biscoe"]}, "expected an object or a list"),
        ({"instances": []}, "no rows"),
        ({"instances": {"island": "Biscoe"}}, '"instances" must be a list'),
        ({"rows": [GENTOO]}, '{"instances": [...]}'),
        ([GENTOO], '{"instances": [...]}'),
    ],
)
def test_v1_bad_input(penguins_onnx, body, message):
    with pytest.raises(InvalidInput) as info:
        call(penguins_onnx, body)
    assert message in str(info.value)


def _encoded(n: int = 1) -> np.ndarray:
    return np.asarray([[45.2, 14.8, 212.0, 5200.0, 1.0, 0.0, 0.0, 1.0, 0.0]] * n, dtype=np.float32)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (v2_body(_encoded()[:, :8]), "expected shape [n, 9]"),
        (v2_body(_encoded().reshape(9)), "expected shape [n, 9]"),
        (v2_body(_encoded().astype(np.int32), datatype="INT32"), "unsupported datatype INT32"),
        (v2_body(np.asarray(["a"] * 9).reshape(1, 9), datatype="BYTES"), "tabular input datatype must be FP32"),
        (
            {"inputs": [{"name": "x", "shape": [2, 9], "datatype": "FP32", "data": _encoded().ravel().tolist()}]},
            "does not match datatype FP32 and shape [2, 9]",
        ),
        ({"inputs": [v2_body(_encoded())["inputs"][0]] * 2}, "exactly one input tensor"),
        ({"inputs": []}, "exactly one input tensor"),
        (v2_body(np.where(np.arange(9) == 0, 500.0, _encoded()).astype(np.float32)), "outside the valid range"),
        (v2_body(np.full((1, 9), np.nan, dtype=np.float32)), "outside the valid range"),
        # numpy's reshape takes any negative dimension for "whatever fits"; the protocol's shapes are not negative.
        (
            {"inputs": [{"name": "x", "shape": [-7, 9], "datatype": "FP32", "data": _encoded().ravel().tolist()}]},
            "shape must be a list of non-negative integers, got [-7, 9]",
        ),
    ],
)
def test_v2_bad_input(penguins_onnx, body, message):
    with pytest.raises(InvalidInput) as info:
        call(penguins_onnx, body)
    assert message in str(info.value)


def test_errors_and_predictions_are_counted(penguins_onnx, mlflow_registry):
    metrics = penguins_onnx.metrics
    version = mlflow_registry.penguins_version
    before_ok = metrics.predictions.labels("penguins", version, "v1")._value.get()
    before_rows = metrics.instances.labels("penguins", version)._value.get()
    before_err = metrics.errors.labels("penguins", version, "features")._value.get()
    call(penguins_onnx, {"instances": [GENTOO, GENTOO]})
    with pytest.raises(InvalidInput):
        call(penguins_onnx, {"instances": [_with(island="Atlantis")]})
    assert metrics.predictions.labels("penguins", version, "v1")._value.get() == before_ok + 1
    assert metrics.instances.labels("penguins", version)._value.get() == before_rows + 2
    assert metrics.errors.labels("penguins", version, "features")._value.get() == before_err + 1


def test_metadata_types(penguins_onnx):
    assert penguins_onnx.get_input_types() == [{"name": "features", "datatype": "FP32", "shape": [-1, 9]}]
    names = [t["name"] for t in penguins_onnx.get_output_types()]
    assert names == ["class_id", "class_name", "probabilities"]


def _kserve_counts() -> list[float]:
    from prometheus_client import REGISTRY

    names = ("request_preprocess_seconds_count", "request_predict_seconds_count", "request_postprocess_seconds_count")
    return [REGISTRY.get_sample_value(name, {"model_name": "penguins"}) or 0.0 for name in names]


@pytest.mark.parametrize(
    "body", [{"instances": [GENTOO] * 5}, v2_body(_encoded(5)), {"instances": [_with(island="Atlantis")]}]
)
def test_call_answers_and_observes_kserve_histograms_as_kserve_does(penguins_onnx, body):
    """MlflowModel.__call__ (kserve's steps, histograms labelled once) against kserve's own Model.__call__."""
    import asyncio

    from kserve.model import Model
    from kserve.protocol.infer_type import InferRequest
    from kserve.protocol.rest.v2_datamodels import InferenceRequest

    def run(call):
        payload = body
        if "inputs" in body:
            payload = InferRequest.from_inference_request(InferenceRequest.model_validate(body), "penguins")
        before = _kserve_counts()
        try:
            response, headers = asyncio.run(call(payload, headers={}))
            outcome = (response.to_rest()[0] if "inputs" in body else response, headers)
        except InvalidInput as exc:
            outcome = str(exc)
        return outcome, [after - b for after, b in zip(_kserve_counts(), before, strict=True)]

    ours, ours_counted = run(penguins_onnx)
    theirs, theirs_counted = run(lambda payload, headers: Model.__call__(penguins_onnx, payload, headers))
    if isinstance(ours, tuple):  # response ids differ (a fresh one per V2 response)
        for outcome in (ours, theirs):
            if isinstance(outcome[0], dict):
                outcome[0].pop("id", None)
    assert ours == theirs
    assert ours_counted == theirs_counted == ([1.0, 1.0, 0.0] if isinstance(ours, str) else [1.0, 1.0, 1.0])
