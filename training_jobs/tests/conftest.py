"""A real MLflow tracking server for the training tests (no mocks).

One ``mlflow server`` per session on a free 127.0.0.1 port: SQLite backend store and proxied artifacts in a
temporary directory, the same shape as the platform's MLflow (trainers upload artifacts over HTTP).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent
STARTUP_SECONDS = 120.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # the server's own session: uvicorn and its workers
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URI of a real ``mlflow server`` that lives for the whole test session."""
    executable = VENV_BIN / "mlflow"
    if not executable.exists():
        pytest.fail(f"no mlflow executable in {VENV_BIN}: run `make sync` to install the workspace")
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    argv = [
        str(executable), "server",
        "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--workers", "1",
    ]  # fmt: skip
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no background job workers; the tests never use them
    }
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while not _healthy(f"{uri}/health"):
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy after {STARTUP_SECONDS:.0f}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield uri
    finally:
        _stop(proc)


@pytest.fixture
def unused_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound and released just now)."""
    return free_port()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A fresh SQLite training-data database for one test."""
    return f"sqlite:///{tmp_path / 'training.db'}"


@pytest.fixture
def unique_name() -> str:
    """A registered-model / experiment name no other test uses."""
    return f"test-{uuid.uuid4().hex[:10]}"
