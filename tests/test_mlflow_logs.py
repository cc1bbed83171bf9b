"""The MLflow image's JSON log lines (``docker/mlflow/logging``), checked on a real ``mlflow server`` started the
way the chart starts it: uvicorn's ``--log-config`` from the image, ``MLFLOW_CONFIGURE_LOGGING=false``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from devtools import procs
from devtools.servers import LOCALHOST, VENV_BIN, server_env

ROOT = Path(__file__).resolve().parents[1]
#: What docker/mlflow/Dockerfile copies to /opt/mlflow-logging (the image's PYTHONPATH).
IMAGE_FILES = {
    ROOT / "docker" / "mlflow" / "logging" / "sitecustomize.py": "sitecustomize.py",
    ROOT / "docker" / "mlflow" / "logging" / "logging.json": "logging.json",
    ROOT / "services" / "common" / "src" / "modelship_common" / "__init__.py": "modelship_common/__init__.py",
    ROOT / "services" / "common" / "src" / "modelship_common" / "logs.py": "modelship_common/logs.py",
}
#: The only lines logging does not write: two ``print`` calls of the ``mlflow server`` command.
PRINTED = ("Registry store URI not provided.", "[MLflow] Security middleware enabled")


def image_logging_dir(tmp_path: Path) -> Path:
    """/opt/mlflow-logging as the image has it."""
    out = tmp_path / "mlflow-logging"
    for source, target in IMAGE_FILES.items():
        (out / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, out / target)
    return out


def test_the_image_copy_of_the_platforms_formatter_needs_only_the_standard_library(tmp_path: Path) -> None:
    """The MLflow image has the two files and no modelship package: they must import with nothing else."""
    dockerfile = (ROOT / "docker" / "mlflow" / "Dockerfile").read_text()
    assert "COPY docker/mlflow/logging/ /opt/mlflow-logging/\n" in dockerfile
    assert (
        "COPY services/common/src/modelship_common/__init__.py services/common/src/modelship_common/logs.py "
        "/opt/mlflow-logging/modelship_common/\n"
    ) in dockerfile
    path = image_logging_dir(tmp_path)
    probe = (
        f"import sys; sys.path[:0] = [{str(path)!r}]; import logging; from modelship_common.logs import JsonFormatter;"
        "print(JsonFormatter().format(logging.LogRecord('mlflow', 20, 'f', 1, 'hello', None, None)))"
    )
    out = subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["message"] == "hello"


@pytest.mark.integration
def test_a_real_mlflow_server_logs_one_json_object_per_line(tmp_path: Path) -> None:
    logging_dir = image_logging_dir(tmp_path)
    port = procs.free_port()
    argv = [
        str(VENV_BIN / "mlflow"),
        "server",
        f"--backend-store-uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"--host={LOCALHOST}",
        f"--port={port}",
        "--workers=1",
        f"--uvicorn-opts=--log-config={logging_dir / 'logging.json'}",  # as the chart passes it
    ]
    env = server_env(
        {
            "PYTHONPATH": str(logging_dir),
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
