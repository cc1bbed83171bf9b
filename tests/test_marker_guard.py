"""The guard of the ``integration`` marker (``devtools/pytest_platform.py``): a test not marked ``integration`` that
starts a server through the project's launchers, runs a server command or listens on a port fails, saying to add
the marker; a marked one may. Run in a pytest of its own on a throwaway test file; nothing is started (the
"servers" are a script named ``postgres`` that would leave a file behind, and ``sleep``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

INNER = """
import socket
import subprocess
from pathlib import Path

import pytest

from devtools import procs

HERE = Path(__file__).parent


def test_procs_start_is_refused(tmp_path):
    procs.start("sleeper", ["sleep", "30"], log_path=HERE / "sleeper.log")


def test_a_server_command_is_refused():
    subprocess.Popen([str(HERE / "postgres"), "-D", str(HERE / "pgdata")])


def test_a_server_command_through_a_shell_is_refused():
    subprocess.run(f"{HERE / 'postgres'} -D pgdata", shell=True)


def test_listening_is_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()


def test_a_caught_refusal_still_fails():
    try:
        procs.start("sleeper", ["sleep", "30"], log_path=HERE / "caught.log")
    except BaseException:
        pass


@pytest.mark.integration
def test_a_marked_test_may_start_one():
    proc = procs.start("true", ["true"], log_path=HERE / "marked.log")
    assert proc.popen.wait(timeout=30) == 0
    subprocess.run([str(HERE / "postgres"), "marked"], check=True)
"""

FAKE_POSTGRES = """#!/bin/sh
echo "$@" >> "$(dirname "$0")/postgres-ran"
"""


def inner_pytest(where: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """A bare pytest in ``where`` with the guard's plugin and nothing else; the run and its output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "devtools.pytest_platform", "-p", "no:cacheprovider", *args, "-q"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, done.stdout + done.stderr


def test_unmarked_tests_that_start_servers_fail_naming_the_marker(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    integration: starts a server\n")
    fake = tmp_path / "postgres"
    fake.write_text(FAKE_POSTGRES)
    fake.chmod(0o755)
    done, out = inner_pytest(tmp_path, "-rA")
    assert done.returncode == 1, out
    advice = "is not marked integration but started a server ({}): add pytest.mark.integration"
    expected = {
        "test_procs_start_is_refused": advice.format("sleeper: sleep 30"),
        "test_a_server_command_is_refused": advice.format(f"{fake} -D {tmp_path / 'pgdata'}"),
        "test_a_server_command_through_a_shell_is_refused": advice.format(f"{fake} -D pgdata"),
        "test_listening_is_refused": "is not marked integration but started a server (it listened on ('127.0.0.1', ",
        "test_a_caught_refusal_still_fails": advice.format("sleeper: sleep 30"),
    }
    # The failures section (the short summary repeats the message, cut to the terminal's width or not).
    failures = out.partition("short test summary info")[0]
    for name, says in expected.items():
        assert f"FAILED test_inner.py::{name}" in out, out
        assert failures.count(f"test_inner.py::{name} {says}") == 1, out  # said once, in the test's failure
    assert "PASSED test_inner.py::test_a_marked_test_may_start_one" in out, out
    assert "5 failed, 1 passed" in out, out
    # Refused before any process existed: no log file opened, the fake server ran only for the marked test.
    assert not (tmp_path / "sleeper.log").exists()
    assert not (tmp_path / "caught.log").exists()
    assert (tmp_path / "postgres-ran").read_text() == "marked\n"


def test_unmarked_tests_using_server_fixtures_are_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            """
            def test_needs_mlflow(mlflow_server):
                pass
            """
        )
    )
    done, out = inner_pytest(tmp_path)
    assert done.returncode == 4, out  # pytest's usage error: nothing ran
    assert "tests using server fixtures but not marked integration (add pytest.mark.integration)" in out, out
    assert "test_inner.py::test_needs_mlflow: mlflow_server" in out, out
