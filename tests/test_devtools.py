"""The process launcher itself: readiness with a deadline, log tails in errors, whole-group shutdown, busy ports."""

from __future__ import annotations

import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from devtools import procs, servers

pytestmark = pytest.mark.integration


def test_a_process_that_dies_before_ready_fails_with_its_log_tail(tmp_path):
    proc = procs.start(
        "crasher",
        [sys.executable, "-c", "print('boom: missing config'); raise SystemExit(3)"],
        log_path=tmp_path / "crasher.log",
    )
    with pytest.raises(procs.ServerError, match=r"(?s)exited with code 3.*boom: missing config"):
        proc.wait_ready(lambda: False, timeout=30)


def test_readiness_timeout_stops_the_process_and_shows_the_log(tmp_path):
    proc = procs.start(
        "sleeper",
        [sys.executable, "-c", "print('still starting', flush=True); import time; time.sleep(60)"],
        log_path=tmp_path / "sleeper.log",
    )
    started = time.monotonic()
    with pytest.raises(procs.ServerError, match=r"(?s)not ready within 1s.*still starting"):
        proc.wait_ready(lambda: False, timeout=1)
    assert time.monotonic() - started < 20
    assert not proc.running()


def test_stop_ends_the_whole_process_group_including_grandchildren(tmp_path):
    # The child ignores SIGTERM and starts a grandchild that does too: stop() must escalate to SIGKILL.
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal,time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    log = tmp_path / "stubborn.log"
    proc = procs.start("stubborn", [sys.executable, "-c", script], log_path=log)

    def pid_in_log() -> int | None:
        words = log.read_text().split()
        return int(words[-1]) if words and words[-1].isdigit() else None

    grandchild = procs.poll_until(pid_in_log, timeout=30, what="grandchild pid")
    assert proc.group_alive()
    started = time.monotonic()
    proc.stop(timeout=1)
    assert time.monotonic() - started < 15
    assert proc.popen.returncode == -signal.SIGKILL
    assert not proc.group_alive()
    assert not procs._group_has_live_members(proc.pid)
    assert not alive(grandchild)


def alive(pid: int) -> bool:
    """True for a live process; a zombie (killed, not yet reaped) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def test_busy_port_is_reported_with_the_flag_to_change_it():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not procs.port_is_free(port)
        with pytest.raises(procs.PortInUse, match=rf"gateway: port {port} .* in use.*--port"):
            procs.require_free_port(port, "gateway", "--port")
    assert procs.port_is_free(procs.free_port())


def test_postgres_binaries_are_installed():
    """`make services` installs them; a machine without them fails here with that hint, never skips."""
    pg_bin = servers.find_pg_bin()
    assert (pg_bin / "initdb").exists() and (pg_bin / "postgres").exists()


def test_wrk_parser_reads_latency_distribution():
    from devtools import wrk

    out = """Running 5s test @ http://127.0.0.1:1/x
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  300.00us   9.00ms   90.00%
    Req/Sec     3.60k   200.00     4.00k    70.00%
  Latency Distribution
     50%    1.05ms
     75%    1.20ms
     90%    1.40ms
     99%    2.50ms
  35800 requests in 5.00s, 9.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   7160.00
Transfer/sec:      1.80MB
"""
    result = wrk.parse(out)
    assert (result.requests, result.rps, result.p50_ms, result.p99_ms, result.errors) == (35800, 7160.0, 1.05, 2.5, 3)
    assert wrk.parse(out.replace("2.50ms", "850.00us")).p99_ms == pytest.approx(0.85)
    assert "]==]" in wrk.lua_script('{"a": "]]"}') or "]=]" in wrk.lua_script('{"a": "]]"}')
