"""The model server's OpenAPI 3.1 document: the KServe V1 and Open Inference Protocol (V2 REST) routes as this
server answers them, for the one model it serves.

kserve's FastAPI app derives its own ``/openapi.json`` from its handlers, and that one is not the contract: the
V1 routes take and give untyped bodies, the V2 inference response is undescribed, every error is documented as
FastAPI's 422 ``HTTPValidationError`` while the server answers 400/404/503 with ``{"error": "..."}``, and it
lists routes this server does not serve as such (explain, the model repository's load and unload, versions).
This document is written from the protocols' field definitions instead, as strict as the handlers: the path's
model name is the served one (any other is a documented 404), the input tensors and V1 instances are those the
model's kind takes (:mod:`modelship_serving.inputs`), the outputs those it gives (:mod:`modelship_serving.model`).

What JSON Schema cannot say is left to the handlers and answered 400 with the reason: that a tensor's ``data``
holds as many elements as its ``shape`` says, which column of a flat tabular tensor must lie in which range,
and that a base64 string is a decodable PNG/JPEG/GIF of at most ``max_image_bytes``.

The binary tensor extension (``Inference-Header-Content-Length``, ``binary_data_output``) is outside this
document: it is JSON only. ``tests/test_oip_conformance.py`` covers the binary extension with a standard client.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from modelship_common.schemas import TASK_IMAGE, digits, penguins

ERROR = {"$ref": "#/components/schemas/Error"}

#: The output tensors of every served model (names, datatypes), as :func:`modelship_serving.model._v2_outputs`.
OUTPUTS = {"class_id": "INT64", "class_name": "BYTES", "probabilities": "FP32"}

#: Base64 text as the handlers decode it (standard alphabet, padded, nothing else) of something: never empty.
BASE64 = {
    "type": "string",
    "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$",
}
_SCALAR = {"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}]}
_PARAMETERS = {"anyOf": [{"type": "object", "additionalProperties": _SCALAR}, {"type": "null"}]}


def _parameters_with(flag: str) -> dict[str, Any]:
    """Parameters of scalars, ``flag`` a boolean: the binary tensor extension's switch (true asks for binary
    outputs, a response this JSON-only document does not describe)."""
    described = {
        "type": "boolean",
        "description": "true: binary tensor extension (not described here); false or absent: JSON",
    }
    return {
        "anyOf": [
            {"type": "object", "properties": {flag: described}, "additionalProperties": _SCALAR},
            {"type": "null"},
        ]
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    reasons = {
        400: "Bad input: the body does not fit the protocol, or the model cannot take it (the reason says which).",
        404: "No model of that name is served here.",
        503: "The model is not ready.",
        500: "The server failed (never for a request this document allows or rejects).",
    }
    return {str(status): _json(ERROR, reasons[status]) for status in (*statuses, 500)}


def _number_in(low: float, high: float) -> dict[str, Any]:
    return {"type": "number", "minimum": low, "maximum": high}


def _tabular_rows() -> dict[str, Any]:
    """A V1 tabular instance: a dict of raw columns, a raw list (island first) or a 9-value encoded list."""
    ranges = {name: _number_in(*penguins.NUMERIC_RANGES[name]) for name in penguins.NUMERIC_FEATURES}
    categories = {name: {"type": "string", "enum": list(v)} for name, v in penguins.CATEGORICAL_FEATURES.items()}
    raw_dict = {
        "type": "object",
        "description": "The raw columns (categories are also accepted in other case and with spaces around).",
        "properties": {name: ranges.get(name) or categories[name] for name in penguins.RAW_FEATURES},
        "required": list(penguins.RAW_FEATURES),
        "additionalProperties": False,
    }
    raw_list = {
        "type": "array",
        "description": f"The raw columns in this order: {', '.join(penguins.RAW_FEATURES)}.",
        "prefixItems": [ranges.get(name) or categories[name] for name in penguins.RAW_FEATURES],
        "minItems": len(penguins.RAW_FEATURES),
        "maxItems": len(penguins.RAW_FEATURES),
    }
    encoded = []  # one alternative per island and sex: the one-hot columns are constants
    for island in penguins.ISLANDS:
        for sex in penguins.SEXES:
            one_hot = [float(v == island) for v in penguins.ISLANDS] + [float(v == sex) for v in penguins.SEXES]
            encoded.append(
                {
                    "type": "array",
                    "prefixItems": [ranges[name] for name in penguins.NUMERIC_FEATURES]
                    + [{"type": "number", "const": v} for v in one_hot],
                    "minItems": penguins.N_FEATURES,
                    "maxItems": penguins.N_FEATURES,
                }
            )
    encoded_list = {
        "description": f"The encoded features in this order: {', '.join(penguins.FEATURE_NAMES)}.",
        "oneOf": encoded,
    }
    return {"oneOf": [raw_dict, raw_list, encoded_list]}


def _image_instances() -> dict[str, Any]:
    """A V1 image instance: base64 of a PNG/JPEG/GIF (two spellings) or a 28x28 array of pixels in [0, 1]."""
    b64: dict[str, Any] = {
        "type": "object",
        "properties": {"b64": BASE64},
        "required": ["b64"],
        "additionalProperties": False,
    }
    size = digits.IMAGE_SIZE
    pixel = _number_in(0.0, 1.0)
    row = {"type": "array", "items": pixel, "minItems": size, "maxItems": size}
    row_of_channels = {
        "type": "array",
        "items": {"type": "array", "items": pixel, "minItems": 1, "maxItems": 1},
        "minItems": size,
        "maxItems": size,
    }
    return {
        "oneOf": [
            {**b64, "description": "base64 of a PNG, JPEG or GIF image (28x28 grayscale after decoding)"},
            {
                "type": "object",
                "properties": {"image_bytes": b64},
                "required": ["image_bytes"],
                "additionalProperties": False,
            },
            {"type": "array", "items": row, "minItems": size, "maxItems": size, "description": "28x28 pixels"},
            {"type": "array", "items": row_of_channels, "minItems": size, "maxItems": size},
        ]
    }


def _tensor(datatypes: list[str], shape: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "shape": shape,
            "datatype": {"type": "string", "enum": datatypes},
            "parameters": _PARAMETERS,
            "data": data,
        },
        "required": ["name", "shape", "datatype", "data"],
    }


def _batch_shape(*rest: int) -> dict[str, Any]:
    """``[n, *rest]`` with n >= 1."""
    dims = [{"type": "integer", "minimum": 1}] + [{"type": "integer", "const": d} for d in rest]
    return {"type": "array", "prefixItems": dims, "minItems": len(dims), "maxItems": len(dims)}


def _v2_inputs(task: str | None) -> dict[str, Any]:
    """The one input tensor the model takes (the data's length must be the shape's product: checked by the handler)."""
    if task == TASK_IMAGE:
        size = digits.IMAGE_SIZE
        pixels = {"type": "array", "items": _number_in(0.0, 1.0), "minItems": size * size}
        return {
            "oneOf": [
                _tensor(
                    ["BYTES"],
                    _batch_shape(),
                    {
                        "type": "array",
                        "items": {**BASE64, "description": "base64 of a PNG, JPEG or GIF image"},
                        "minItems": 1,
                    },
                ),
                _tensor(["FP32", "FP64"], _batch_shape(size, size, 1), pixels),
                _tensor(["FP32", "FP64"], _batch_shape(size, size), pixels),
            ]
        }
    numbers = {"type": "array", "items": {"type": "number"}, "minItems": penguins.N_FEATURES}
    return _tensor(["FP32", "FP64"], _batch_shape(penguins.N_FEATURES), numbers)


def _examples(task: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A V1 and a V2 request the model answers 200 (a Gentoo row; a digit drawn as a vertical stroke)."""
    if task == TASK_IMAGE:
        stroke = np.zeros((digits.IMAGE_SIZE, digits.IMAGE_SIZE), dtype=np.float32)
        stroke[4:24, 13:15] = 1.0
        png = base64.b64encode(digits.encode_png(stroke)).decode("ascii")
        v1 = {"instances": [{"b64": png}]}
        v2 = {"inputs": [{"name": "images", "shape": [1], "datatype": "BYTES", "data": [png]}]}
        return v1, v2
    row = penguins.encode_rows([penguins.EXAMPLE_ROW])
    tensor = {"name": "features", "shape": list(row.shape), "datatype": "FP32", "data": row.ravel().tolist()}
    return {"instances": [penguins.EXAMPLE_ROW]}, {"inputs": [tensor]}


def _schemas(model_name: str, task: str | None, classes: list[str]) -> dict[str, Any]:
    name = {"type": "string", "const": model_name}
    metadata_tensor = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["name", "datatype", "shape"],
    }
    output = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "enum": list(OUTPUTS)},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "enum": sorted(set(OUTPUTS.values()))},
            "parameters": _PARAMETERS,
            "data": {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "string"}]}},
        },
        "required": ["name", "shape", "datatype", "data"],
    }
    prediction = {
        "type": "object",
        "properties": {
            "class_id": {"type": "integer", "minimum": 0, "maximum": len(classes) - 1},
            "class_name": {"type": "string", "enum": classes},
            "probabilities": {
                "type": "object",
                "properties": {c: _number_in(0.0, 1.0) for c in classes},
                "required": classes,
                "additionalProperties": False,
            },
        },
        "required": ["class_id", "class_name", "probabilities"],
    }
    instances = _image_instances() if task == TASK_IMAGE else _tabular_rows()
    v1_example, v2_example = _examples(task)
    return {
        "Error": {
            "type": "object",
            "properties": {"error": {"type": "string"}},
            "required": ["error"],
        },
        "V1PredictRequest": {
            "type": "object",
            "description": "Other keys are ignored; `inputs` (the V1 columnar form) is not taken.",
            "properties": {"instances": {"type": "array", "items": instances, "minItems": 1}},
            "required": ["instances"],
            "examples": [v1_example],
        },
        "V1PredictResponse": {
            "type": "object",
            "properties": {
                "predictions": {"type": "array", "items": prediction, "minItems": 1},
                "model_name": name,
                "model_version": {"type": "string"},
            },
            "required": ["predictions", "model_name", "model_version"],
        },
        "InferenceRequest": {
            "type": "object",
            "properties": {
                "id": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "parameters": _parameters_with("binary_data_output"),
                "inputs": {"type": "array", "items": _v2_inputs(task), "minItems": 1, "maxItems": 1},
                "outputs": {
                    "anyOf": [
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string", "enum": list(OUTPUTS)},
                                    "parameters": _parameters_with("binary_data"),
                                },
                                "required": ["name"],
                            },
                        },
                        {"type": "null"},
                    ]
                },
            },
            "required": ["inputs"],
            "examples": [v2_example],
        },
        "InferenceResponse": {
            "type": "object",
            "properties": {
                "model_name": name,
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "parameters": _PARAMETERS,
                "outputs": {"type": "array", "items": output},
            },
            "required": ["model_name", "model_version", "id", "outputs"],
        },
        "ModelMetadata": {
            "type": "object",
            "properties": {
                "name": name,
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": metadata_tensor},
                "outputs": {"type": "array", "items": metadata_tensor},
            },
            "required": ["name", "versions", "platform", "inputs", "outputs"],
        },
        "ModelReady": {
            "type": "object",
            "properties": {"name": name, "ready": {"type": "boolean"}},
            "required": ["name", "ready"],
        },
        "ModelList": {
            "type": "object",
            "properties": {"models": {"type": "array", "items": {"type": "string"}}},
            "required": ["models"],
        },
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def document(model_name: str, model_version: str, task: str | None, classes: list[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a server that serves ``model_name`` (version ``model_version``) of ``task``."""
    name_parameter = {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "The served model's name; any other name is answered 404.",
        "schema": {"type": "string", "enum": [model_name]},
    }

    version_parameter = {
        "name": "version",
        "in": "path",
        "required": True,
        "description": "The served version; any other version of the model is answered 404.",
        "schema": {"type": "string", "enum": [model_version]},
    }

    def get(
        summary: str, schema: dict[str, Any], *errors: int, by_name: bool = False, versioned: bool = False
    ) -> dict[str, Any]:
        operation: dict[str, Any] = {"summary": summary, "responses": {"200": _json(schema, "OK"), **_errors(*errors)}}
        if by_name:
            operation["parameters"] = [name_parameter, version_parameter] if versioned else [name_parameter]
        return {"get": operation}

    schemas = _schemas(model_name, task, classes)

    def answer(response: str) -> dict[str, Any]:
        ok = _json(_ref(response), "The model's answer")
        if response == "InferenceResponse":
            binary = {
                "type": "string",
                "format": "binary",
                "description": "Binary outputs asked for (binary tensor extension, not described here): the JSON "
                "response (Inference-Header-Content-Length bytes), then the outputs' bytes.",
            }
            ok["content"]["application/octet-stream"] = {"schema": binary}
        return ok

    def post(summary: str, request: str, response: str, versioned: bool = False) -> dict[str, Any]:
        body = {"schema": _ref(request), "example": schemas[request]["examples"][0]}
        return {
            "post": {
                "summary": summary,
                "parameters": [name_parameter, version_parameter] if versioned else [name_parameter],
                "requestBody": {"required": True, "content": {"application/json": body}},
                "responses": {"200": answer(response), **_errors(400, 404, 503)},
            }
        }

    boolean = {"type": "boolean"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"modelship model server: {model_name}",
            "version": model_version,
            "description": (
                "KServe V1 and Open Inference Protocol (V2 REST) routes for the one model this server serves. "
                "JSON only: the binary tensor extension and CloudEvents are served but not described here. "
                "gRPC V2 is on its own port."
            ),
        },
        "paths": {
            "/": get("Server liveness (kserve)", {"type": "object", "properties": {"status": {"const": "alive"}}}),
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
                    },
                }
            },
            "/v1/models": get("V1: served models", _ref("ModelList")),
            "/v1/models/{name}": get("V1: model readiness", _ref("ModelReady"), 404, 503, by_name=True),
            "/v1/models/{name}:predict": post("V1: predict", "V1PredictRequest", "V1PredictResponse"),
            "/v2": get(
                "V2: server metadata",
                {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "version": {"type": "string"},
                        "extensions": {"type": "array", "items": {"type": "string"}},
                    },
                    "required": ["name", "version", "extensions"],
                },
            ),
            "/v2/health/live": get(
                "V2: server liveness", {"type": "object", "properties": {"live": boolean}, "required": ["live"]}
            ),
            "/v2/health/ready": get(
                "V2: server readiness", {"type": "object", "properties": {"ready": boolean}, "required": ["ready"]}
            ),
            "/v2/models": get("V2: served models (kserve)", _ref("ModelList")),
            "/v2/models/{name}": get("V2: model metadata", _ref("ModelMetadata"), 404, by_name=True),
            "/v2/models/{name}/ready": get("V2: model readiness", _ref("ModelReady"), 404, 503, by_name=True),
            "/v2/models/{name}/infer": post("V2: inference", "InferenceRequest", "InferenceResponse"),
            "/v2/models/{name}/versions/{version}": get(
                "V2: model metadata (the served version)", _ref("ModelMetadata"), 404, by_name=True, versioned=True
            ),
            "/v2/models/{name}/versions/{version}/ready": get(
                "V2: model readiness (the served version)", _ref("ModelReady"), 404, 503, by_name=True, versioned=True
            ),
            "/v2/models/{name}/versions/{version}/infer": post(
                "V2: inference (the served version)", "InferenceRequest", "InferenceResponse", versioned=True
            ),
        },
        "components": {"schemas": schemas},
    }
