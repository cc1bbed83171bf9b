"""kopf handlers (``kopf run -m modelship_operator.handlers``). Thin: the work is in reconcile/registry_sync.

- startup: settings, logging and tracing (``OTEL_*``), kopf storage prefixes, the Kubernetes client, the metrics
  and webhook servers.
- InferenceService: create/update/resume -> reconcile; a timer re-resolves the alias of InferenceServices
  that no ModelRegistry drives (every MODELSHIP_RESYNC_SECONDS); Deployment / KServe InferenceService events ->
  Ready + history.
- Shadow/Canary InferenceServices: a daemon runs one pass of the rollout loop (rollout_loop.py) every
  MODELSHIP_ROLLOUT_SECONDS, sooner when an MLflow webhook or the candidate predictor changes.
- ModelRegistry: a daemon syncs every spec.pollSeconds or when triggered (webhook, spec change).
- cleanup: kopf's finalizers are released (shutdown.py), so `helm uninstall` never leaves objects terminating.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import kopf
from aiohttp import web

from modelship_common.logs import configure_logging
from modelship_common.tracing import configure_tracing, shutdown_tracing
from modelship_operator import constants as c
from modelship_operator import mlflow_access as ml
from modelship_operator.kube import Kube
from modelship_operator.metrics import Metrics, create_metrics_app
from modelship_operator.reconcile import Operator, observe_child, reconcile_isvc
from modelship_operator.registry_sync import Registries, ensure_registry_webhook, poke_from_webhook, sync_registry
from modelship_operator.rollout_loop import in_scope, progress_rollout
from modelship_operator.settings import OperatorSettings, Target, get_settings
from modelship_operator.shutdown import own_namespace, release_finalizers
from modelship_operator.webhook import Delivery, create_webhook_app

log = logging.getLogger("modelship_operator")


class Runtime:
    """The operator's shared objects, kept on kopf's memo (``memo.runtime``)."""

    def __init__(self, op: Operator, registries: Registries, webhook_secret: str | None) -> None:
        self.op = op
        self.registries = registries
        self.webhook_secret = webhook_secret
        self.runners: list[web.AppRunner] = []
        #: Namespaces holding objects this operator handled: where its finalizers are released when it stops.
        self.namespaces: set[str] = set()

    async def serve(self, app: web.Application, port: int, what: str) -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host="0.0.0.0", port=port).start()
        self.runners.append(runner)
        log.info("%s listening on :%d", what, port)

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
        self.op.rollouts.close()
        self.op.kube.close()


def _runtime(memo: Any) -> Runtime:
    return memo.runtime


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    cfg = get_settings()
    # kopf set up its own stderr handler before loading us: ours replaces it (root level stays kopf's --verbose).
    configure_logging(None, cfg.log_format)
    logging.getLogger("modelship_operator").setLevel(cfg.log_level.upper())
    # Spans of the reconciliations, rollout passes, registry syncs and MLflow calls (only with an OTLP endpoint).
    configure_tracing("modelship-operator")
    # kopf's own state lives in annotations under our prefix; nothing in status (the schema is strict).
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=c.KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=c.KOPF_PREFIX, key="last-handled-configuration"
    )
    # Only our explicit events (RolloutStarted, InvalidSpec, RegistryUnreachable...): kopf would otherwise post
    # an Event for every "failed temporarily" retry while MLflow is down.
    settings.posting.level = logging.CRITICAL
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    ml.configure_mlflow_client(cfg.mlflow_timeout_seconds)

    if cfg.target != import_time_target():  # pragma: no cover - same environment variable
        raise kopf.PermanentError(f"MODELSHIP_TARGET changed after import ({cfg.target} vs {import_time_target()})")
    if cfg.resync_seconds != import_time_resync_seconds():  # pragma: no cover - same environment variable
        raise kopf.PermanentError(
            f"MODELSHIP_RESYNC_SECONDS changed after import ({cfg.resync_seconds} vs {import_time_resync_seconds()})"
        )
    op = Operator(settings=cfg, kube=Kube(), metrics=Metrics())
    runtime = Runtime(op, Registries(), cfg.resolved_webhook_secret())
    memo.runtime = runtime
    if cfg.metrics_port:
        await runtime.serve(create_metrics_app(op.metrics), cfg.metrics_port, "metrics")
    if cfg.webhook_port and runtime.webhook_secret:

        async def trigger(delivery: Delivery) -> int:
            fired = runtime.registries.fire("webhook", delivery.namespace, delivery.registry)
            await poke_from_webhook(op, runtime.registries, delivery)
            model = delivery.data.get("name")
            if delivery.event.startswith("model_version_alias.") and isinstance(model, str):
                op.rollouts.wake_model(model)  # a challenger set or removed: the rollout loop looks at once
            return fired

        app = create_webhook_app(
            runtime.webhook_secret,
            trigger,
            max_age_seconds=cfg.webhook_max_age_seconds,
            on_result=lambda result: op.metrics.webhooks.labels(result).inc(),
        )
        await runtime.serve(app, cfg.webhook_port, "MLflow webhook receiver")
    elif cfg.webhook_port:
        log.warning("no MODELSHIP_WEBHOOK_SECRET(_FILE): MLflow webhooks are off, registries are polled only")
    log.info("modelship operator started: target=%s image=%s", cfg.target.value, cfg.serving_image)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    runtime = getattr(memo, "runtime", None)
    if runtime is not None:
        await asyncio.to_thread(release_finalizers, runtime.op.kube, runtime.namespaces | own_namespace())
        await runtime.close()
    shutdown_tracing()


# --- InferenceService -----------------------------------------------------------------------------------


@kopf.on.resume(c.GROUP, c.VERSION, c.ISVC_PLURAL)
@kopf.on.create(c.GROUP, c.VERSION, c.ISVC_PLURAL)
@kopf.on.update(c.GROUP, c.VERSION, c.ISVC_PLURAL)
async def isvc_reconcile(name: str, namespace: Any, memo: Any, reason: Any, **_: Any) -> None:
    runtime = _runtime(memo)
    runtime.namespaces.add(namespace)
    await reconcile_isvc(runtime.op, namespace, name, trigger=str(reason))


def _follows_alias_alone(spec: Any, **_: Any) -> bool:
    """InferenceServices that follow an alias and are not driven by a ModelRegistry poll themselves."""
    model = spec.get("model") or {}
    return bool(model.get("alias")) and not spec.get("registry")


def import_time_resync_seconds() -> float:
    """``MODELSHIP_RESYNC_SECONDS`` as read at import: a kopf timer's interval is fixed when it is registered.
    A value the settings refuse falls back to the default here; the startup handler then fails on it."""
    default = float(OperatorSettings.model_fields["resync_seconds"].default)
    try:
        seconds = float(os.environ.get("MODELSHIP_RESYNC_SECONDS", default))
    except ValueError:
        return default
    return seconds if seconds > 0 else default


@kopf.timer(
    c.GROUP,
    c.VERSION,
    c.ISVC_PLURAL,
    when=_follows_alias_alone,
    interval=import_time_resync_seconds(),
    initial_delay=import_time_resync_seconds(),
)
async def isvc_alias_resync(name: str, namespace: Any, memo: Any, logger: Any, **_: Any) -> None:
    """Re-resolve the alias every MODELSHIP_RESYNC_SECONDS (the first time that long after the object is seen).

    Errors are logged, never raised: kopf would retry a failed timer with its own backoff, off the schedule."""
    op = _runtime(memo).op
    try:
        await reconcile_isvc(op, namespace, name, trigger="resync")
    except (kopf.TemporaryError, kopf.PermanentError) as exc:
        logger.debug("resync of %s/%s: %s", namespace, name, exc)  # already in the status
    except Exception:
        logger.exception("resync of %s/%s failed", namespace, name)


# The rollout loop and the registry sync stay daemons: each waits on an event that a webhook, a spec change or a
# candidate's Deployment sets (op.rollouts.wait, Registries.trigger_for), so a pass starts at once instead of at
# the next tick; the registry's period is its own spec.pollSeconds, not one interval fixed at import; and their
# ``finally`` drops the per-object state (wake-up events, metrics series) when the object goes.
@kopf.daemon(
    c.GROUP,
    c.VERSION,
    c.ISVC_PLURAL,
    when=lambda spec, status, **_: in_scope(spec, status),
    cancellation_timeout=5.0,
)
async def isvc_rollout_loop(name: str, namespace: Any, memo: Any, logger: Any, stopped: Any, **_: Any) -> None:
    """Shadow/Canary: one pass of the rollout loop every MODELSHIP_ROLLOUT_SECONDS (or when woken)."""
    runtime = _runtime(memo)
    runtime.namespaces.add(namespace)
    op = runtime.op
    try:
        while not stopped:
            try:
                await progress_rollout(op, namespace, name)
            except Exception as exc:  # the database, MLflow or the API server hiccuped: the next pass goes on
                logger.warning("rollout pass of %s/%s failed: %s", namespace, name, exc)
            await op.rollouts.wait(namespace, name, op.settings.rollout_seconds)
    finally:
        op.rollouts.unregister(namespace, name)
        op.metrics.rollout_over(namespace, name)


def _wake_rollout(op: Any, namespace: str, labels: Any) -> bool:
    """A candidate predictor changed: wake its InferenceService's rollout loop (not the main reconciler)."""
    if labels.get(c.LABEL_ROLLOUT_ROLE) != c.CANDIDATE:
        return False
    op.rollouts.wake(namespace, labels[c.LABEL_ISVC])
    return True


async def deployment_changed(labels: Any, namespace: Any, memo: Any, type: Any, **_: Any) -> None:
    op = _runtime(memo).op
    if _wake_rollout(op, namespace, labels) or type == "DELETED":
        return
    await observe_child(op, namespace, labels[c.LABEL_ISVC])


async def kserve_changed(labels: Any, namespace: Any, memo: Any, type: Any, **_: Any) -> None:
    op = _runtime(memo).op
    if type == "DELETED" or c.LABEL_ISVC not in labels or _wake_rollout(op, namespace, labels):
        return
    await observe_child(op, namespace, labels[c.LABEL_ISVC])


def import_time_target() -> Target:
    """The one setting read at import: kopf derives what it watches (and so the RBAC it needs) from the
    handlers registered at import, so only the child kind of the configured target is watched."""
    return Target(os.environ.get("MODELSHIP_TARGET", Target.deployment.value).strip().lower())


_CHILD_LABELS: dict[str, Any] = {c.LABEL_MANAGED_BY: c.MANAGER, c.LABEL_ISVC: kopf.PRESENT}
if import_time_target() == Target.kserve:
    kopf.on.event(c.KSERVE_GROUP, c.KSERVE_VERSION, c.KSERVE_PLURAL, labels=_CHILD_LABELS)(kserve_changed)
else:
    kopf.on.event("apps", "v1", "deployments", labels=_CHILD_LABELS)(deployment_changed)


# --- ModelRegistry --------------------------------------------------------------------------------------


@kopf.daemon(c.GROUP, c.VERSION, c.REGISTRY_PLURAL, cancellation_timeout=5.0)
async def registry_daemon(body: Any, spec: Any, name: str, namespace: Any, memo: Any, logger: Any, **_: Any) -> None:
    runtime = _runtime(memo)
    runtime.namespaces.add(namespace)
    op = runtime.op
    trigger = runtime.registries.trigger_for(namespace, name)
    reason = "start"
    try:
        while True:
            current = _plain(body)
            runtime.registries.bodies[(namespace, name)] = current
            if runtime.webhook_secret:
                await ensure_registry_webhook(op, runtime.registries, current, runtime.webhook_secret)
            try:
                await sync_registry(op, current, trigger=reason)
            except Exception as exc:  # the Kubernetes API hiccuped; try again on the next tick
                op.metrics.registry_syncs.labels(reason, "error").inc()
                logger.warning("sync of ModelRegistry %s/%s failed: %s", namespace, name, exc)
            reason = await trigger.wait(float(spec.get("pollSeconds") or 30))
    finally:
        runtime.registries.drop(namespace, name)
        op.metrics.forget_registry(namespace, name)


@kopf.on.update(c.GROUP, c.VERSION, c.REGISTRY_PLURAL, field="spec")
async def registry_spec_changed(name: str, namespace: Any, memo: Any, **_: Any) -> None:
    runtime = _runtime(memo)
    runtime.registries.webhook_ids.pop((namespace, name), None)  # the trackingUri may have changed
    runtime.registries.webhook_failed.pop((namespace, name), None)
    runtime.registries.fire("spec", namespace, name)


def _plain(body: Any) -> dict[str, Any]:
    """A plain-dict snapshot of a kopf body (daemons get a live view that changes under them)."""
    import copy

    return copy.deepcopy({key: body[key] for key in body})
