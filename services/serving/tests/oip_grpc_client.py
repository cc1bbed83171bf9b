"""tritonclient.grpc calls, run as a child process: ``python oip_grpc_client.py < request.json`` prints JSON.

tritonclient's generated protos and kserve's define the same ``inference.*`` messages in protobuf's default
descriptor pool, so the two cannot be imported into one process; the tests import kserve, so the gRPC client
runs here. Requests (one JSON object on stdin):

- ``{"op": "infer", "url", "model", "datatype", "shape", "data", "outputs": bool}``: BYTES ``data`` is base64
  and is sent as the raw bytes; answers ``{"model_name", "id", "outputs": {name: {"dtype", "shape", "data"}}}``;
- ``{"op": "health", "url", "model"}``: ``{"live", "ready", "model_ready", "metadata"}``.

A server error is ``{"error": {"status", "message"}}``.
"""

from __future__ import annotations

import base64
import json
import sys

import numpy as np

OUTPUTS = ("class_id", "class_name", "probabilities")


def _infer(client, grpcclient, request: dict) -> dict:
    datatype = request["datatype"]
    if datatype == "BYTES":
        array = np.asarray([base64.b64decode(v) for v in request["data"]], dtype=np.object_)
    else:
        array = np.asarray(request["data"], dtype=np.float32 if datatype == "FP32" else np.int32)
    array = array.reshape(request["shape"])
    inp = grpcclient.InferInput("input-0", list(array.shape), datatype)
    inp.set_data_from_numpy(array)
    outputs = [grpcclient.InferRequestedOutput(name) for name in OUTPUTS] if request.get("outputs") else None
    result = client.infer(request["model"], [inp], outputs=outputs, request_id="oip-grpc", client_timeout=60)
    answer = {}
    for output in result.get_response().outputs:
        data = result.as_numpy(output.name)
        values = [v.decode() if isinstance(v, bytes) else v for v in data.reshape(-1).tolist()]
        answer[output.name] = {"dtype": str(data.dtype), "shape": list(data.shape), "data": values}
    response = result.get_response()
    return {"model_name": response.model_name, "id": response.id, "outputs": answer}


def _health(client, request: dict) -> dict:
    return {
        "live": client.is_server_live(),
        "ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(request["model"]),
        "metadata": client.get_model_metadata(request["model"], as_json=True),
    }


def main() -> None:
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    request = json.load(sys.stdin)
    client = grpcclient.InferenceServerClient(url=request["url"])
    try:
        answer = _infer(client, grpcclient, request) if request["op"] == "infer" else _health(client, request)
    except InferenceServerException as exc:
        answer = {"error": {"status": exc.status(), "message": exc.message()}}
    finally:
        client.close()
    json.dump(answer, sys.stdout)


if __name__ == "__main__":
    main()
