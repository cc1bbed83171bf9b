"""kserve's DataPlane plus what the contract adds: versions in V2 model metadata, counted 404s, lean V2 JSON."""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import orjson
from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER
from kserve.errors import InvalidInput, ModelNotFound
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse, RequestedOutput
from kserve.protocol.rest.v2_datamodels import InferenceResponse
from kserve.utils.numpy_codec import from_np_dtype, to_np_dtype

from modelship_serving import kserve_private
from modelship_serving.metrics import REASON_MODEL_NOT_FOUND, ServingMetrics


class ModelshipDataPlane(DataPlane):
    """``GET /v2/models/{name}`` lists the served version and runtime; unknown model names are counted.

    ``encode`` writes a V2 response whose outputs are all numpy arrays straight to the REST dict (one
    ``tolist()`` per output); kserve's ``InferResponse.to_rest`` walks every element in Python and, for a
    32-row batch, took longer than the model. Binary outputs, requested outputs and CloudEvents go to kserve.
    """

    def __init__(self, model_registry: ModelRepository, metrics: ServingMetrics) -> None:
        super().__init__(model_registry=model_registry)
        self._metrics = metrics

    async def model_metadata(self, model_name: str) -> dict[str, Any]:
        metadata = await super().model_metadata(model_name)
        model = self.get_model_from_registry(model_name)
        version = getattr(model, "version", None)
        if version is not None:
            metadata["versions"] = [version]
        platform = getattr(getattr(model, "predictor", None), "platform", None)
        if platform:
            metadata["platform"] = platform
        return metadata

    async def model_ready(self, model_name: str, disable_predictor_health_check: bool = False) -> bool:
        try:
            return await super().model_ready(model_name, disable_predictor_health_check)
        except ModelNotFound:
            # The requested name is caller-controlled: keep it out of the labels.
            self._metrics.errors.labels("", "", REASON_MODEL_NOT_FOUND).inc()
            raise

    def decode_inference_request(self, body: Any, headers: Any, model_name: str) -> InferRequest:
        if isinstance(body, bytes):  # the binary tensor extension: a JSON header, then the tensors' bytes
            return binary_request(body, headers, model_name)
        return super().decode_inference_request(body, headers, model_name)

    def encode(
        self, model_name: str, response: Any, headers: Any, req_attributes: dict[str, Any]
    ) -> tuple[Any, dict[str, str]]:
        if not isinstance(response, InferResponse) or _wants_cloudevent(headers):
            return super().encode(model_name, response, headers, req_attributes)
        rest = plain_rest(response)
        if rest is not None:
            return rest, {}
        rest, response_headers = super().encode(model_name, response, headers, req_attributes)
        if isinstance(rest, dict):  # the shape kserve's V2 route gives it (its response model), for any caller
            rest = InferenceResponse.model_validate(rest).model_dump(mode="json")
        return rest, response_headers


def _wants_cloudevent(headers: Any) -> bool:
    if not headers:
        return False
    return headers.get("content-type", "") == "application/cloudevents+json" or any(
        str(name).lower().startswith("ce-") for name in headers
    )


def plain_rest(response: InferResponse) -> dict[str, Any] | None:
    """The V2 REST dict of a response whose outputs are JSON-encodable numpy arrays; None for anything else.

    Equal to what kserve's V2 handler sends for the same response (``to_rest`` then its ``InferenceResponse``
    model), so both the fast path and kserve's own route can use it.
    """
    if response.parameters or kserve_private.requested_outputs(response):
        return None
    if kserve_private.uses_binary_outputs(response):
        return None
    outputs = []
    for output in response.outputs:
        data = output.data
        if not isinstance(data, np.ndarray) or output.parameters or list(data.shape) != list(output.shape):
            return None
        if output.datatype == "BYTES" and data.dtype == np.object_:
            values = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in data.reshape(-1).tolist()]
        elif output.datatype not in ("BYTES", "FP16") and from_np_dtype(data.dtype) == output.datatype:
            values = data.reshape(-1).tolist()
        else:  # FP16, mismatched types and anything new: kserve's encoder decides (or raises its error)
            return None
        outputs.append(
            {
                "name": output.name,
                "shape": list(output.shape),
                "datatype": output.datatype,
                "parameters": None,
                "data": values,
            }
        )
    # Keys in the order (and with the nulls) kserve's REST handler writes through its InferenceResponse model.
    return {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "id": response.id,
        "parameters": None,
        "outputs": outputs,
    }


# --- the binary tensor extension --------------------------------------------------------------------------


def binary_request(body: bytes, headers: Any, model_name: str) -> InferRequest:
    """A V2 request with binary tensors -> ``InferRequest``, every mistake an ``InvalidInput`` (400) saying which.

    kserve's ``InferRequest.from_bytes`` turns each binary tensor back into JSON-style data, which fails with a
    500 for BYTES elements that are not UTF-8 text (a PNG), and lets a short body or a wrong shape through to
    numpy errors (500 too). Here the raw bytes stay raw (``as_numpy`` gives bytes elements for BYTES) and the
    header's sizes are checked against the body and against each tensor's shape and datatype.
    """
    raw_length = (headers or {}).get(INFERENCE_CONTENT_LENGTH_HEADER)
    if raw_length is None:
        raise InvalidInput(f"received a non-JSON body without the {INFERENCE_CONTENT_LENGTH_HEADER} header")
    try:
        json_length = int(raw_length)
    except ValueError:
        raise InvalidInput(f"{INFERENCE_CONTENT_LENGTH_HEADER} must be an integer, got {raw_length!r}") from None
    if not 0 < json_length <= len(body):
        raise InvalidInput(f"{INFERENCE_CONTENT_LENGTH_HEADER} is {json_length} but the body has {len(body)} bytes")
    try:
        header = orjson.loads(body[:json_length])
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the first {json_length} bytes of the body are not a JSON object: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise InvalidInput('the JSON header must be an object with an "inputs" list')
    offset = json_length
    infer_inputs = []
    for position, spec in enumerate(header["inputs"]):
        infer_input, offset = _binary_input(spec, position, body, offset)
        infer_inputs.append(infer_input)
    if offset != len(body):
        raise InvalidInput(f"the body has {len(body) - offset} bytes after the inputs' binary data")
    outputs = header.get("outputs")
    if outputs is not None and not (isinstance(outputs, list) and all(_is_output(o) for o in outputs)):
        raise InvalidInput('"outputs" must be a list of objects with a "name"')
    parameters = header.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidInput('"parameters" must be an object')
    request_id = header.get("id")
    return InferRequest(
        model_name=model_name,
        infer_inputs=infer_inputs,
        request_id=str(request_id) if request_id is not None else None,
        parameters=parameters,
        request_outputs=[RequestedOutput(o["name"], o.get("parameters")) for o in outputs] if outputs else None,
    )


def _is_output(output: Any) -> bool:
    return (
        isinstance(output, dict)
        and isinstance(output.get("name"), str)
        and isinstance(output.get("parameters") or {}, dict)
    )


def _binary_input(spec: Any, position: int, body: bytes, offset: int) -> tuple[InferInput, int]:
    if not isinstance(spec, dict):
        raise InvalidInput(f"input {position} must be an object")
    name, shape, datatype = spec.get("name"), spec.get("shape"), spec.get("datatype")
    parameters = spec.get("parameters")
    if not isinstance(name, str):
        raise InvalidInput(f'input {position}: "name" must be a string')
    what = f"input {name!r}"
    if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise InvalidInput(f'{what}: "shape" must be a list of non-negative integers, got {shape!r}')
    dtype = to_np_dtype(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise InvalidInput(f"{what}: unknown datatype {datatype!r}")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidInput(f'{what}: "parameters" must be an object')
    infer_input = InferInput(name=name, shape=shape, datatype=datatype, parameters=parameters)
    if "data" in spec and spec["data"] is not None:
        if datatype == "FP16":
            raise InvalidInput(f"{what}: FP16 data cannot be sent as JSON; send it as binary data")
        infer_input.data = spec["data"]
        return infer_input, offset
    size = (parameters or {}).get("binary_data_size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(f'{what}: no "data" and no integer "binary_data_size" parameter')
    end = offset + size
    if end > len(body):
        raise InvalidInput(
            f"{what}: binary_data_size is {size} but only {len(body) - offset} bytes of the body are left"
        )
    raw = body[offset:end]
    count = math.prod(shape)
    if datatype == "BYTES":
        elements = _bytes_elements(raw, what)
        if elements != count:
            raise InvalidInput(f"{what}: shape {shape} holds {count} elements but the binary data has {elements}")
    else:
        expected = count * np.dtype(dtype).itemsize
        if size != expected:
            raise InvalidInput(
                f"{what}: shape {shape} of {datatype} is {expected} bytes but binary_data_size is {size}"
            )
    kserve_private.set_raw_data(infer_input, raw)
    return infer_input, end


def _bytes_elements(raw: bytes, what: str) -> int:
    """How many elements a serialized BYTES tensor holds (each a little-endian uint32 length, then the bytes)."""
    count = offset = 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInput(f"{what}: BYTES data ends inside an element's 4-byte length")
        (length,) = struct.unpack_from("<I", raw, offset)
        offset += 4 + length
        if offset > len(raw):
            raise InvalidInput(f"{what}: BYTES element {count} is {length} bytes, past the end of its binary data")
        count += 1
    return count
