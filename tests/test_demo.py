"""``devtools.demo`` smoke test: the launcher comes up, its printed curl examples work, SIGINT stops everything.

The demo gets a temporary state dir seeded with a copy of this session's trained MLflow store (so it reuses
models instead of retraining, like a second ``make demo``) and fresh ports.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from devtools import servers
from devtools.procs import free_port, poll_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def seed_state(session_dir: Path, state: Path) -> None:
    """Copy the session's MLflow store (consistent SQLite backup + artifact tree) into the demo's layout."""
    import shutil

    src = session_dir / "mlflow"
    (state / "mlflow").mkdir(parents=True)
    with sqlite3.connect(src / "mlflow.db") as a, sqlite3.connect(state / "mlflow" / "mlflow.db") as b:
        a.backup(b)
    shutil.copytree(src / "mlartifacts", state / "mlflow" / "mlartifacts")


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (walks /proc parent links)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2] != "Z"


def run_curl(command: str) -> httpx.Response:
    """Do what a printed ``curl -s -X POST URL [-H h] [-d body | -F field=@path]`` line does, over HTTP."""
    args = shlex.split(command)
    assert args[0] == "curl"
    url, headers, data, files = None, {}, None, {}
    it = iter(args[1:])
    for arg in it:
        if arg in ("-s", "-sS"):
            continue
        if arg == "-X":
            assert next(it) == "POST"
        elif arg == "-H":
            key, value = next(it).split(":", 1)
            headers[key.strip()] = value.strip()
        elif arg == "-d":
            data = next(it).encode()
        elif arg == "-F":
            field, value = next(it).split("=", 1)
            path = Path(value.removeprefix("@"))
            files[field] = (path.name, path.read_bytes(), "image/png")
        elif arg.startswith("http"):
            url = arg
        else:
            raise AssertionError(f"unexpected curl argument {arg!r} in {command!r}")
    assert url
    return httpx.post(url, content=data, headers=headers, files=files or None, timeout=60)


def canary_in_the_demo(tracking_uri: str, gateway: str, state: Path, lines: list[str]) -> None:
    """A new penguins version as ``challenger``: the demo's controller starts a Canary rollout with a model server of
    its own, the gateway sends it a share of the callers; a rollback stops that server and drops the alias."""
    from mlflow import MlflowClient

    from modelship_common import registry
    from modelship_common.db import make_engine
    from modelship_common.rollout.tables import active_rollout, get_rollout, record_decision

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    champion = client.get_model_version_by_alias("penguins", registry.CHAMPION)
    model_id = getattr(champion, "model_id", None) or champion.source.rsplit("/", 1)[-1]
    new = client.create_model_version(
        "penguins", champion.source, run_id=champion.run_id, tags=champion.tags, model_id=model_id
    )
    engine = make_engine(f"sqlite:///{state / 'predictions.db'}")
    try:
        # Training leaves its runner-up as challenger; the demo canaries it from the start. Moving the alias while
        # that canary runs aborts it (it is not judged to the end first).
        seeded = client.get_registered_model("penguins").aliases.get(registry.CHALLENGER)
        earlier = None
        if seeded is not None and seeded != champion.version:
            earlier = poll_until(
                lambda: (r := active_rollout(engine, "penguins")) is not None and r.candidate_version == seeded and r,
                timeout=120,
                what=f"the demo's rollout of the seeded challenger, version {seeded}",
            )
    finally:
        engine.dispose()
    client.set_registered_model_alias("penguins", registry.CHALLENGER, new.version)
    answered: set[str] = set()

    deadline = time.monotonic() + 240
    while str(new.version) not in answered:
        assert time.monotonic() < deadline, (
            f"the demo's canary (version {new.version!r}) did not answer through the gateway in 240 s; answers came "
            f"from {sorted(answered)}; demo output:\n{''.join(lines)[-3000:]}"
        )
        body = {"instances": [["Dream", 39.5, 17.4, 186, 3800, "female"]]}
        resp = httpx.post(f"{gateway}/api/models/penguins/predict", json=body, timeout=30)
        assert resp.status_code == 200, resp.text
        answered.add(str(resp.json()["version"]))
    output = "".join(lines)
    assert "Canary rollout" in output and f"version {new.version} against {champion.version}" in output, output
    if earlier is not None:
        assert f"rollout {earlier.id} of penguins: aborted: alias challenger moved to version {new.version}" in output
        assert f"candidate {earlier.candidate_version} stopped (Aborted)" in output, output
    engine = make_engine(f"sqlite:///{state / 'predictions.db'}")
    try:
        if earlier is not None:
            ended = get_rollout(engine, earlier.id)
            assert ended is not None and (ended.phase, ended.candidate_url) == ("Aborted", None), ended
        rollout = active_rollout(engine, "penguins")
        assert rollout is not None and rollout.phase == "Canary" and rollout.candidate_url
        record_decision(engine, rollout, "rollback", reason="manual: the demo test")
    finally:
        engine.dispose()
    poll_until(
        lambda: f"candidate {new.version} stopped (RolledBack)" in "".join(lines),
        timeout=60,
        what="the demo stopping the rolled-back candidate",
    )
    assert registry.CHALLENGER not in (client.get_model_version("penguins", new.version).aliases or [])
    assert client.get_model_version("penguins", new.version).tags.get("modelship.io/rollout-decision") == "rollback"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{rollout.candidate_url}/v2/health/ready", timeout=5)


def test_demo_starts_serves_the_curl_examples_and_stops_on_sigint(trained, session_dir, tmp_path):
    state = tmp_path / "demo"
    seed_state(session_dir, state)
    port, mlflow_port, serving_port = free_port(), free_port(), free_port()
    argv = [
        servers.PYTHON,
        "-m",
        "devtools.demo",
        "--state-dir",
        str(state),
        "--port",
        str(port),
        "--mlflow-port",
        str(mlflow_port),
        "--serving-port",
        str(serving_port),
    ]
    demo = subprocess.Popen(
        argv,
        cwd=servers.REPO_ROOT,
        env=servers.server_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(demo.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:

        def up() -> bool:
            assert demo.poll() is None, "demo exited early:\n" + "".join(lines)
            return any("Press Ctrl-C to stop." in line for line in lines)

        poll_until(up, timeout=300, what="demo")
        output = "".join(lines)
        assert "registry already has every model" in output and "[train]" not in output, output  # reused them
        assert f"http://127.0.0.1:{port}" in output
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
        curls = [line.strip() for line in lines if line.strip().startswith("curl ")]
        assert len(curls) == 2, output
        penguin = run_curl(curls[0])
        assert penguin.status_code == 200, penguin.text
        assert penguin.json()["model"] == "penguins"
        assert penguin.json()["predictions"][0]["class_name"] == "Gentoo"
        image = run_curl(curls[1])
        assert image.status_code == 200, image.text
        assert image.json()["predictions"][0]["class_name"] == "7"
        models = httpx.get(f"http://127.0.0.1:{port}/api/models", timeout=30).json()
        assert {m["name"] for m in models} >= {"penguins", "digits-fast", "digits-balanced", "digits-accurate"}
        assert all(m["ready"] for m in models)

        canary_in_the_demo(f"http://127.0.0.1:{mlflow_port}", f"http://127.0.0.1:{port}", state, lines)

        children = descendants(demo.pid)
        assert len(children) >= 6, children  # MLflow, 4 model servers, gateway (and their workers)
        os.kill(demo.pid, signal.SIGINT)
        assert demo.wait(timeout=90) == 0, "".join(lines)
        reader.join(timeout=10)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [p for p in children if alive(p)] == [], "processes left behind by the demo"
        for p in (port, mlflow_port):
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://127.0.0.1:{p}/", timeout=5)
        assert "stopped" in "".join(lines)
    finally:
        if demo.poll() is None:  # the test failed midway: kill the demo and everything it started
            leftovers = descendants(demo.pid)
            os.killpg(demo.pid, signal.SIGKILL)
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            demo.wait()


def test_demo_refuses_a_busy_port(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        done = subprocess.run(
            [servers.PYTHON, "-m", "devtools.demo", "--state-dir", str(tmp_path), "--port", str(busy)],
            cwd=servers.REPO_ROOT,
            env=servers.server_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert f"port {busy}" in done.stderr and "--port" in done.stderr
    assert not (tmp_path / "mlflow").exists()  # nothing was started
