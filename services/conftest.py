"""Real servers shared by the gateway's and the scoring core's tests (one of each per session): a KServe stand-in
model server (``services/gateway/tests/standin_server.py``), an MLflow server with the stand-in models registered,
and a URL nothing listens on.

That MLflow is not the session's one (``tracking_uri`` of ``devtools/pytest_platform.py``), though started by the
same launcher (``devtools.servers.start_mlflow``): the gateway looks a model's registry metadata up under the name it
serves the model by (``RegistryCache.get(endpoint.name, version)``, no mapping), and the tests check that name,
``penguins`` version 3 and ``digits-fast`` version 1, with the stand-in's metrics. On the session's server those
names are the real models ``trained`` registers (``penguins`` has a version 3 of its own, other metrics), which
other suites serve by alias. Sharing it needs the stand-in's names to differ from those, which means editing the
gateway and scoring tests that spell them out.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from devtools import servers
from modelship_common.registry import CLASSES_TAG, SERVE_TAG, TASK_TAG
from modelship_common.schemas import digits, penguins
from services.gateway.tests.testkit import TESTS_DIR, Process, free_port, http_ok, python_env, wait_until

#: What the stand-in server serves: name -> (version, kind).
STANDIN_MODELS = {"penguins": ("3", "tabular"), "digits-fast": ("1", "image"), "broken": ("1", "broken")}
PENGUINS_METRICS = {"test_accuracy": "0.985", "test_f1": "0.9851", "test_precision": "0.986", "test_recall": "0.985"}
DIGITS_METRICS = {"test_accuracy": "0.93", "test_f1": "0.931"}


@pytest.fixture(scope="session")
def standin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real KServe ModelServer (subprocess) serving the deterministic stand-in models."""
    port = free_port()
    log = tmp_path_factory.mktemp("standin") / "server.log"
    args = [
        sys.executable,
        str(TESTS_DIR / "standin_server.py"),
        "--http_port",
        str(port),
        "--enable_grpc",
        "false",
    ]
    for name, (version, kind) in STANDIN_MODELS.items():
        args += ["--serve", f"{name}:{version}:{kind}"]
    proc = Process(args, log=log, env=python_env(), cwd=TESTS_DIR)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: http_ok(f"{url}/v2/health/ready"),
            deadline_s=180,
            what="stand-in model server",
            alive=proc.alive,
            log=log,
        )
        yield url
    finally:
        proc.stop()


def _register(client: Any, name: str, task: str, classes: tuple[str, ...], version: str, metrics: dict[str, str]):
    client.create_registered_model(
        name, tags={SERVE_TAG: "true", TASK_TAG: task, CLASSES_TAG: json.dumps(list(classes))}
    )
    for number in range(1, int(version) + 1):
        run = client.create_run("0")
        tags = metrics if str(number) == version else {"test_f1": "0.5"}
        client.create_model_version(name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags=tags)


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` of its own (see the module's docstring) with the stand-in models registered, tagged
    and measured."""
    with servers.start_mlflow(tmp_path_factory.mktemp("standin-mlflow"), timeout=300) as proc:
        from mlflow import MlflowClient

        uri = str(proc.url)
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        _register(client, "penguins", "tabular", penguins.CLASSES, STANDIN_MODELS["penguins"][0], PENGUINS_METRICS)
        _register(client, "digits-fast", "image", digits.CLASSES, STANDIN_MODELS["digits-fast"][0], DIGITS_METRICS)
        yield uri


@pytest.fixture
def dead_url() -> str:
    """A URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"
