"""Model-version metadata from the MLflow registry (task, classes, test metrics), cached per (name, version).

The gateway must keep predicting when MLflow is slow or down: every lookup has a deadline, a failure is
remembered for ``retry_s`` seconds (so a dead MLflow is not asked on every request), and callers get ``None``.
Concurrent callers for the same version share one lookup.

The deadline covers the registry call only: the MLflow client (and the import of ``mlflow``, a second or more)
is built once, by :meth:`RegistryCache.open` at startup or else before the first timed lookup.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelship_common.errors import ModelNotFound
from modelship_common.registry import ModelVersionInfo, version_info

log = logging.getLogger(__name__)


def limit_mlflow_http(timeout_s: float) -> None:
    """Make MLflow's REST client fail fast instead of retrying for minutes (unless the environment says otherwise)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(max(1, math.ceil(timeout_s))))


def mlflow_client_factory(tracking_uri: str) -> Callable[[], Any]:
    def build() -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    return build


@dataclass
class _Entry:
    task: asyncio.Task[ModelVersionInfo | None]
    expires_at: float = field(default=math.inf)


class RegistryCache:
    """``await cache.get(name, version)`` -> :class:`ModelVersionInfo`, or ``None`` when MLflow cannot say."""

    def __init__(
        self,
        client_factory: Callable[[], Any],
        *,
        timeout_s: float,
        ttl_s: float,
        retry_s: float,
    ) -> None:
        self._client_factory = client_factory
        self._client: Any = None
        self._building: asyncio.Task[Any] | None = None
        self.timeout_s = timeout_s
        self.ttl_s = ttl_s
        self.retry_s = retry_s
        self._entries: dict[tuple[str, str], _Entry] = {}

    async def open(self) -> None:
        """Build the MLflow client now (at startup), so the first lookup's deadline is not spent importing MLflow.

        Building the client does not contact MLflow; a failure is logged and retried by the first lookup.
        """
        try:
            await self._get_client()
        except Exception as exc:
            log.warning("cannot build the MLflow client: %r", exc)

    async def _get_client(self) -> Any:
        """The client, built once in a worker thread; concurrent first callers share the build."""
        if self._client is not None:
            return self._client
        if self._building is None:
            self._building = asyncio.get_running_loop().create_task(asyncio.to_thread(self._client_factory))
        building = self._building
        try:
            self._client = await asyncio.shield(building)
        except BaseException:
            if building.done() and self._building is building:
                self._building = None  # failed: the next lookup tries again
            raise
        return self._client

    async def _fetch(self, key: tuple[str, str]) -> ModelVersionInfo | None:
        ttl = self.ttl_s
        try:
            client = await self._get_client()  # outside the deadline: the import alone can take longer
            return await asyncio.wait_for(asyncio.to_thread(version_info, client, *key), self.timeout_s)
        except ModelNotFound:
            ttl = self.retry_s
            log.info("model %s version %s is not in the registry", *key)
            return None
        except TimeoutError:
            ttl = self.retry_s
            log.warning("registry lookup of %s version %s failed: no answer within %gs", *key, self.timeout_s)
            return None
        except Exception as exc:  # MLflow down, slow or confused: metadata is optional.
            ttl = self.retry_s
            log.warning("registry lookup of %s version %s failed: %r", *key, exc)
            return None
        finally:
            entry = self._entries.get(key)
            if entry is not None:
                entry.expires_at = time.monotonic() + ttl

    async def get(self, name: str, version: str | None) -> ModelVersionInfo | None:
        if not version:
            return None
        key = (name, version)
        entry = self._entries.get(key)
        if entry is None or entry.expires_at <= time.monotonic():
            entry = _Entry(task=asyncio.get_running_loop().create_task(self._fetch(key)))
            self._entries[key] = entry
        return await asyncio.shield(entry.task)
