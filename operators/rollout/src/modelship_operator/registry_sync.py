"""ModelRegistry sync: list the served models in MLflow and keep one InferenceService per model.

A sync is triggered by the registry's daemon every ``spec.pollSeconds``, by verified MLflow webhooks and
by spec changes. It creates missing InferenceServices (owned by the registry), patches the registry-managed
spec fields, and bumps the ``modelship.io/resolved-version`` annotation when the alias moved, which makes
kopf deliver an update to the InferenceService handler at once (alias move -> rollout without waiting for
an InferenceService-side poll). A failed MLflow read changes nothing but the registry's status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, cast

import kopf

from modelship_common import tracing
from modelship_operator import constants as c
from modelship_operator import kube as k
from modelship_operator import mlflow_access as ml
from modelship_operator import status as st
from modelship_operator.reconcile import Operator
from modelship_operator.registry_render import (
    isvc_name_for,
    isvc_patch,
    registry_alias,
    render_registry_isvc,
    selector,
)
from modelship_operator.render import is_owned_by
from modelship_operator.webhook import Delivery

log = logging.getLogger(__name__)

#: Retries of a failed webhook registration back off from the first to the last (an MLflow still starting when
#: the operator starts, as on a fresh install, is retried within seconds; one that stays down, every 5 minutes).
WEBHOOK_RETRY_SECONDS = (10.0, 300.0)


@dataclass
class Trigger:
    """Wakes a registry's daemon before its poll interval ends (webhooks, spec changes)."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = "poll"

    def fire(self, reason: str) -> None:
        self.reason = reason
        self.event.set()

    async def wait(self, timeout: float) -> str:
        """Wait for a trigger or the timeout; returns the reason (``poll`` on timeout)."""
        try:
            await asyncio.wait_for(self.event.wait(), timeout=timeout)
        except TimeoutError:
            return "poll"
        self.event.clear()
        reason, self.reason = self.reason, "poll"
        return reason


@dataclass
class Registries:
    """The live registry daemons' triggers, by (namespace, name)."""

    triggers: dict[tuple[str, str], Trigger] = field(default_factory=dict)
    #: The latest snapshot of each live ModelRegistry (kept by its daemon; used by the webhook fast path).
    bodies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    webhook_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    #: When registering the webhook last failed (monotonic seconds) and the wait before the next try.
    webhook_failed: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def trigger_for(self, namespace: str, name: str) -> Trigger:
        return self.triggers.setdefault((namespace, name), Trigger())

    def drop(self, namespace: str, name: str) -> None:
        self.triggers.pop((namespace, name), None)
        self.bodies.pop((namespace, name), None)
        self.webhook_ids.pop((namespace, name), None)
        self.webhook_failed.pop((namespace, name), None)

    def matching(self, namespace: str | None = None, name: str | None = None) -> list[dict[str, Any]]:
        return [
            body
            for (ns, nm), body in list(self.bodies.items())
            if (namespace is None or ns == namespace) and (name is None or nm == name)
        ]

    def fire(self, reason: str, namespace: str | None = None, name: str | None = None) -> int:
        """Trigger every registry (or one); returns how many were triggered."""
        fired = 0
        for (ns, nm), trigger in list(self.triggers.items()):
            if (namespace is None or ns == namespace) and (name is None or nm == name):
                trigger.fire(reason)
                fired += 1
        return fired


def _patch_status(op: Operator, registry: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    meta = registry["metadata"]
    return op.kube.patch_status(k.REGISTRY, meta["namespace"], meta["name"], status)


async def sync_registry(op: Operator, registry: dict[str, Any], *, trigger: str) -> bool:
    """One sync of one ModelRegistry. Returns False when MLflow could not be read (nothing changed). With tracing
    on, inside a span ``sync ModelRegistry``."""
    meta = registry["metadata"]
    attributes = {
        "k8s.namespace.name": meta["namespace"],
        "modelship.registry": meta["name"],
        "modelship.trigger": trigger,
    }
    with tracing.span("sync ModelRegistry", attributes=attributes):
        return await _sync_registry(op, registry, trigger=trigger)


async def _sync_registry(op: Operator, registry: dict[str, Any], *, trigger: str) -> bool:
    started = time.monotonic()
    meta = registry["metadata"]
    namespace, name, generation = meta["namespace"], meta["name"], meta.get("generation")
    spec = registry.get("spec") or {}
    tracking_uri = spec.get("trackingUri", "")
    tag, value = selector(spec)
    alias = registry_alias(spec)
    conditions = list(((registry.get("status") or {}).get("conditions")) or [])
    before = st.get_condition(conditions, c.SYNCED) or {}
    now = st.now_iso()
    try:
        models = await op.call(ml.read_registry, tracking_uri, tag, value, alias)
    except ml.RegistryUnreachable as exc:
        message = f"{exc}; InferenceServices are left as they are"
        conditions = st.set_condition(
            conditions, c.SYNCED, "False", st.REGISTRY_UNREACHABLE, message, now=now, generation=generation
        )
        await op.call(_patch_status, op, registry, {"conditions": conditions})
        if before.get("status") != "False":
            op.event(registry, st.REGISTRY_UNREACHABLE, message, warning=True)
        op.metrics.registry_syncs.labels(trigger, "error").inc()
        op.metrics.errors.labels(c.REGISTRY_KIND, st.REGISTRY_UNREACHABLE).inc()
        log.warning("ModelRegistry %s/%s: %s", namespace, name, message)
        return False

    entries: list[dict[str, Any]] = []
    problems: list[str] = []
    for model in models:
        desired = render_registry_isvc(registry, model.name, model.version)
        isvc_name = desired["metadata"]["name"]
        try:
            await _ensure_isvc(op, registry, desired)
        except _NotOurs as exc:
            problems.append(str(exc))
            continue
        entry = {"name": model.name, "inferenceService": isvc_name}
        if model.version:
            entry["version"] = model.version
        entries.append(entry)
    if spec.get("prune"):
        await _prune(op, registry, {e["inferenceService"] for e in entries})

    if problems:
        synced = ("False", "Conflict", "; ".join(problems))
    else:
        synced = ("True", "Synced", f"{len(entries)} model(s) with {tag}={value} served, following alias {alias}")
    conditions = st.set_condition(conditions, c.SYNCED, *synced, now=now, generation=generation)
    await op.call(
        _patch_status,
        op,
        registry,
        {
            "models": entries,
            "modelCount": len(entries),
            "lastSync": now,
            "observedGeneration": generation,
            "conditions": conditions,
        },
    )
    if before.get("status") == "False" and synced[0] == "True":
        op.event(registry, "Synced", synced[2])
    op.metrics.synced(namespace, name, len(entries))
    op.metrics.registry_syncs.labels(trigger, "ok").inc()
    op.metrics.reconcile_seconds.labels(c.REGISTRY_KIND).observe(time.monotonic() - started)
    return True


class _NotOurs(Exception):
    pass


async def _ensure_isvc(op: Operator, registry: dict[str, Any], desired: dict[str, Any]) -> None:
    meta = desired["metadata"]
    existing = await op.call(op.kube.get, k.ISVC, meta["namespace"], meta["name"])
    if existing is None:
        kopf.adopt(desired, owner=cast(kopf.Body, registry))
        try:
            await op.call(op.kube.create, desired)
        except k.KubeError as exc:
            if exc.conflict:  # created concurrently; the next sync patches it
                return
            raise
        model = meta["annotations"][c.ANN_MODEL_NAME]
        op.event(registry, "InferenceServiceCreated", f"created InferenceService {meta['name']} for model {model}")
        log.info("ModelRegistry %s: created InferenceService %s", registry["metadata"]["name"], meta["name"])
        return
    if not is_owned_by(existing, registry["metadata"]["uid"]):
        raise _NotOurs(f"InferenceService {meta['name']} exists and is not owned by this ModelRegistry")
    patch = isvc_patch(existing, desired)
    if patch:
        await op.call(op.kube.merge_patch, k.ISVC, meta["namespace"], meta["name"], patch)


async def _prune(op: Operator, registry: dict[str, Any], keep: set[str]) -> None:
    meta = registry["metadata"]
    owned = await op.call(op.kube.list, k.ISVC, meta["namespace"], labels=f"{c.LABEL_REGISTRY}={meta['name']}")
    for isvc in owned:
        isvc_meta = isvc["metadata"]
        if isvc_meta["name"] in keep or not is_owned_by(isvc, meta["uid"]):
            continue
        await op.call(op.kube.delete, k.ISVC, isvc_meta["namespace"], isvc_meta["name"], uid=isvc_meta["uid"])
        op.event(
            registry,
            "InferenceServicePruned",
            f"deleted InferenceService {isvc_meta['name']}: model no longer selected",
        )


async def ensure_registry_webhook(op: Operator, registries: Registries, registry: dict[str, Any], secret: str) -> None:
    """Register the operator's webhook in this registry's MLflow (when MODELSHIP_WEBHOOK_URL is set)."""
    meta = registry["metadata"]
    key = (meta["namespace"], meta["name"])
    url = op.settings.webhook_url.rstrip("/")
    if not url or key in registries.webhook_ids:
        return
    failed = registries.webhook_failed.get(key)
    if failed is not None and time.monotonic() - failed[0] < failed[1]:
        return
    if url.endswith("/webhooks/mlflow"):
        url = f"{url}/{meta['namespace']}/{meta['name']}"
    hook_name = f"modelship-{meta['namespace']}-{meta['name']}"
    tracking_uri = (registry.get("spec") or {}).get("trackingUri", "")
    try:
        hook_id = await op.call(ml.ensure_webhook, tracking_uri, hook_name, url, secret)
    except Exception as exc:
        first, last = WEBHOOK_RETRY_SECONDS
        delay = first if failed is None else min(failed[1] * 2, last)
        registries.webhook_failed[key] = (time.monotonic(), delay)
        log.warning(
            "ModelRegistry %s/%s: could not register the MLflow webhook (polling only; retry in %ds): %s",
            *key,
            delay,
            exc,
        )
        return
    registries.webhook_failed.pop(key, None)
    registries.webhook_ids[key] = hook_id
    await op.call(_patch_status, op, registry, {"webhook": hook_name})
    log.info("ModelRegistry %s/%s: MLflow webhook %s -> %s", *key, hook_name, url)


async def poke_from_webhook(op: Operator, registries: Registries, delivery: Delivery) -> int:
    """Fast path for ``model_version_alias.created``: poke the affected InferenceService at once.

    The payload names the model, alias and version, so the registry's InferenceService can be told to
    re-resolve before the (slower) full sync has listed every model. The InferenceService still resolves
    the alias in MLflow itself. Returns how many InferenceServices were poked; errors are only logged.
    """
    if delivery.event != "model_version_alias.created":
        return 0
    model, alias, version = delivery.data.get("name"), delivery.data.get("alias"), delivery.data.get("version")
    if not (isinstance(model, str) and isinstance(alias, str) and version is not None):
        return 0
    poked = 0
    for registry in registries.matching(delivery.namespace, delivery.registry):
        spec = registry.get("spec") or {}
        if registry_alias(spec) != alias:
            continue
        meta = registry["metadata"]
        name = isvc_name_for(model)
        try:
            existing = await op.call(op.kube.get, k.ISVC, meta["namespace"], name)
            if existing is None or not is_owned_by(existing, meta["uid"]):
                continue
            annotations = (existing["metadata"].get("annotations")) or {}
            if annotations.get(c.ANN_RESOLVED_VERSION) == str(version):
                continue
            patch = {"metadata": {"annotations": {c.ANN_RESOLVED_VERSION: str(version)}}}
            await op.call(op.kube.merge_patch, k.ISVC, meta["namespace"], name, patch)
            poked += 1
        except Exception as exc:  # the full sync that follows will do it
            log.warning("webhook fast path for %s/%s failed: %s", meta["namespace"], name, exc)
    return poked
