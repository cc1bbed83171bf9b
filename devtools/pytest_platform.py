"""pytest plugin: the platform's session fixtures, REAL servers started by ``devtools`` once per session.

Registered once by the repository's root ``conftest.py``, so every test directory (root ``tests/``, the
gateway's browser tests, ...) shares one MLflow, one PostgreSQL, one training run and one set of model servers.

MLflow (SQLite + served artifacts) and PostgreSQL are started once; the models are trained once (through
``python -m modelship_training all``, training data in PostgreSQL) and served once by real
``python -m modelship_serving`` processes. Every test that writes gets its own database, model name or
discovery directory. A missing server binary fails the session with the make target that installs it.

It also holds the guard of the ``integration`` marker (at the end): a test not marked ``integration`` that uses a
server fixture, starts a server process or listens on a port fails, saying to add the marker.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools import procs, servers
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


# ------------------------------------------------------------------------------------ the integration marker
#
# ``make test-unit`` runs ``-m "not integration and not slow"`` and promises no server. Three checks keep that
# true for every test not marked ``integration`` (whatever -m says), each failing the test with the marker to add:
#
# - at collection, a test using a server fixture (SERVER_FIXTURES) is a usage error;
# - while the test and its fixtures run, every start through ``devtools.procs.start`` (all of devtools/servers.py,
#   the fixtures above, the streaming and operator conftests) is refused before a process exists;
# - so is, through an audit hook no launcher can go around, any subprocess whose command line is a server
#   (SERVER_COMMANDS: ``mlflow server``, ``postgres``, the stand-in and model servers, ``kubectl port-forward``...),
#   and in this process ``socket.listen`` (http.server, asyncio and aiohttp servers) and uvicorn's startup (on
#   uvloop it listens in C, past socket.listen).
#
# Not seen: a command that is a server only with some arguments (``python -m modelship_streaming`` also fails fast
# with a message, ``python -m modelship_training.data_api`` rejects bad flags in unit tests) started by hand.

#: Fixtures that start a real server process (or need one): MLflow, PostgreSQL, Kafka, MinIO, model servers, the
#: gateway's stand-in model server, a gateway in front of one, the local control plane, the kopf operator.
SERVER_FIXTURES = frozenset(
    {
        # devtools/pytest_platform.py
        "mlflow_server", "tracking_uri", "mlflow_client", "postgres", "pg_database", "trained", "model_servers",
        "penguins_test", "start_gateway", "dashboard",
        # services/conftest.py (gateway and scoring tests), services/gateway/tests
        "standin_url", "mlflow_uri", "gateway_settings", "gateway",
        # services/serving/tests
        "mlflow_registry", "other_registry", "penguins_onnx", "penguins_native", "digits_model",
        # services/streaming/tests
        "kafka", "minio", "digits_servers", "stream",
        # training_jobs/tests/test_collector.py: the sample data API (uvicorn in a thread), a garbage HTTP server
        "api_url", "garbage_url",
        # operators/rollout/tests/integration, charts/tests, tests/e2e
        "cluster", "namespace", "kserve_crd", "default_mlflow", "mlflow_factory", "operator", "release",
    }
)  # fmt: skip

#: Command lines that are servers, as the words they start with (file names; after an interpreter and its options:
#: ``bash scripts/k8s/control-plane.sh up``, ``.venv/bin/python -m modelship_serving``, ``.venv/bin/mlflow server``).
SERVER_COMMANDS = (
    ("postgres",), ("initdb",), ("pg_ctl",), ("etcd",), ("kube-apiserver",), ("kube-controller-manager",),
    ("kube-scheduler",), ("kwok",), ("uvicorn",), ("gunicorn",), ("standin_server.py",), ("otlp_receiver.py",),
    ("mlflow", "server"), ("mlflow", "models", "serve"), ("mlflow", "ui"), ("minio", "server"), ("kafka.sh", "run"),
    ("kafka-server-start.sh",), ("kopf", "run"), ("control-plane.sh", "up"),
    ("-m", "mlflow", "server"), ("-m", "mlflow", "models", "serve"), ("-m", "modelship_serving"),
    ("-m", "modelship_gateway"), ("-m", "modelship_operator"), ("-m", "uvicorn"), ("-m", "devtools.demo"),
    ("-m", "http.server"),
)  # fmt: skip
_INTERPRETERS = ("bash", "sh", "env", "nohup", "setsid")


def server_command(argv: Any) -> str | None:
    """The command line, when ``argv`` starts a server (SERVER_COMMANDS, ``kubectl ... port-forward``); else None."""
    if isinstance(argv, str | bytes | os.PathLike):
        argv = [argv]
    words = [os.fsdecode(a) for a in argv]
    if not words or "--help" in words:
        return None
    names = [os.path.basename(w) for w in words]
    if len(words) > 2 and names[0] in ("sh", "bash") and words[1] == "-c":  # shell=True, os.system
        try:
            return server_command(shlex.split(words[2]))
        except ValueError:
            return None
    i = 0  # skip interpreters and their options (not -m: a module is the program)
    while i < len(names) and (names[i] in _INTERPRETERS or names[i].startswith("python")):
        i += 1
        while i < len(names) and names[i].startswith("-") and names[i] != "-m":
            i += 1
    program = tuple(names[i:])
    if any(program[: len(command)] == command for command in SERVER_COMMANDS) or (
        program[:1] == ("kubectl",) and "port-forward" in program
    ):
        return " ".join(words)
    return None


_unit_test: list[str] = []  # the nodeid of the unmarked test running now (setup and call), else empty
_refused: dict[str, str] = {}  # nodeid -> the first server it tried to start
_guard_lock = threading.Lock()


def _refuse(what: str) -> None:
    """In an unmarked test: remember and fail (pytest's Failed is a BaseException: ``except Exception`` in a
    launcher or a server thread cannot swallow the verdict, which the runtest hooks give again at the end)."""
    with _guard_lock:
        nodeid = _unit_test[0] if _unit_test else None
        if nodeid is None:
            return
        _refused.setdefault(nodeid, what)
    pytest.fail(_message(nodeid, what), pytrace=False)


_REFUSED = "is not marked integration but started a server"


def _message(nodeid: str, what: str) -> str:
    return (
        f"{nodeid} {_REFUSED} ({what}): add pytest.mark.integration "
        '(make test-unit runs -m "not integration and not slow" and starts no server)'
    )


def _check_start(name: str, argv: Any) -> None:
    _refuse(f"{name}: {' '.join(map(str, argv))}")


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _unit_test:  # the common case, first: this hook sees every audited event in the process
        return
    if event == "subprocess.Popen" or event == "os.posix_spawn":
        argv = args[1]
    elif event == "os.system":
        argv = ["sh", "-c", os.fsdecode(args[0])]
    else:
        return
    what = server_command(argv)
    if what is not None:
        _refuse(what)


_real_listen = socket.socket.listen


def _guarded_listen(self: socket.socket, *args: int) -> None:
    if _unit_test:
        _refuse(f"it listened on {self.getsockname()}")
    return _real_listen(self, *args)


def _guard_uvicorn() -> None:
    """uvicorn's Server.startup refuses in unmarked tests (patched once uvicorn is imported; importing it here
    would cost every test run the import)."""
    server = sys.modules.get("uvicorn.server")
    if server is None or getattr(server.Server.startup, "_modelship_guard", False):
        return
    real_startup = server.Server.startup

    async def startup(self: Any, *args: Any, **kwargs: Any) -> Any:
        config = self.config
        _refuse(f"uvicorn on {config.host}:{config.port}")
        return await real_startup(self, *args, **kwargs)

    startup._modelship_guard = True  # type: ignore[attr-defined]
    server.Server.startup = startup


if not getattr(socket.socket.listen, "_modelship_guard", False):  # once per process, however often imported
    _guarded_listen._modelship_guard = True  # type: ignore[attr-defined]
    socket.socket.listen = _guarded_listen  # type: ignore[method-assign,assignment]
    procs.START_CHECKS.append(_check_start)
    sys.addaudithook(_audit)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses a server fixture must be marked ``integration``."""
    wrong = []
    for item in items:
        used = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if used and item.get_closest_marker("integration") is None:
            wrong.append(f"  {item.nodeid}: {', '.join(sorted(used))}")
    if wrong:
        raise pytest.UsageError(
            "tests using server fixtures but not marked integration (add pytest.mark.integration):\n" + "\n".join(wrong)
        )


@contextmanager
def _guarded(item: pytest.Item) -> Iterator[None]:
    """Refuse server starts while an unmarked test (or its fixtures) runs; fail it if it tried, even when the
    refusal was caught (a server thread, ``except BaseException``)."""
    if item.get_closest_marker("integration") is not None:
        yield
        return
    _guard_uvicorn()
    with _guard_lock:
        _unit_test[:] = [item.nodeid]
    raised: BaseException | None = None
    try:
        yield
    except BaseException as exc:
        raised = exc
        raise
    finally:
        with _guard_lock:
            _unit_test.clear()
            what = _refused.pop(item.nodeid, None)
        if what is not None and not (isinstance(raised, pytest.fail.Exception) and _REFUSED in str(raised)):
            pytest.fail(_message(item.nodeid, what), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _guarded(item):
        return (yield)
