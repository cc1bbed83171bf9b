"""pytest plugin: the platform's session fixtures, REAL servers started by ``devtools`` once per session.

Registered once by the repository's root ``conftest.py``, so every test directory (root ``tests/``, the
gateway's browser tests, ...) shares one MLflow, one PostgreSQL, one training run and one set of model servers.

MLflow (SQLite + served artifacts) and PostgreSQL are started once; the models are trained once (through
``python -m modelship_training all``, training data in PostgreSQL) and served once by real
``python -m modelship_serving`` processes. Every test that writes gets its own database, model name or
discovery directory. A missing server binary fails the session with the make target that installs it.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools import servers
from devtools.procs import Proc, ProcGroup, tail

DIGITS_MODELS = ("digits-fast", "digits-balanced", "digits-accurate")
TRAIN_TIMEOUT_S = 1200


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("modelship")


@pytest.fixture(scope="session")
def log_dir(session_dir: Path) -> Path:
    path = session_dir / "logs"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def mlflow_server(session_dir: Path) -> Iterator[Proc]:
    proc = servers.start_mlflow(session_dir / "mlflow")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def tracking_uri(mlflow_server: Proc) -> str:
    import mlflow

    uri = str(mlflow_server.url)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


@pytest.fixture(scope="session")
def mlflow_client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Proc]:
    pg = servers.start_postgres()
    yield pg
    servers.stop_postgres(pg)


@pytest.fixture
def pg_database(postgres: Proc) -> str:
    """A fresh PostgreSQL database for one test; its SQLAlchemy URL."""
    return servers.create_database(postgres, f"t_{uuid.uuid4().hex[:12]}")


@dataclass(frozen=True)
class Trained:
    """The result of the session's one training run."""

    tracking_uri: str
    client: Any
    database_url: str
    log: Path
    seconds: float


@pytest.fixture(scope="session")
def trained(tracking_uri: str, mlflow_client: Any, postgres: Proc, log_dir: Path) -> Trained:
    """Train penguins + digits once, for real, against the session's MLflow; training data in PostgreSQL."""
    database_url = servers.create_database(postgres, "training")
    log = log_dir / "training.log"
    env = servers.server_env(
        {
            "MODELSHIP_MLFLOW_TRACKING_URI": tracking_uri,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MODELSHIP_DATABASE_URL": database_url,
        }
    )
    started = time.monotonic()
    with open(log, "w") as out:
        done = subprocess.run(
            [servers.PYTHON, "-m", "modelship_training", "--tracking-uri", tracking_uri, "all"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=servers.REPO_ROOT,
            timeout=TRAIN_TIMEOUT_S,
            check=False,
        )
    if done.returncode != 0:
        pytest.fail(f"training failed with exit code {done.returncode}; {log}:\n{tail(log, 60)}", pytrace=False)
    return Trained(tracking_uri, mlflow_client, database_url, log, time.monotonic() - started)


@pytest.fixture(scope="session")
def model_servers(trained: Trained, log_dir: Path) -> Iterator[dict[str, Proc]]:
    """Real model servers: ``penguins@champion`` and the three digits models at their champions."""
    group = ProcGroup()
    procs: dict[str, Proc] = {}
    try:
        for name in ("penguins", *DIGITS_MODELS):
            procs[name] = group.add(
                servers.start_model_server(
                    f"models:/{name}@champion",
                    tracking_uri=trained.tracking_uri,
                    log_dir=log_dir,
                    model_name=name,
                    wait=False,
                )
            )
        for name, proc in procs.items():
            proc.wait_http(f"/v2/models/{name}/ready", timeout=180)
        yield procs
    finally:
        group.stop_all()


@pytest.fixture(scope="session")
def penguins_test(trained: Trained) -> tuple[Any, Any]:
    """The penguins held-out rows (encoded float32 (n, 9)) and labels, split exactly as training split them."""
    from devtools.datasets import penguins_test_split

    return penguins_test_split(trained.database_url)


@pytest.fixture(scope="session")
def digits_test() -> tuple[Any, Any]:
    """The digits held-out images (float32 (n, 28, 28, 1)) and labels."""
    from devtools.datasets import digits_test_split

    return digits_test_split()


@pytest.fixture
def start_gateway(tracking_uri: str, log_dir: Path, tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """Factory: start a gateway with its own database (SQLite in tmp_path unless given) and discovery dir."""
    group = ProcGroup()

    def _start(
        *,
        model_servers: dict[str, str] | None = None,
        discovery_dir: Path | None = None,
        database_url: str | None = None,
        **env: str,
    ) -> Proc:
        url = database_url or f"sqlite:///{tmp_path / f'predictions-{uuid.uuid4().hex[:6]}.db'}"
        proc = servers.start_gateway(
            tracking_uri=tracking_uri,
            database_url=url,
            log_dir=log_dir,
            model_servers=model_servers,
            discovery_dir=discovery_dir,
            env=env,
        )
        proc.meta["database_url"] = url
        return group.add(proc)

    yield _start
    group.stop_all()


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Tracing on in this process (the services' and the operator's code alike), spans kept in an
    InMemorySpanExporter (the global provider is left alone)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from modelship_common import tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_provider", provider)
    yield exporter
    provider.shutdown()
