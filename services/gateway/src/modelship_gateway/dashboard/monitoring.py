"""Which checks the Monitoring page runs, built from the settings; see :mod:`.health` for the checks themselves."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from modelship_gateway.dashboard.health import (
    ComponentHealth,
    guarded,
    http_check,
    kafka_facts,
    model_servers_check,
    not_configured,
    prometheus_check,
)
from modelship_gateway.deps import Components
from modelship_gateway.settings import DashboardSettings


def _kafka_settings(settings: Any) -> Any:
    """The gateway's Kafka settings when it has them, else the same fields read from the environment."""
    from modelship_common.kafka import KafkaSettings

    return settings if isinstance(settings, KafkaSettings) else KafkaSettings()


async def _database(components: Components) -> ComponentHealth:
    await asyncio.to_thread(components.store.ping)
    return ComponentHealth("database", "predictions store", "up", None, components.store.engine.dialect.name)


async def _object_store(pipeline: Any, link: str | None) -> ComponentHealth:
    objects = pipeline.objects
    await asyncio.to_thread(objects.ping)
    where = getattr(objects, "bucket", None) or getattr(objects, "root", None) or type(objects).__name__
    return ComponentHealth("object storage", "images", "up", link, f"{type(objects).__name__}: {where}")


async def _kafka(kafka: Any, dash: DashboardSettings) -> ComponentHealth:
    topics = [spec.name for spec in kafka.topic_specs()]
    facts = await asyncio.to_thread(
        kafka_facts,
        kafka.client_config(),
        topics,
        kafka.kafka_images_topic,
        dash.kafka_consumer_group,
        dash.health_timeout_s,
    )
    return ComponentHealth("Kafka", "streaming", "up", None, kafka.kafka_bootstrap_servers, facts=facts)


async def check_all(components: Components, dash: DashboardSettings, pipeline: Any) -> list[ComponentHealth]:
    """Every component's health, checked concurrently; each check has ``dash.health_timeout_s``."""
    timeout = dash.health_timeout_s
    settings = components.settings
    async with httpx.AsyncClient(timeout=timeout) as http:
        pending: list[Awaitable[ComponentHealth]] = []

        def add(name: str, kind: str, link: str | None, check: Callable[[], Awaitable[ComponentHealth]]) -> None:
            pending.append(guarded(name, kind, link, timeout, check))

        add("database", "predictions store", None, lambda: _database(components))
        mlflow_link = (dash.mlflow_ui_url or settings.mlflow_tracking_uri).rstrip("/")
        add(
            "MLflow",
            "tracking + registry",
            mlflow_link,
            lambda: http_check(
                http, "MLflow", "tracking + registry", settings.mlflow_tracking_uri, "/health", mlflow_link
            ),
        )
        if pipeline is not None and getattr(pipeline, "objects", None) is not None:
            add(
                "object storage",
                "images",
                dash.minio_console_url,
                lambda: _object_store(pipeline, dash.minio_console_url),
            )
        else:
            pending.append(_done(not_configured("object storage", "images", "no image pipeline in this gateway")))
        try:
            kafka = _kafka_settings(settings)
        except Exception as exc:  # a missing module or a bad environment value
            kafka = None
            pending.append(_done(ComponentHealth("Kafka", "streaming", "down", None, f"bad Kafka settings: {exc}")))
        if kafka is not None and kafka.kafka_enabled():
            add("Kafka", "streaming", None, lambda: _kafka(kafka, dash))
        elif kafka is not None:
            how = "set MODELSHIP_KAFKA_BOOTSTRAP_SERVERS; uploads are scored in-process"
            pending.append(_done(not_configured("Kafka", "streaming", how)))
        prometheus = dash.prometheus_url
        if prometheus:
            add("Prometheus", "metrics", prometheus, lambda: prometheus_check(http, prometheus))
        else:
            pending.append(_done(not_configured("Prometheus", "metrics", "set MODELSHIP_PROMETHEUS_URL")))
        for name, role, url, health, setting in (
            ("Grafana", "dashboards", dash.grafana_url, "/api/health", "MODELSHIP_GRAFANA_URL"),
            ("operator", "rollouts", dash.operator_url, "/healthz", "MODELSHIP_OPERATOR_URL"),
        ):
            if url:
                add(name, role, url, functools.partial(http_check, http, name, role, url, health, url))
            else:
                pending.append(_done(not_configured(name, role, f"set {setting}")))
        servers = asyncio.ensure_future(guarded_many(components, timeout))
        singles = list(await asyncio.gather(*pending))
        model_servers = await servers
    return [*singles, *model_servers]


async def _done(value: ComponentHealth) -> ComponentHealth:
    return value


async def guarded_many(components: Components, timeout: float) -> list[ComponentHealth]:
    """The model servers (the inventory's probes have their own timeout; this bounds the whole listing)."""
    budget = max(timeout, components.settings.probe_timeout_s) + 1.0
    try:
        return await asyncio.wait_for(model_servers_check(components.inventory), budget)
    except Exception as exc:
        detail = f"no answer within {budget:g}s" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return [ComponentHealth("model servers", "model server", "down", None, detail)]
