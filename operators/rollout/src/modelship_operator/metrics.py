"""Prometheus metrics of the operator, served on their own port (``MODELSHIP_METRICS_PORT``)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

#: ``result`` label values of ``modelship_operator_rollouts_total``.
ROLLOUT_RESULTS = ("started", "succeeded", "failed")
#: ``result`` label values of ``modelship_operator_webhook_deliveries_total``.
WEBHOOK_RESULTS = ("accepted", "ignored", "bad_signature", "bad_request", "too_large")
#: ``strategy`` label values of ``modelship_operator_rollout_decisions_total`` (the strategies with a rollout loop).
DECISION_STRATEGIES = ("Shadow", "Canary")
#: ``action`` label values of ``modelship_operator_rollout_decisions_total`` (the rollouts tables' ``ACTIONS``).
DECISION_ACTIONS = ("step", "promote", "rollback", "abort")
#: ``trigger`` label values of ``modelship_operator_rollout_decisions_total``: the analysis or the operator
#: (``automatic``), or a person through ``modelship promote/rollback`` (``manual``).
DECISION_TRIGGERS = ("automatic", "manual")


@dataclass(frozen=True)
class RolloutGauge:
    """What the gauges of one InferenceService's Shadow/Canary rollout show."""

    strategy: str
    phase: str
    #: Share of the requests the candidate answers, 0..1 (Canary weight; 0 while shadowing).
    weight: float
    #: Share of the requests copied to the candidate, 0..1 (Shadow).
    shadow: float


class _Rollouts(Collector):
    """The rollout in progress on each InferenceService (one series each, removed when the rollout is over):
    ``modelship_operator_rollout_candidate_weight_ratio``, ``modelship_operator_rollout_shadow_share_ratio`` and
    ``modelship_operator_rollout_phase`` (1, labelled with the phase and the strategy)."""

    def __init__(self) -> None:
        self.current: dict[tuple[str, str], RolloutGauge] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = ["namespace", "inferenceservice"]
        weight = GaugeMetricFamily(
            "modelship_operator_rollout_candidate_weight_ratio",
            "Share of an InferenceService's requests its rollout candidate answers (0..1), while a rollout runs.",
            labels=labels,
        )
        shadow = GaugeMetricFamily(
            "modelship_operator_rollout_shadow_share_ratio",
            "Share of an InferenceService's requests copied to its rollout candidate (0..1), while a rollout runs.",
            labels=labels,
        )
        phase = GaugeMetricFamily(
            "modelship_operator_rollout_phase",
            "1 for the phase and strategy of the rollout running on an InferenceService.",
            labels=[*labels, "strategy", "phase"],
        )
        for (namespace, name), g in sorted(self.current.items()):
            weight.add_metric([namespace, name], g.weight)
            shadow.add_metric([namespace, name], g.shadow)
            phase.add_metric([namespace, name, g.strategy, g.phase], 1.0)
        yield weight
        yield shadow
        yield phase


class _SyncLag(Collector):
    """When each registry was last read successfully: ``modelship_operator_registry_sync_lag_seconds`` (seconds
    since, computed at scrape time) and ``modelship_operator_registry_last_sync_timestamp_seconds`` (Unix time;
    alert on ``time() - ...``, which keeps growing even when the operator stops being scraped)."""

    def __init__(self) -> None:
        self.last: dict[tuple[str, str], float] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = GaugeMetricFamily(
            "modelship_operator_registry_sync_lag_seconds",
            "Seconds since the ModelRegistry was last synced successfully.",
            labels=["namespace", "registry"],
        )
        last = GaugeMetricFamily(
            "modelship_operator_registry_last_sync_timestamp_seconds",
            "Unix time of the ModelRegistry's last successful sync.",
            labels=["namespace", "registry"],
        )
        now = time.time()
        for (namespace, name), at in sorted(self.last.items()):
            lag.add_metric([namespace, name], max(0.0, now - at))
            last.add_metric([namespace, name], at)
        yield lag
        yield last


class Metrics:
    """All operator metrics in their own registry (nothing global, so tests can build several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.reconciles = Counter(
            "modelship_operator_reconciles_total",
            "Reconciliations by resource kind and result (ok, temporary_error, permanent_error, error).",
            ["kind", "result"],
            registry=r,
        )
        self.reconcile_seconds = Histogram(
            "modelship_operator_reconcile_duration_seconds",
            "Duration of one reconciliation.",
            ["kind"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.rollouts = Counter(
            "modelship_operator_rollouts_total",
            "Model version rollouts by result (started, succeeded, failed).",
            ["result"],
            registry=r,
        )
        self.rollout_seconds = Histogram(
            "modelship_operator_rollout_duration_seconds",
            "From rendering a new version to its model server being available.",
            buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.errors = Counter(
            "modelship_operator_errors_total",
            "Errors by kind and reason (RegistryUnreachable, InvalidSpec, ...).",
            ["kind", "reason"],
            registry=r,
        )
        self.registry_syncs = Counter(
            "modelship_operator_registry_syncs_total",
            "ModelRegistry syncs by trigger (poll, webhook, spec) and result (ok, error).",
            ["trigger", "result"],
            registry=r,
        )
        self.registry_models = Gauge(
            "modelship_operator_registry_models",
            "Registered models served per ModelRegistry.",
            ["namespace", "registry"],
            registry=r,
        )
        self.webhooks = Counter(
            "modelship_operator_webhook_deliveries_total",
            "MLflow webhook deliveries by result (accepted, ignored, bad_signature, bad_request, too_large).",
            ["result"],
            registry=r,
        )
        self.rollout_decisions = Counter(
            "modelship_operator_rollout_decisions_total",
            "Shadow/Canary rollout decisions applied, by strategy, action (step, promote, rollback, abort) and "
            "trigger (automatic, manual).",
            ["strategy", "action", "trigger"],
            registry=r,
        )
        self._lag = _SyncLag()
        r.register(self._lag)
        self._rollouts = _Rollouts()
        r.register(self._rollouts)
        # Every value of the bounded labels exported at 0 from the start: increase() and rate() then see the
        # first failed rollout or rejected delivery (a series born at 1 has no increase).
        for result in ROLLOUT_RESULTS:
            self.rollouts.labels(result)
        for result in WEBHOOK_RESULTS:
            self.webhooks.labels(result)
        for strategy in DECISION_STRATEGIES:
            for action in DECISION_ACTIONS:
                for trigger in DECISION_TRIGGERS:
                    self.rollout_decisions.labels(strategy, action, trigger)

    def synced(self, namespace: str, name: str, models: int, at: float | None = None) -> None:
        self._lag.last[(namespace, name)] = time.time() if at is None else at
        self.registry_models.labels(namespace, name).set(models)

    def forget_registry(self, namespace: str, name: str) -> None:
        self._lag.last.pop((namespace, name), None)
        with contextlib.suppress(KeyError):
            self.registry_models.remove(namespace, name)

    def decision_applied(self, strategy: str, action: str, *, manual: bool) -> None:
        """Count one rollout decision whose effects were applied (once per decision, not per retry)."""
        self.rollout_decisions.labels(strategy, action, "manual" if manual else "automatic").inc()

    def rollout_running(self, namespace: str, name: str, gauge: RolloutGauge) -> None:
        self._rollouts.current[(namespace, name)] = gauge

    def rollout_over(self, namespace: str, name: str) -> None:
        """Remove the InferenceService's rollout series (no rollout runs there any more)."""
        self._rollouts.current.pop((namespace, name), None)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def create_metrics_app(metrics: Metrics) -> web.Application:
    """aiohttp app serving ``GET /metrics``."""

    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", handle)
    return app
