"""Helpers for the gateway tests: free ports, polling with a deadline, processes, an in-process live gateway."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
import uvicorn

from modelship_gateway.app import create_app
from modelship_gateway.settings import GatewaySettings

TESTS_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool],
    *,
    deadline_s: float,
    what: str,
    alive: Callable[[], bool] | None = None,
    log: Path | None = None,
) -> None:
    """Poll ``check`` until it is true; fail with ``what`` (and the log's tail) at the deadline or if ``alive`` dies."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with contextlib.suppress(httpx.HTTPError, OSError):
            if check():
                return
        if alive is not None and not alive():
            break
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"{what} did not come up within {deadline_s:.0f}s\n{tail}")


def http_ok(url: str) -> bool:
    return httpx.get(url, timeout=2.0).status_code == 200


class Process:
    """A subprocess in its own process group, output to a log file, stopped with SIGTERM then SIGKILL."""

    def __init__(self, args: list[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None):
        self.log = log
        self._out: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            args, stdout=self._out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        self._out.close()


class LiveGateway:
    """The gateway app served by a real uvicorn server on a free port, in a background thread."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning", ws="none", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"gateway-{self.port}", daemon=True)
        self.http = httpx.Client(base_url=self.url, timeout=60.0)

    def __enter__(self) -> LiveGateway:
        self.thread.start()
        wait_until(lambda: self.server.started, deadline_s=60, what="gateway", alive=self.thread.is_alive)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)


def python_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env
