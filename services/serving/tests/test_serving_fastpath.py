"""The pieces of the inference fast path that need no server: V2 JSON encoding and which requests it takes."""

from __future__ import annotations

import asyncio

import numpy as np
import orjson
import pytest
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse, RequestedOutput
from kserve.protocol.rest.v2_datamodels import InferenceRequest, InferenceResponse

from modelship_serving.dataplane import plain_rest
from modelship_serving.fastpath import describe_validation_errors, is_plain_json
from services.serving.tests.serving_helpers import v2_body


def _v2_response(model, body: dict) -> InferResponse:
    request = InferRequest.from_inference_request(InferenceRequest.model_validate(body), model.name)
    response, _headers = asyncio.run(model(request, headers={}))
    assert isinstance(response, InferResponse)
    return response


def _kserve_rest(response: InferResponse) -> dict:
    """What kserve's V2 route sends: ``to_rest`` and then its ``InferenceResponse`` model."""
    rest, json_length = response.to_rest()
    assert json_length is None
    return InferenceResponse.model_validate(rest).model_dump(mode="json")


@pytest.mark.integration
@pytest.mark.parametrize("rows", [1, 32])
def test_plain_rest_is_kserves_encoding_byte_for_byte(penguins_onnx, penguins_data, rows):
    x = np.concatenate([penguins_data.features] * 2)[:rows]
    response = _v2_response(penguins_onnx, v2_body(x))
    ours = plain_rest(response)  # before to_rest, which rewrites the outputs' data in place
    assert ours is not None
    assert orjson.dumps(ours) == orjson.dumps(_kserve_rest(response))


@pytest.mark.integration
def test_plain_rest_of_an_image_model(digits_model):
    images = np.zeros((3, 28, 28, 1), dtype=np.float32)
    response = _v2_response(digits_model, v2_body(images))
    ours = plain_rest(response)
    assert ours is not None
    assert [o["name"] for o in ours["outputs"]] == ["class_id", "class_name", "probabilities"]
    assert orjson.dumps(ours) == orjson.dumps(_kserve_rest(response))


def _response(**kwargs) -> InferResponse:
    outputs = kwargs.pop("outputs", [InferOutput("y", [2], "FP32", data=np.asarray([0.5, 1.5], dtype=np.float32))])
    return InferResponse(response_id="r", model_name="m", infer_outputs=outputs, **kwargs)


def test_plain_rest_leaves_what_it_does_not_handle_to_kserve():
    assert plain_rest(_response()) is not None
    assert plain_rest(_response(use_binary_outputs=True)) is None
    assert plain_rest(_response(requested_outputs=[RequestedOutput("y", {})])) is None
    assert plain_rest(_response(parameters={"p": 1})) is None
    fp16 = InferOutput("y", [2], "FP16", data=np.asarray([0.5, 1.5], dtype=np.float16))
    assert plain_rest(_response(outputs=[fp16])) is None
    mismatched = InferOutput("y", [2], "INT64", data=np.asarray([0.5, 1.5], dtype=np.float32))
    assert plain_rest(_response(outputs=[mismatched])) is None
    wrong_shape = InferOutput("y", [3], "FP32", data=np.asarray([0.5, 1.5], dtype=np.float32))
    assert plain_rest(_response(outputs=[wrong_shape])) is None
    as_list = InferOutput("y", [2], "FP32", data=[0.5, 1.5])
    assert plain_rest(_response(outputs=[as_list])) is None


@pytest.mark.parametrize(
    ("headers", "plain"),
    [
        ([], True),
        ([(b"content-type", b"application/json")], True),
        ([(b"content-type", b"Application/JSON; charset=utf-8"), (b"accept", b"*/*")], True),
        ([(b"content-type", b"text/plain")], False),
        ([(b"content-type", b"application/cloudevents+json")], False),
        ([(b"content-type", b"application/octet-stream")], False),
        ([(b"ce-specversion", b"1.0"), (b"content-type", b"application/json")], False),
        ([(b"inference-header-content-length", b"120")], False),
    ],
)
def test_which_requests_the_fast_path_answers(headers, plain):
    assert is_plain_json(headers) is plain


def test_validation_errors_read_the_same_on_both_paths():
    # What FastAPI reports for kserve's ``InferenceRequest | bytes`` body, and what the fast path reports.
    fastapi_errors = [
        {"loc": ("body", "InferenceRequest", "inputs", 0, "shape"), "msg": "Field required"},
        {"loc": ("body", "bytes"), "msg": "Input should be a valid bytes"},
    ]
    fast_path_errors = [{"loc": ("body", "inputs", 0, "shape"), "msg": "Field required"}]
    expected = "invalid request body: body.inputs.0.shape: Field required"
    assert describe_validation_errors(fastapi_errors) == expected
    assert describe_validation_errors(fast_path_errors) == expected
