"""The MLflow image's JSON log lines (``docker/mlflow/logging``), checked on a real ``mlflow server`` started the
way the chart starts it: uvicorn's ``--log-config`` from the image, ``MLFLOW_CONFIGURE_LOGGING=false``."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import httpx
import pytest

from devtools import procs
from devtools.servers import LOCALHOST, VENV_BIN, server_env
from modelship_common.logs import JsonFormatter as PlatformFormatter

LOGGING_DIR = Path(__file__).resolve().parents[1] / "docker" / "mlflow" / "logging"
sys.path.insert(0, str(LOGGING_DIR))
from modelship_mlflow_logs import JsonFormatter as MlflowFormatter  # noqa: E402

#: The only lines logging does not write: two ``print`` calls of the ``mlflow server`` command.
PRINTED = ("Registry store URI not provided.", "[MLflow] Security middleware enabled")


def record(exc: bool) -> logging.LogRecord:
    try:
        raise ValueError("boom")
    except ValueError:
        info = sys.exc_info() if exc else None
    return logging.LogRecord("mlflow.store", logging.WARNING, __file__, 1, "a %s", ("message",), info)


@pytest.mark.parametrize("exc", [False, True])
def test_the_mlflow_image_writes_the_platforms_log_fields(exc: bool) -> None:
    one = record(exc)
    assert json.loads(MlflowFormatter().format(one)) == json.loads(PlatformFormatter().format(one))


@pytest.mark.integration
def test_a_real_mlflow_server_logs_one_json_object_per_line(tmp_path: Path) -> None:
    port = procs.free_port()
    argv = [
        str(VENV_BIN / "mlflow"),
        "server",
        f"--backend-store-uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"--host={LOCALHOST}",
        f"--port={port}",
        "--workers=1",
        f"--uvicorn-opts=--log-config={LOGGING_DIR / 'logging.json'}",  # as the chart passes it
    ]
    env = server_env(
        {
            "PYTHONPATH": str(LOGGING_DIR),
            "MLFLOW_CONFIGURE_LOGGING": "false",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
    )
    log_path = tmp_path / "mlflow.log"
    server = procs.start("mlflow (JSON logs)", argv, log_path=log_path, env=env, url=f"http://{LOCALHOST}:{port}")
    try:
        server.wait_http("/health", timeout=120)
        missing = httpx.get(f"{server.url}/api/2.0/mlflow/registered-models/get", params={"name": "nope"})
        assert missing.status_code == 404
    finally:
        server.stop()
    deadline = time.monotonic() + 10
    while "Shutting down" not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    lines = [line for line in log_path.read_text().splitlines() if not line.startswith("--- ")]  # devtools' own
    logged = [line for line in lines if line.strip() and not line.startswith(PRINTED)]
    not_json = []
    records = []
    for line in logged:
        try:
            records.append(json.loads(line))
        except ValueError:
            not_json.append(line)
    assert not not_json, "\n".join(not_json)
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    # The command's own records (it creates the tables before it starts uvicorn), and a warning, are JSON too.
    assert any(r["logger"] == "mlflow.store.db.utils" for r in records), records[:5]
    assert any(r["logger"] == "py.warnings" for r in records), [r["logger"] for r in records]
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("registered-models/get?name=nope" in r["message"] and r["message"].endswith("404") for r in access)
