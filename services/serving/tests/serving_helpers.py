"""Helpers shared by the serving tests (a uniquely named module, importable from any test file)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from devtools.procs import free_port

VENV_BIN = Path(sys.executable).parent
#: Generous: on a busy 2-core box a model server can take a minute to load and answer.
START_TIMEOUT_S = 240.0


def wait_http(url: str, proc: subprocess.Popen, log_path: Path, what: str, timeout: float = START_TIMEOUT_S) -> None:
    """Poll ``url`` until it answers 200; fail with the log's tail if the process dies or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode} before {url} answered:\n{tail(log_path)}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: {url} not ready after {timeout:.0f}s:\n{tail(log_path)}")
        time.sleep(0.1)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(proc: subprocess.Popen) -> None:
    """Stop a process started with ``start_new_session=True`` and every child it spawned (its group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def make_settings(reg, cache: Path, **overrides):
    from modelship_serving.settings import ServingSettings

    return ServingSettings(mlflow_tracking_uri=reg.uri, model_cache_dir=cache, **overrides)


def loaded_model(name: str, uri: str, settings):
    from modelship_serving.model import MlflowModel

    model = MlflowModel(name, uri, settings)
    assert not model.ready
    assert model.load() is True
    assert model.ready
    return model


def call(model, body):
    """One request through kserve's Model.__call__ (preprocess, predict, postprocess, its histograms)."""
    import asyncio

    from kserve.protocol.infer_type import InferRequest, InferResponse
    from kserve.protocol.rest.v2_datamodels import InferenceRequest

    if isinstance(body, dict) and "inputs" in body:
        body = InferRequest.from_inference_request(InferenceRequest.model_validate(body), model.name)
    response, _headers = asyncio.run(model(body, headers={}))
    if isinstance(response, InferResponse):
        rest, _ = response.to_rest()
        return json.loads(json.dumps(rest))
    return response


def v2_body(array, datatype: str = "FP32", name: str = "input-0") -> dict:
    array = np.asarray(array)
    data = array.reshape(-1).tolist()
    return {"inputs": [{"name": name, "shape": list(array.shape), "datatype": datatype, "data": data}]}


def v2_outputs(response: dict) -> dict:
    return {o["name"]: o for o in response["outputs"]}


@dataclass(frozen=True)
class Server:
    model: str
    http: str  # host:port, as tritonclient wants it
    grpc: str
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.http}"


def start_server(root: Path, registry_uri: str, model: str, model_uri: str) -> tuple[subprocess.Popen, Server]:
    """``python -m modelship_serving`` serving ``model_uri`` as ``model`` (REST and gRPC), once it is ready."""
    http_port, grpc_port = free_port(), free_port()
    argv = [
        sys.executable, "-m", "modelship_serving",
        "--model-uri", model_uri, "--model_name", model,
        "--http_port", str(http_port), "--grpc_port", str(grpc_port),
    ]  # fmt: skip
    child = child_env(MODELSHIP_MLFLOW_TRACKING_URI=registry_uri, MODELSHIP_MODEL_CACHE_DIR=str(root / "cache"))
    log_path = root / "serving.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=child, start_new_session=True)
    server = Server(model, f"127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", log_path)
    wait_http(f"{server.url}/v2/models/{model}/ready", proc, log_path, f"model server ({model})")
    return proc, server
