"""Registry metadata is cached per (name, version); a dead or missing registry entry is not asked again at once."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest
from mlflow import MlflowClient

from modelship_common.schemas import penguins
from modelship_scoring.registry_cache import RegistryCache, limit_mlflow_http
from services.conftest import PENGUINS_METRICS


class CountingClient(MlflowClient):
    """A real MlflowClient that counts the model-version lookups it makes."""

    lookups = 0

    def get_model_version(self, name: str, version: str):
        CountingClient.lookups += 1
        return super().get_model_version(name, version)


def make_cache(uri: str, **kw: float) -> RegistryCache:
    CountingClient.lookups = 0
    limit_mlflow_http(5.0)
    values = {"timeout_s": 20.0, "ttl_s": 300.0, "retry_s": 300.0} | kw
    return RegistryCache(lambda: CountingClient(tracking_uri=uri, registry_uri=uri), **values)


@pytest.mark.integration
def test_lookups_are_cached_and_shared(mlflow_uri: str) -> None:
    cache = make_cache(mlflow_uri)

    async def scenario() -> None:
        first, second = await asyncio.gather(cache.get("penguins", "3"), cache.get("penguins", "3"))
        assert first is second
        assert first is not None
        assert first.classes == list(penguins.CLASSES)
        assert first.metrics == {k: float(v) for k, v in PENGUINS_METRICS.items()}
        assert await cache.get("penguins", "3") is first
        assert await cache.get("penguins", "99") is None
        assert await cache.get("penguins", "99") is None
        assert await cache.get("penguins", None) is None

    asyncio.run(scenario())
    assert CountingClient.lookups == 2  # one for version 3, one for the missing version 99


def test_unreachable_registry_gives_none_fast_and_is_not_hammered(dead_url: str) -> None:
    cache = make_cache(dead_url)

    async def scenario() -> None:
        started = time.monotonic()
        assert await cache.get("penguins", "3") is None
        assert await cache.get("penguins", "3") is None
        assert time.monotonic() - started < 15

    asyncio.run(scenario())
    assert CountingClient.lookups == 1


def test_failures_are_retried_after_retry_s(dead_url: str) -> None:
    cache = make_cache(dead_url, retry_s=0.0)

    async def scenario() -> None:
        assert await cache.get("penguins", "3") is None
        assert await cache.get("penguins", "3") is None

    asyncio.run(scenario())
    assert CountingClient.lookups == 2


@pytest.mark.integration  # a silent listener on a loopback port stands in for a registry that never answers
def test_timeout_is_logged_with_a_message(caplog: pytest.LogCaptureFixture) -> None:
    """A registry that accepts connections but never answers: the warning says what happened (not an empty text)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        cache = make_cache(uri, timeout_s=0.5)
        with caplog.at_level(logging.WARNING, logger="modelship_scoring.registry_cache"):
            assert asyncio.run(cache.get("penguins", "3")) is None
    (record,) = [r for r in caplog.records if r.name == "modelship_scoring.registry_cache"]
    assert record.getMessage() == "registry lookup of penguins version 3 failed: no answer within 0.5s"


@pytest.mark.integration
def test_client_is_built_before_the_deadline_starts(mlflow_uri: str) -> None:
    """Building the client (importing MLflow on a cold start) does not count against the lookup's deadline."""

    def slow_client() -> CountingClient:
        time.sleep(1.0)  # a cold ``import mlflow`` takes about this long
        return CountingClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)

    CountingClient.lookups = 0
    cache = RegistryCache(slow_client, timeout_s=0.8, ttl_s=300.0, retry_s=300.0)

    async def scenario() -> None:
        first, second = await asyncio.gather(cache.get("penguins", "3"), cache.get("digits-fast", "1"))
        assert first is not None and first.metrics == {k: float(v) for k, v in PENGUINS_METRICS.items()}
        assert second is not None and second.task == "image"

    asyncio.run(scenario())
    assert CountingClient.lookups == 2
