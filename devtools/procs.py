"""Start and stop real server processes: free ports, log files, readiness polling with a deadline, clean stop.

Every process runs in its own process group (``start_new_session``) with stdout and stderr going to a log
file. ``stop()`` sends SIGTERM (or the process's own stop signal) to the whole group, waits, then SIGKILLs.
Errors carry the tail of the log so a failed start explains itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

LOCALHOST = "127.0.0.1"


#: Checks :func:`start` runs first, with the process's name and argv; one that raises refuses the start. Every
#: launcher here (``devtools/servers.py``, the platform's pytest fixtures, the tests' own) ends in :func:`start`, so
#: the test suite's marker guard (``devtools/pytest_platform.py``) adds the one that fails an unmarked test.
START_CHECKS: list[Callable[[str, Sequence[str]], None]] = []


class ServerError(RuntimeError):
    """A server could not be started (or died); the message includes its log tail."""


class PortInUse(ServerError):
    """The requested fixed port is already taken by another process."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    """True when nothing accepts connections on ``host:port`` and it can be bound (also on 0.0.0.0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        if sock.connect_ex((host, port)) == 0:
            return False
    for bind_host in (host, "0.0.0.0"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((bind_host, port))
            except OSError:
                return False
    return True


def require_free_port(port: int, what: str, flag: str | None = None) -> int:
    """Return ``port`` if it is free; otherwise raise :class:`PortInUse` with a message saying what to do."""
    if not port_is_free(port):
        hint = f" (pass {flag} to use another port)" if flag else ""
        raise PortInUse(f"{what}: port {port} on {LOCALHOST} is already in use by another process{hint}")
    return port


def poll_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    max_interval: float = 1.0,
    alive: Callable[[], str | None] | None = None,
) -> T:
    """Call ``check`` until it returns something other than None/False, or raise TimeoutError after ``timeout``.

    ``alive`` is called between attempts; when it returns a message (e.g. "process exited with 1"), polling
    stops at once with a :class:`ServerError`.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    delay = interval
    while True:
        try:
            result = check()
            if result is not None and result is not False:
                return result
        except Exception as exc:  # the thing we wait for is not there yet
            last_exc = exc
        if alive is not None:
            dead = alive()
            if dead:
                raise ServerError(f"{what}: {dead}")
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise TimeoutError(f"{what}: not ready within {timeout:.0f}s{detail}")
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, max_interval)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when GET ``url`` answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(200 <= resp.status < 300)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file (or a note that it is empty/missing)."""
    try:
        data = path.read_bytes()[-64_000:]
    except FileNotFoundError:
        return f"(no log file at {path})"
    text = data.decode("utf-8", "replace").splitlines()[-lines:]
    return "\n".join(text) if text else f"(log file {path} is empty)"


@dataclass
class Proc:
    """A started server process with its log file and URL."""

    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes]
    url: str | None = None
    port: int | None = None
    stop_signal: int = signal.SIGTERM
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self.popen.poll() is None

    def exit_message(self) -> str | None:
        """None while running; otherwise "exited with code N" plus the log tail."""
        code = self.popen.poll()
        if code is None:
            return None
        return f"{self.name} exited with code {code} before it was ready; log {self.log_path}:\n{tail(self.log_path)}"

    def wait_ready(self, check: Callable[[], Any], timeout: float = 60.0) -> Proc:
        """Poll ``check`` until it passes; on timeout or early exit raise :class:`ServerError` with the log tail."""
        try:
            poll_until(check, timeout=timeout, what=self.name, alive=self.exit_message)
        except TimeoutError as exc:
            self.stop()
            raise ServerError(f"{exc}; log {self.log_path}:\n{tail(self.log_path)}") from None
        except ServerError:
            self.stop()
            raise
        return self

    def wait_http(self, path: str = "/", timeout: float = 60.0) -> Proc:
        assert self.url, f"{self.name} has no url"
        url = self.url.rstrip("/") + path
        return self.wait_ready(lambda: http_ok(url), timeout=timeout)

    def group_alive(self) -> bool:
        """True while any process of this process group still exists."""
        return _group_has_live_members(self.popen.pid)

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop the whole process group: stop signal, wait up to ``timeout``, then SIGKILL. Returns the exit code."""
        pgid = self.popen.pid
        if self.popen.poll() is not None and not _group_has_live_members(pgid):
            return self.popen.returncode  # already gone (and its pid may belong to someone else by now)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, self.stop_signal)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        # Children that outlived the leader (workers, forked servers): give them a moment, then kill.
        deadline = time.monotonic() + 5.0
        while _group_has_live_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_has_live_members(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        return self.popen.returncode

    def __enter__(self) -> Proc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _group_has_live_members(pgid: int) -> bool:
    """True when some non-zombie process has process group ``pgid`` (reads /proc; falls back to killpg)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces, so split after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def start(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    url: str | None = None,
    port: int | None = None,
    stop_signal: int = signal.SIGTERM,
    user: str | None = None,
    group: str | None = None,
) -> Proc:
    """Start ``argv`` in a new process group with stdout+stderr appended to ``log_path``."""
    for check in START_CHECKS:
        check(name, argv)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ if env is None else env)
    extra: dict[str, Any] = {}
    if user is not None:
        extra = {"user": user, "group": group, "extra_groups": []}
    with open(log_path, "ab") as log:
        log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            popen = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=full_env,
                cwd=str(cwd) if cwd else None,
                start_new_session=True,
                **extra,
            )
        except FileNotFoundError as exc:
            raise ServerError(f"{name}: cannot run {argv[0]!r}: {exc}") from exc
    return Proc(name=name, argv=list(argv), log_path=log_path, popen=popen, url=url, port=port, stop_signal=stop_signal)


class ProcGroup:
    """Processes started together and stopped together, newest first."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []

    def add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        # Signal every process first so they shut down in parallel, then wait for (or kill) each in turn.
        for proc in self.procs:
            if proc.running():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, proc.stop_signal)
        while self.procs:
            proc = self.procs.pop()
            try:
                proc.stop()
            except Exception as exc:  # keep stopping the others
                print(f"warning: stopping {proc.name} failed: {exc}", file=sys.stderr)

    def __enter__(self) -> ProcGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
