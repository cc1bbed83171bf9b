"""Repository-wide pytest setup: the platform's session fixtures, registered once for every test directory, and
the check that keeps the ``integration`` marker honest."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

pytest_plugins = ["devtools.pytest_platform"]

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses a server fixture must be marked ``integration``, so that ``-m "not integration"``
    (``make test-unit``) starts no server. Tests that start a server themselves carry the marker by hand; an
    unmarked one that listens on a socket in this process fails at run time (:func:`pytest_runtest_setup`)."""
    wrong = []
    for item in items:
        used = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if used and item.get_closest_marker("integration") is None:
            wrong.append(f"  {item.nodeid}: {', '.join(sorted(used))}")
    if wrong:
        raise pytest.UsageError(
            "tests using server fixtures but not marked integration (add pytest.mark.integration):\n" + "\n".join(wrong)
        )


# What the collection check cannot see: a test that starts a server in its own body. For servers in this process
# on Python sockets (http.server in a thread, asyncio/aiohttp's TestServer) every unmarked test runs with
# socket.listen refused and fails naming the marker. Beyond both checks, so marked by hand: a server started as a
# subprocess by an unmarked test (``subprocess.Popen([... "-m", "modelship_gateway"])``), and uvicorn on uvloop
# (uvicorn's default loop here), which listens in C without calling socket.listen.
_real_listen = socket.socket.listen
_unit_test: list[str] = []  # the nodeid of the unmarked test running now (setup and call), else empty
_listened: dict[str, str] = {}  # nodeid -> what the refused listen said
_lock = threading.Lock()


def _guarded_listen(self: socket.socket, *args: int) -> None:
    with _lock:
        nodeid = _unit_test[0] if _unit_test else None
    if nodeid is None:
        return _real_listen(self, *args)
    address = self.getsockname()
    _listened.setdefault(nodeid, f"it listened on {address}")
    raise OSError(f"a test not marked integration may not listen on a socket ({address}): add pytest.mark.integration")


socket.socket.listen = _guarded_listen  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _no_socket_listen_outside_integration(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail an unmarked test that listened, even when the server swallowed the error in its own thread."""
    yield
    said = _listened.pop(request.node.nodeid, None)
    if said is not None:
        pytest.fail(f"{request.node.nodeid} is not marked integration but {said}: add pytest.mark.integration")


@contextmanager
def _guard(item: pytest.Item) -> Iterator[None]:
    """Refuse socket.listen while an unmarked test (or its fixtures) runs."""
    if item.get_closest_marker("integration") is not None:
        yield
        return
    with _lock:
        _unit_test[:] = [item.nodeid]
    try:
        yield
    finally:
        with _lock:
            _unit_test.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _guard(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _guard(item):
        return (yield)
