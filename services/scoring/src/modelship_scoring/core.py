"""The scoring core of one service lifespan, built in ONE place for the gateway and the streaming worker:
:func:`open_scoring` opens discovery, the model-server client, the registry cache and the inventory from the
settings; :meth:`Scoring.image_fanout` adds the image fan-out on top of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
from sqlalchemy import Engine

from modelship_common.storage import ObjectStore
from modelship_scoring.coalesce import CoalescingClient
from modelship_scoring.discovery import Discovery, open_discovery
from modelship_scoring.fanout import STREAM_SOURCE, ImageFanout, ImageModels, Publisher
from modelship_scoring.inventory import ModelInventory
from modelship_scoring.model_servers import ModelServerClient, make_client, model_server_session
from modelship_scoring.registry_cache import RegistryCache, limit_mlflow_http, mlflow_client_factory
from modelship_scoring.settings import ScoringSettings


@dataclass
class Scoring:
    """Discovery, the model-server client, the registry cache, the inventory and the ready image models, for one
    lifespan (see :func:`open_scoring`)."""

    settings: ScoringSettings
    discovery: Discovery
    client: ModelServerClient
    registry: RegistryCache
    inventory: ModelInventory
    image_models: ImageModels

    def image_fanout(
        self,
        *,
        objects: ObjectStore,
        engine: Engine,
        max_image_bytes: int,
        model_batch_size: int,
        publisher: Publisher | None = None,
        source: str = STREAM_SOURCE,
        on_model_latency: Callable[[str, float], None] | None = None,
    ) -> ImageFanout:
        """The image fan-out over this core's image models, client and registry cache. ``on_model_latency`` is
        told ``(model, seconds)`` of every successful model-server call."""
        return ImageFanout(
            objects=objects,
            engine=engine,
            models=self.image_models,
            client=self.client,
            registry=self.registry,
            max_image_bytes=max_image_bytes,
            model_batch_size=model_batch_size,
            publisher=publisher,
            source=source,
            on_model_latency=on_model_latency,
        )


@contextlib.asynccontextmanager
async def open_scoring(settings: ScoringSettings, *, max_connections: int = 100) -> AsyncIterator[Scoring]:
    """The scoring core ``settings`` ask for; discovery (a Kubernetes watch, for one) and the HTTP client to the
    model servers are closed on exit. ``max_connections``: the size of the connection pool to the model servers
    (kept alive between calls)."""
    limit_mlflow_http(settings.registry_timeout_s)
    registry = RegistryCache(
        mlflow_client_factory(settings.mlflow_tracking_uri),
        timeout_s=settings.registry_timeout_s,
        ttl_s=settings.registry_cache_s,
        retry_s=settings.registry_retry_s,
    )
    await registry.open()  # imports MLflow now, not inside the first lookup's deadline
    http_client = model_server_session(
        aiohttp.TCPConnector(limit=max_connections), aiohttp.ClientTimeout(total=settings.request_timeout_s)
    )
    async with (
        http_client as http,
        open_discovery(settings) as discovery,
    ):
        client: ModelServerClient = make_client(settings.protocol, http)
        if settings.coalesce_predictions:
            client = CoalescingClient(
                client, max_rows=settings.coalesce_max_rows, max_in_flight=settings.coalesce_in_flight
            )
        inventory = ModelInventory(discovery, client, registry, probe_timeout_s=settings.probe_timeout_s)
        image_models = ImageModels(inventory, ttl_s=settings.image_models_refresh_s, names=settings.image_models)
        yield Scoring(settings, discovery, client, registry, inventory, image_models)
