"""The served models right now: discovery, each model server's own word on version and readiness, and the
registry's metadata (task, classes, test metrics) for that version.

A model is listed ready when its model server says so and its discovery source does not say otherwise (an
InferenceService whose Ready condition is False, e.g. mid-rollout or after a failed rollout, is listed not
ready, with the condition's reason as the error). Routing (:meth:`ModelInventory.find`) and the image fan-out
follow the model server alone: a server that answers keeps answering during a rollout.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from modelship_common.errors import ModelNotFound
from modelship_scoring.discovery import Discovery, Endpoint
from modelship_scoring.model_servers import ModelServerClient, ServerStatus
from modelship_scoring.registry_cache import RegistryCache


@dataclass(frozen=True)
class ModelSummary:
    """One served model as ``GET /api/models`` shows it."""

    name: str
    url: str
    ready: bool
    version: str | None = None
    task: str | None = None
    classes: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    #: What the model server alone says (``ready`` also weighs the discovery source's readiness).
    server_ready: bool = False


class ModelInventory:
    def __init__(
        self, discovery: Discovery, client: ModelServerClient, registry: RegistryCache, *, probe_timeout_s: float
    ) -> None:
        self.discovery = discovery
        self.client = client
        self.registry = registry
        self.probe_timeout_s = probe_timeout_s

    async def find(self, name: str) -> Endpoint:
        """The endpoint serving ``name``; :class:`ModelNotFound` when no source knows it."""
        endpoints = await self.discovery.endpoints()
        for endpoint in endpoints:
            if endpoint.name == name:
                return endpoint
        known = ", ".join(ep.name for ep in endpoints) or "none"
        raise ModelNotFound(f"model {name!r} is not served (served models: {known})")

    async def _summary(self, endpoint: Endpoint) -> ModelSummary:
        status: ServerStatus = await self.client.status(endpoint, self.probe_timeout_s)
        info = await self.registry.get(endpoint.name, status.version)
        vetoed = endpoint.ready is False
        return ModelSummary(
            name=endpoint.name,
            url=endpoint.url,
            ready=status.ready and not vetoed,
            version=status.version,
            task=(info.task if info else None) or status.task,
            classes=list(info.classes) if info else [],
            metrics=dict(info.metrics) if info else {},
            error="; ".join(e for e in (endpoint.message if vetoed else None, status.error) if e) or None,
            server_ready=status.ready,
        )

    async def list_models(self) -> list[ModelSummary]:
        """Every discovered model, probed concurrently (a dead server is listed as not ready)."""
        endpoints = await self.discovery.endpoints()
        return list(await asyncio.gather(*(self._summary(ep) for ep in endpoints)))
