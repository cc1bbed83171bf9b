"""Health of the platform's components for the Monitoring page: every check runs concurrently, each with a short
deadline; an unconfigured component is "not configured", a failing one "down" with the error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from modelship_scoring.inventory import ModelInventory, ModelSummary

Status = Literal["up", "down", "not configured"]


@dataclass
class ComponentHealth:
    """One row of the Monitoring page."""

    name: str
    kind: str
    status: Status
    link: str | None = None
    detail: str = ""
    latency_ms: float | None = None
    #: Extra facts (Kafka topics and lag, model version...), rendered as a small table.
    facts: list[tuple[str, str]] = field(default_factory=list)


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def guarded(
    name: str, kind: str, link: str | None, timeout_s: float, check: Callable[[], Awaitable[ComponentHealth]]
) -> ComponentHealth:
    """Run ``check`` with a deadline; any failure (or the deadline) makes the component "down" with the reason."""
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(check(), timeout_s)
    except TimeoutError:
        result = ComponentHealth(name, kind, "down", link, f"no answer within {timeout_s:g}s")
    except Exception as exc:
        result = ComponentHealth(name, kind, "down", link, _message(exc))
    if result.latency_ms is None and result.status != "not configured":
        result.latency_ms = (time.perf_counter() - started) * 1000.0
    return result


def not_configured(name: str, kind: str, how: str) -> ComponentHealth:
    return ComponentHealth(name, kind, "not configured", None, how)


async def http_check(
    http: httpx.AsyncClient, name: str, kind: str, base_url: str, path: str, link: str | None, *, expect: str = ""
) -> ComponentHealth:
    """GET ``base_url + path``; up when it answers 2xx (and contains ``expect``, if given)."""
    response = await http.get(base_url.rstrip("/") + path)
    if response.status_code >= 400:
        return ComponentHealth(name, kind, "down", link, f"HTTP {response.status_code} from {path}")
    if expect and expect not in response.text:
        return ComponentHealth(name, kind, "down", link, f"{path} answered without {expect!r}")
    return ComponentHealth(name, kind, "up", link, f"{path} answered {response.status_code}")


async def prometheus_check(http: httpx.AsyncClient, base_url: str) -> ComponentHealth:
    """Ready, and how many scrape targets are up (``count(up == 1)`` of ``count(up)``)."""
    base = base_url.rstrip("/")
    ready = await http.get(f"{base}/-/ready")
    if ready.status_code >= 400:
        return ComponentHealth("Prometheus", "metrics", "down", base, f"HTTP {ready.status_code} from /-/ready")
    answer = await http.get(f"{base}/api/v1/query", params={"query": "sum(up) or vector(0)"})
    total = await http.get(f"{base}/api/v1/query", params={"query": "count(up) or vector(0)"})
    facts = []
    try:
        up = answer.json()["data"]["result"][0]["value"][1]
        n = total.json()["data"]["result"][0]["value"][1]
        facts.append(("targets up", f"{float(up):g} of {float(n):g}"))
    except (KeyError, IndexError, ValueError, TypeError):
        facts.append(("targets up", "unknown"))
    return ComponentHealth("Prometheus", "metrics", "up", base, "ready", facts=facts)


def model_server_health(model: ModelSummary, elapsed_ms: float) -> ComponentHealth:
    facts = [("version", model.version or "unknown"), ("task", model.task or "unknown")]
    status: Status = "up" if model.ready else "down"
    detail = "model ready" if model.ready else (model.error or "model not ready")
    return ComponentHealth(
        f"model server {model.name}",
        "model server",
        status,
        f"{model.url}/v2/models/{model.name}",
        detail,
        latency_ms=elapsed_ms,
        facts=facts,
    )


async def model_servers_check(inventory: ModelInventory) -> list[ComponentHealth]:
    """Every discovered model server (the inventory probes them concurrently with its own timeout)."""
    started = time.perf_counter()
    models = await inventory.list_models()
    elapsed = (time.perf_counter() - started) * 1000.0
    if not models:
        return [not_configured("model servers", "model server", "no model server is discovered")]
    return [model_server_health(model, elapsed) for model in models]


# ------------------------------------------------------------------------------------------------------ Kafka


def kafka_facts(
    config: dict[str, Any], topics: list[str], consumed: str, group: str, timeout_s: float
) -> list[tuple[str, str]]:
    """Topics with their partition counts, and the consumer group's lag on the ``consumed`` topic (blocking)."""
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(dict(config))
    metadata = admin.list_topics(timeout=timeout_s)
    facts: list[tuple[str, str]] = [("brokers", str(len(metadata.brokers)))]
    consumer = Consumer({**config, "group.id": group, "enable.auto.commit": False})
    try:
        for topic in topics:
            meta = metadata.topics.get(topic)
            if meta is None or meta.error is not None:
                facts.append((topic, "missing"))
                continue
            partitions = [TopicPartition(topic, p) for p in sorted(meta.partitions)]
            if topic != consumed:
                facts.append((topic, f"{len(partitions)} partitions"))
                continue
            committed = consumer.committed(partitions, timeout=timeout_s)
            lag = 0
            for tp in committed:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=timeout_s)
                lag += high - (tp.offset if tp.offset >= 0 else low)
            facts.append((topic, f"{len(partitions)} partitions, lag {lag} ({group})"))
    finally:
        consumer.close()
    return facts
