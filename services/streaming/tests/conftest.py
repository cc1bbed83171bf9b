"""Session servers for the streaming tests, all REAL: Kafka (KRaft, Maven Central jars), MinIO (go install),
MLflow with three small digits models, and one ``python -m modelship_serving`` per model; PostgreSQL is the test
session's one (``postgres`` in ``devtools/pytest_platform.py``), a database per test. The streaming tests keep an
MLflow of their own: they register their small CNN as ``digits-fast``/``-balanced``/``-accurate``, which on the
session's MLflow would become new versions of the trained models other tests read.

A server that is not installed fails the session with the make target that installs it (never a skip).
Every test gets its own topics, consumer group, bucket and database (:func:`infra.pipeline`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools import servers
from devtools.procs import Proc, ProcGroup, ServerError
from services.streaming.tests import infra


def _started(what: Callable[[], Proc]) -> Proc:
    try:
        return what()
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def stream_dir(session_dir: Path) -> Path:
    """Where the streaming tests' own servers (Kafka, MinIO) keep their state: under the session's directory."""
    (session_dir / "streaming").mkdir(exist_ok=True)
    return session_dir / "streaming"


@pytest.fixture(scope="session")
def stream_logs(log_dir: Path) -> Path:
    """The session's log directory (devtools.pytest_platform), where every server's log of the session goes."""
    return log_dir


@pytest.fixture(scope="session")
def kafka(stream_dir: Path) -> Iterator[dict[str, Proc]]:
    """The broker, in a dict so a test that restarts it can put the new process back."""
    holder = {"proc": _started(lambda: infra.start_kafka(stream_dir / "kafka"))}
    yield holder
    holder["proc"].stop(timeout=30)


@pytest.fixture(scope="session")
def minio(stream_dir: Path) -> Iterator[Proc]:
    proc = _started(lambda: infra.start_minio(stream_dir / "minio"))
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def mlflow_server(stream_dir: Path) -> Iterator[Proc]:
    proc = _started(lambda: servers.start_mlflow(stream_dir / "mlflow"))
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def digits_versions(mlflow_server: Proc) -> dict[str, str]:
    """The three digits models, registered once: name -> version."""
    return infra.register_digits_models(str(mlflow_server.url))


@pytest.fixture(scope="session")
def digits_servers(
    mlflow_server: Proc, digits_versions: dict[str, str], stream_logs: Path
) -> Iterator[dict[str, Proc]]:
    """The three digits models, each served by its own model server."""
    procs = _started_many(lambda: infra.start_model_servers(str(mlflow_server.url), digits_versions, stream_logs))
    yield procs
    for proc in procs.values():
        proc.stop()


def _started_many(what: Callable[[], dict[str, Proc]]) -> dict[str, Proc]:
    try:
        return what()
    except ServerError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def procs() -> Iterator[ProcGroup]:
    """Processes a test starts (gateways, workers), stopped at its end."""
    group = ProcGroup()
    yield group
    group.stop_all()


@pytest.fixture
def stream(
    kafka: dict[str, Proc], minio: Proc, postgres: Proc, mlflow_server: Proc, digits_servers: dict[str, Proc]
) -> infra.Pipeline:
    """This test's topics, consumer group, bucket and PostgreSQL database."""
    database_url = servers.create_database(postgres, f"s_{uuid.uuid4().hex[:12]}")
    return infra.pipeline(
        bootstrap=kafka["proc"].meta["bootstrap"],
        minio=minio,
        database_url=database_url,
        tracking_uri=str(mlflow_server.url),
        model_servers=digits_servers,
    )
