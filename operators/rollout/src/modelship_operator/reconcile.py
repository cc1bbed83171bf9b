"""The InferenceService reconciler: resolve, render, apply on a diff, write status and events.

Every write to an InferenceService's status happens under a per-object asyncio lock, by direct merge
patches of the status subresource: the spec handlers, the alias re-resolution timer and the child
watchers all update the same ``conditions``/``history`` lists, and kopf's ``patch.status`` (applied after
the handler returns, outside any lock of ours) could overwrite a newer Ready written by a child watcher.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import kopf

from modelship_common import tracing
from modelship_common.db import utcnow
from modelship_common.errors import ModelNotFound
from modelship_operator import constants as c
from modelship_operator import kube as k
from modelship_operator import mlflow_access as ml
from modelship_operator import status as st
from modelship_operator.kserve import kserve_url, render_kserve
from modelship_operator.kube import Kube, KubeError
from modelship_operator.metrics import Metrics
from modelship_operator.render import (
    PodConfig,
    Resolved,
    candidate_name,
    deployment_version,
    is_owned_by,
    render_deployment,
    render_service,
    service_url,
)
from modelship_operator.rollout_state import RolloutState, describe, warm_hold
from modelship_operator.settings import OperatorSettings, Target
from modelship_operator.spec import InvalidSpec, ModelRef, ServiceSpec, parse_spec

log = logging.getLogger(__name__)

Poster = Callable[[dict[str, Any], str, str, str], None]


def post_event(body: dict[str, Any], type_: str, reason: str, message: str) -> None:
    """A Kubernetes Event on ``body`` through kopf's poster (works from any handler context)."""
    try:
        kopf.event(cast(kopf.Body, body), type=type_, reason=reason, message=message)
    except LookupError:  # outside an operator (unit tests without a running kopf)
        log.info("event %s %s: %s", type_, reason, message)


@dataclass
class Operator:
    """Everything the handlers share; built once in the startup handler."""

    settings: OperatorSettings
    kube: Kube
    metrics: Metrics = field(default_factory=Metrics)
    poster: Poster = post_event
    locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)
    #: Shadow/Canary helpers: the predictions store's engine, the challenger cache, the loops' wake-ups.
    rollouts: RolloutState = field(default_factory=RolloutState)

    @property
    def pod(self) -> PodConfig:
        return PodConfig.from_settings(self.settings)

    def lock(self, namespace: str, name: str) -> asyncio.Lock:
        return self.locks.setdefault((namespace, name), asyncio.Lock())

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def event(self, body: dict[str, Any], reason: str, message: str, *, warning: bool = False) -> None:
        self.poster(body, "Warning" if warning else "Normal", reason, message)


# --- status writing --------------------------------------------------------------------------------------


async def write_status(op: Operator, isvc: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Merge-patch the changed top-level status fields; returns the status as written."""
    old = isvc.get("status") or {}
    changed = {key: value for key, value in new.items() if old.get(key) != value}
    if not changed:
        return old
    meta = isvc["metadata"]
    try:
        result = await op.call(op.kube.patch_status, k.ISVC, meta["namespace"], meta["name"], changed)
    except KubeError as exc:
        if exc.not_found:  # deleted meanwhile
            return {**old, **changed}
        raise
    isvc["status"] = (result or {}).get("status") or {**old, **changed}
    return isvc["status"]


def _conditions(isvc: dict[str, Any]) -> list[dict[str, Any]]:
    return copy.deepcopy(((isvc.get("status") or {}).get("conditions")) or [])


async def _fail(
    op: Operator,
    isvc: dict[str, Any],
    *,
    reason: str,
    message: str,
    ready_too: bool,
    warning_event: bool = True,
) -> None:
    """Record a failure: Resolved=False (and Ready=False when nothing usable runs), event on transitions."""
    now = st.now_iso()
    generation = isvc["metadata"].get("generation")
    conditions = _conditions(isvc)
    before = st.get_condition(conditions, c.RESOLVED)
    conditions = st.set_condition(conditions, c.RESOLVED, "False", reason, message, now=now, generation=generation)
    if ready_too:
        conditions = st.set_condition(conditions, c.READY, "False", reason, message, now=now, generation=generation)
    new = {"conditions": conditions}
    if reason == st.INVALID_SPEC:
        new["observedGeneration"] = generation
    await write_status(op, isvc, new)
    if warning_event and not (before and before.get("reason") == reason and before.get("message") == message):
        op.event(isvc, reason, message, warning=True)
    op.metrics.errors.labels(c.ISVC_KIND, reason).inc()


# --- resolution -----------------------------------------------------------------------------------------


async def tracking_uri_for(op: Operator, isvc: dict[str, Any], spec: ServiceSpec) -> str:
    """The MLflow the InferenceService uses: its ModelRegistry's, or the operator default."""
    if not spec.registry:
        return op.settings.mlflow_tracking_uri
    namespace = isvc["metadata"]["namespace"]
    registry = await op.call(op.kube.get, k.REGISTRY, namespace, spec.registry)
    if registry is None:
        message = f"ModelRegistry {spec.registry!r} does not exist in namespace {namespace}"
        await _fail(op, isvc, reason=st.REGISTRY_NOT_FOUND, message=message, ready_too=not _serving(isvc))
        raise kopf.TemporaryError(message, delay=op.settings.retry_seconds)
    return (registry.get("spec") or {}).get("trackingUri") or op.settings.mlflow_tracking_uri


def _serving(isvc: dict[str, Any]) -> bool:
    """Whether a version was rolled out before (then a registry problem does not make it unready)."""
    return bool((isvc.get("status") or {}).get("modelVersion"))


# --- children -------------------------------------------------------------------------------------------


def desired_children(
    op: Operator, name: str, namespace: str, spec: ServiceSpec, resolved: Resolved, *, candidate: bool = False
) -> list[dict[str, Any]]:
    """The main predictor's children (or, ``candidate=True``, a rollout's candidate predictor's) for the target."""
    if op.settings.target == Target.kserve:
        return [render_kserve(name, namespace, spec, resolved, op.pod, candidate=candidate)]
    return [
        render_deployment(name, namespace, spec, resolved, op.pod, candidate=candidate),
        render_service(name, namespace, candidate=candidate),
    ]


def candidate_kinds(op: Operator) -> list[k.Kind]:
    """The kinds of a candidate predictor's objects (all named ``<name>-candidate``), the serving one first."""
    return [k.KSERVE_ISVC] if op.settings.target == Target.kserve else [k.DEPLOYMENT, k.SERVICE]


def candidate_url(op: Operator, name: str, namespace: str, child: dict[str, Any] | None) -> str:
    """Where the candidate predictor answers (HTTP base URL), as for the main one."""
    if op.settings.target == Target.kserve:
        return kserve_url(child, candidate_name(name), namespace)
    return service_url(name, namespace, candidate=True)


async def apply_children(op: Operator, owner: dict[str, Any], manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create or server-side-apply each child whose config hash differs; returns the live objects."""
    uid = owner["metadata"]["uid"]
    live = []
    for manifest in manifests:
        kind = k.kind_of(manifest)
        meta = manifest["metadata"]
        existing = await op.call(op.kube.get, kind, meta["namespace"], meta["name"])
        if existing is not None and not is_owned_by(existing, uid):
            message = (
                f"{kind.kind} {meta['name']} already exists and is not owned by this InferenceService; "
                "delete or rename it"
            )
            raise _Conflict(message)
        want_hash = meta["annotations"][c.ANN_CONFIG_HASH]
        have_hash = ((existing or {}).get("metadata", {}).get("annotations") or {}).get(c.ANN_CONFIG_HASH)
        if existing is not None and have_hash == want_hash:
            live.append(existing)
            continue
        kopf.adopt(manifest, owner=cast(kopf.Body, owner))
        result = await op.call(op.kube.apply, manifest)
        log.info("%s %s/%s %s", kind.kind, meta["namespace"], meta["name"], "updated" if existing else "created")
        live.append(result)
    return live


class _Conflict(Exception):
    pass


def readiness_of(op: Operator, children: list[dict[str, Any]], version: str) -> st.Readiness:
    if op.settings.target == Target.kserve:
        return st.kserve_readiness(children[0] if children else None, version)
    return st.deployment_readiness(children[0] if children else None, version)


# --- the reconciler -------------------------------------------------------------------------------------


async def reconcile_isvc(op: Operator, namespace: str, name: str, *, trigger: str) -> None:
    """Bring one InferenceService's children and status in line with its spec and the registry.

    Raises kopf.PermanentError for specs that cannot work until edited, kopf.TemporaryError for
    transient problems (MLflow down, a missing ModelRegistry); never deletes anything on failure.
    With tracing on, inside a span ``reconcile InferenceService`` (the MLflow calls are its children).
    """
    attributes = {"k8s.namespace.name": namespace, "modelship.inferenceservice": name, "modelship.trigger": trigger}
    with tracing.span("reconcile InferenceService", attributes=attributes):
        await _reconcile_isvc(op, namespace, name, trigger=trigger)


async def _reconcile_isvc(op: Operator, namespace: str, name: str, *, trigger: str) -> None:
    started = time.monotonic()
    result = "ok"
    try:
        async with op.lock(namespace, name):
            isvc = await op.call(op.kube.get, k.ISVC, namespace, name)
            if isvc is None or isvc["metadata"].get("deletionTimestamp"):
                return
            await _reconcile_locked(op, isvc, trigger=trigger)
    except kopf.PermanentError:
        result = "permanent_error"
        raise
    except kopf.TemporaryError:
        result = "temporary_error"
        raise
    except KubeError as exc:
        result = "error"
        op.metrics.errors.labels(c.ISVC_KIND, "KubernetesAPI").inc()
        raise kopf.TemporaryError(f"Kubernetes API error: {exc}", delay=op.settings.retry_seconds) from exc
    finally:
        op.metrics.reconciles.labels(c.ISVC_KIND, result).inc()
        op.metrics.reconcile_seconds.labels(c.ISVC_KIND).observe(time.monotonic() - started)


async def _reconcile_locked(op: Operator, isvc: dict[str, Any], *, trigger: str) -> None:
    meta = isvc["metadata"]
    namespace, name, generation = meta["namespace"], meta["name"], meta.get("generation")
    try:
        spec = parse_spec(isvc.get("spec"))
    except InvalidSpec as exc:
        message = f"invalid spec: {exc}"
        await _fail(op, isvc, reason=st.INVALID_SPEC, message=message, ready_too=True)
        raise kopf.PermanentError(message) from exc

    tracking_uri = await tracking_uri_for(op, isvc, spec)
    try:
        info = await op.call(ml.resolve, tracking_uri, spec.model)
    except ModelNotFound as exc:
        if spec.model.alias:
            message = f"registered model {spec.model.name!r} has no alias {spec.model.alias!r} (yet)"
            await _fail(op, isvc, reason=st.MODEL_NOT_FOUND, message=message, ready_too=not _serving(isvc))
            raise kopf.TemporaryError(message, delay=op.settings.resync_seconds) from exc
        message = f"registered model {spec.model.name!r} has no version {spec.model.version}"
        await _fail(op, isvc, reason=st.MODEL_NOT_FOUND, message=message, ready_too=not _serving(isvc))
        raise kopf.PermanentError(message) from exc
    except ml.RegistryUnreachable as exc:
        message = f"{exc}; keeping version {(isvc.get('status') or {}).get('modelVersion') or '(none)'} as is"
        await _fail(op, isvc, reason=st.REGISTRY_UNREACHABLE, message=message, ready_too=not _serving(isvc))
        raise kopf.TemporaryError(str(exc), delay=op.settings.retry_seconds) from exc

    if spec.rollout.analysed:
        info = await _hold_old_champion(op, tracking_uri, spec, info)
    resolved = Resolved(version=info.version, source=info.source, tracking_uri=tracking_uri)
    manifests = desired_children(op, name, namespace, spec, resolved)
    try:
        children = await apply_children(op, isvc, manifests)
    except _Conflict as exc:
        await _fail(op, isvc, reason="ChildConflict", message=str(exc), ready_too=True)
        raise kopf.TemporaryError(str(exc), delay=max(30.0, op.settings.resync_seconds)) from exc

    now = st.now_iso()
    status = isvc.get("status") or {}
    history = copy.deepcopy(status.get("history") or [])
    previous = status.get("modelVersion")
    current_entry = st.last_rollout_entry(history)
    rollout_started = previous != info.version or current_entry is None or current_entry.get("version") != info.version
    if rollout_started:
        history = st.start_rollout(history, info.version, now=now, limit=op.settings.history_limit)
        what = f"from version {previous} to {info.version}" if previous else f"version {info.version}"
        op.event(isvc, "RolloutStarted", f"rolling {spec.model.name} {what} ({spec.model.describe}, {trigger})")
        op.metrics.rollouts.labels("started").inc()
        log.info("InferenceService %s/%s: rolling out %s %s", namespace, name, spec.model.name, what)

    readiness = readiness_of(op, children, info.version)
    conditions = _conditions(isvc)
    resolved_message = (
        f"{spec.model.describe} -> version {info.version}" if spec.model.alias else f"pinned version {info.version}"
    )
    conditions = st.set_condition(
        conditions, c.RESOLVED, "True", st.RESOLVED_REASON, resolved_message, now=now, generation=generation
    )
    conditions = st.set_condition(
        conditions, c.READY, readiness.status, readiness.reason, readiness.message, now=now, generation=generation
    )
    history = _finish_if_done(op, isvc, history, info.version, readiness, now)
    url = (
        kserve_url(children[0] if children else None, name, namespace)
        if op.settings.target == Target.kserve
        else service_url(name, namespace)
    )
    await write_status(
        op,
        isvc,
        {
            "modelVersion": info.version,
            "modelUri": info.source,
            "servingUri": f"models:/{spec.model.name}/{info.version}",
            "url": url,
            "observedGeneration": generation,
            "conditions": conditions,
            "history": history,
        },
    )


async def _hold_old_champion(op: Operator, tracking_uri: str, spec: ServiceSpec, info: Any) -> Any:
    """Shadow/Canary: right after a promotion the alias points at the new champion, but the main predictor keeps
    the old one until the rollout's warm window ends (the candidate predictor serves the new one meanwhile), so a
    rollback is instant. Then the rollout loop reconciles again and the main predictor rolls to the new champion."""
    try:
        engine = await op.rollouts.engine(op.settings.database_url, op.settings.database_wait_s)
        hold = await op.call(warm_hold, engine, spec.model.name, info.version, utcnow())
    except Exception as exc:  # the store is down: follow the alias (the candidate serves that version too)
        log.warning("cannot read the rollouts of %s (%s); following the alias", spec.model.name, describe(exc))
        return info
    if hold is None:
        return info
    try:
        return await op.call(ml.resolve, tracking_uri, ModelRef(name=spec.model.name, version=hold.champion_version))
    except (ModelNotFound, ml.RegistryUnreachable) as exc:
        log.warning("cannot read version %s of %s (%s)", hold.champion_version, spec.model.name, describe(exc))
        raise kopf.TemporaryError(str(exc), delay=op.settings.retry_seconds) from exc


def _finish_if_done(
    op: Operator,
    isvc: dict[str, Any],
    history: list[dict[str, Any]],
    version: str,
    readiness: st.Readiness,
    now: str,
) -> list[dict[str, Any]]:
    """Close the Progressing history entry of ``version`` when its children became ready or failed."""
    if not (readiness.ready or readiness.failed):
        return history
    result = st.SUCCEEDED if readiness.ready else st.FAILED
    history, changed = st.finish_rollout(
        history, version, result, now=now, message=None if readiness.ready else readiness.message
    )
    if changed:
        started = st.parse_time(st.current_rollout_started(history, version))
        finished = st.parse_time(now)
        seconds = (finished - started).total_seconds() if started and finished else None
        took = "" if seconds is None else " within a second" if seconds < 1 else f" after {seconds:.0f}s"
        model = (isvc.get("spec") or {}).get("model", {}).get("name", "")
        if readiness.ready:
            op.event(isvc, "RolloutSucceeded", f"{model} version {version} is available{took}")
            op.metrics.rollouts.labels("succeeded").inc()
            if seconds is not None:
                op.metrics.rollout_seconds.observe(seconds)
        else:
            op.event(isvc, "RolloutFailed", f"{model} version {version}: {readiness.message}", warning=True)
            op.metrics.rollouts.labels("failed").inc()
    return history


async def observe_child(op: Operator, namespace: str, isvc_name: str) -> None:
    """A child changed (Deployment or KServe InferenceService): refresh Ready and the rollout history."""
    async with op.lock(namespace, isvc_name):
        isvc = await op.call(op.kube.get, k.ISVC, namespace, isvc_name)
        if isvc is None or isvc["metadata"].get("deletionTimestamp"):
            return
        status = isvc.get("status") or {}
        version = status.get("modelVersion")
        if not version:
            return  # not rolled out yet; the reconciler writes the first status
        if op.settings.target == Target.kserve:
            child = await op.call(op.kube.get, k.KSERVE_ISVC, namespace, isvc_name)
            readiness = st.kserve_readiness(child, version)
        else:
            from modelship_operator.render import predictor_name

            child = await op.call(op.kube.get, k.DEPLOYMENT, namespace, predictor_name(isvc_name))
            readiness = st.deployment_readiness(child, version)
        if child is not None and not is_owned_by(child, isvc["metadata"]["uid"]):
            return
        if child is not None and deployment_version(child) != version:
            return  # a stale child event from before the current rollout was applied
        now = st.now_iso()
        generation = isvc["metadata"].get("generation")
        ready_before = st.get_condition(status.get("conditions"), c.READY) or {}
        conditions = _conditions(isvc)
        # Keep a failure reason the reconciler set (InvalidSpec, RegistryNotFound...) when nothing improved.
        if readiness.ready or ready_before.get("reason") in (
            st.AVAILABLE,
            st.ROLLOUT_IN_PROGRESS,
            st.ROLLOUT_FAILED,
            st.SCALED_TO_ZERO,
            None,
        ):
            conditions = st.set_condition(
                conditions,
                c.READY,
                readiness.status,
                readiness.reason,
                readiness.message,
                now=now,
                generation=ready_before.get("observedGeneration", generation),
            )
        history = _finish_if_done(op, isvc, copy.deepcopy(status.get("history") or []), version, readiness, now)
        update: dict[str, Any] = {"conditions": conditions, "history": history}
        if op.settings.target == Target.kserve and child is not None:
            # KServe reports its address after the reconciler wrote the first status: take it as it comes.
            update["url"] = kserve_url(child, isvc_name, namespace)
        await write_status(op, isvc, update)


Reconcile = Callable[[str, str], Awaitable[None]]
