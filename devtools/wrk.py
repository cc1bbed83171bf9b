"""Run ``wrk`` with a Lua script that POSTs a JSON body, and parse its ``--latency`` report."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devtools.servers import INSTALL_HINT

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_LATENCY = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles in milliseconds, and errors."""

    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    raw: str


def find_wrk() -> str:
    path = shutil.which("wrk")
    if not path:
        raise RuntimeError(f"wrk is not installed; {INSTALL_HINT}")
    return path


def lua_script(body: str, content_type: str = "application/json") -> str:
    """A wrk script that POSTs ``body``; the body goes in a Lua long string (no escaping needed)."""
    level = 0
    while f"]{'=' * level}]" in body:
        level += 1
    eq = "=" * level
    return f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "{content_type}"\nwrk.body = [{eq}[{body}]{eq}]\n'


def parse(output: str) -> WrkResult:
    rps = _RPS.search(output)
    requests = _REQUESTS.search(output)
    latency = {m.group(1): float(m.group(2)) * _UNITS[m.group(3)] for m in _LATENCY.finditer(output)}
    if not rps or not requests or "50" not in latency or "99" not in latency:
        raise ValueError(f"cannot parse wrk output:\n{output}")
    errors = 0
    if m := _NON_2XX.search(output):
        errors += int(m.group(1))
    if m := _SOCKET.search(output):
        errors += sum(int(g) for g in m.groups())
    return WrkResult(int(requests.group(1)), float(rps.group(1)), latency["50"], latency["99"], errors, output)


def run(
    url: str, body: str, *, connections: int, duration_s: float, threads: int | None = None, timeout_s: float = 10.0
) -> WrkResult:
    """``wrk -t T -c C -d Ds --latency -s <post body> url`` and its parsed report."""
    threads = threads or max(1, min(2, connections))
    with tempfile.TemporaryDirectory(prefix="modelship-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(lua_script(body))
        argv = [
            find_wrk(),
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration_s:g}s",
            "--timeout",
            f"{timeout_s:g}s",
            "--latency",
            "-s",
            str(script),
            url,
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + timeout_s + 30, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr}\n{done.stdout}")
    return parse(done.stdout)
