import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from modelship_operator.metrics import Metrics, create_metrics_app


def test_metrics_exposed():
    metrics = Metrics()
    metrics.reconciles.labels("InferenceService", "ok").inc()
    metrics.rollouts.labels("started").inc()
    metrics.synced("ml", "mlflow", 3, at=0)
    text = metrics.render().decode()
    assert 'modelship_operator_reconciles_total{kind="InferenceService",result="ok"} 1.0' in text
    assert 'modelship_operator_registry_models{namespace="ml",registry="mlflow"} 3.0' in text
    assert 'modelship_operator_registry_sync_lag_seconds{namespace="ml",registry="mlflow"}' in text
    metrics.forget_registry("ml", "mlflow")
    assert 'registry="mlflow"' not in metrics.render().decode()


@pytest.mark.integration  # aiohttp's TestServer listens on a loopback port
def test_metrics_endpoint():
    async def main():
        metrics = Metrics()
        metrics.webhooks.labels("accepted").inc()
        async with TestClient(TestServer(create_metrics_app(metrics))) as client:
            resp = await client.get("/metrics")
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            assert "modelship_operator_webhook_deliveries_total" in await resp.text()

    asyncio.run(main())


def _samples(text):
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_last_sync_timestamp_and_zeroed_counters():
    metrics = Metrics()
    samples = _samples(metrics.render().decode())
    # bounded label values exported at 0 before anything happened (so increase() sees the first one)
    for result in ("started", "succeeded", "failed"):
        assert samples[("modelship_operator_rollouts_total", (("result", result),))] == 0
    for result in ("accepted", "ignored", "bad_signature", "bad_request", "too_large"):
        assert samples[("modelship_operator_webhook_deliveries_total", (("result", result),))] == 0
    metrics.synced("ml", "mlflow", 2, at=1_700_000_000.5)
    samples = _samples(metrics.render().decode())
    key = (("namespace", "ml"), ("registry", "mlflow"))
    assert samples[("modelship_operator_registry_last_sync_timestamp_seconds", key)] == 1_700_000_000.5
    assert samples[("modelship_operator_registry_sync_lag_seconds", key)] > 1e6
    metrics.forget_registry("ml", "mlflow")
    assert "modelship_operator_registry_last_sync_timestamp_seconds{" not in metrics.render().decode()


@pytest.mark.integration  # two TestServers on loopback ports
def test_webhook_deliveries_counted_on_the_metrics_endpoint():
    """The real webhook app wired to the metrics as the operator does, then a scrape of GET /metrics."""
    import json
    import time

    from modelship_operator.webhook import create_webhook_app, sign

    secret = "s3cret"

    def headers(body, key=secret):
        ts = str(int(time.time()))
        return {
            "Content-Type": "application/json",
            "X-MLflow-Delivery-Id": "d-1",
            "X-MLflow-Timestamp": ts,
            "X-MLflow-Signature": sign(key, "d-1", ts, body),
        }

    async def main():
        metrics = Metrics()

        async def trigger(_delivery):
            return 1

        hook = create_webhook_app(secret, trigger, on_result=lambda result: metrics.webhooks.labels(result).inc())
        alias = {"entity": "model_version_alias", "action": "created", "data": {"name": "m", "alias": "a"}}
        body = json.dumps(alias).encode()
        async with TestClient(TestServer(hook)) as client:
            assert (await client.post("/webhooks/mlflow", data=body, headers=headers(body))).status == 202
            assert (await client.post("/webhooks/mlflow", data=body, headers=headers(body))).status == 202
            bad = await client.post("/webhooks/mlflow", data=body, headers=headers(body, key="wrong"))
            assert bad.status == 401
        async with TestClient(TestServer(create_metrics_app(metrics))) as client:
            return _samples(await (await client.get("/metrics")).text())

    samples = asyncio.run(main())
    assert samples[("modelship_operator_webhook_deliveries_total", (("result", "accepted"),))] == 2
    assert samples[("modelship_operator_webhook_deliveries_total", (("result", "bad_signature"),))] == 1
    assert samples[("modelship_operator_webhook_deliveries_total", (("result", "ignored"),))] == 0


def test_rollout_decisions_zeroed_and_counted_by_strategy_action_trigger():
    metrics = Metrics()
    samples = _samples(metrics.render().decode())
    name = "modelship_operator_rollout_decisions_total"
    zeroed = {labels for (metric, labels) in samples if metric == name}
    assert len(zeroed) == 2 * 4 * 2  # Shadow/Canary x step/promote/rollback/abort x automatic/manual
    assert all(samples[(name, labels)] == 0 for labels in zeroed)
    metrics.decision_applied("Canary", "rollback", manual=False)
    metrics.decision_applied("Canary", "rollback", manual=False)
    metrics.decision_applied("Shadow", "promote", manual=True)
    samples = _samples(metrics.render().decode())
    assert samples[(name, (("action", "rollback"), ("strategy", "Canary"), ("trigger", "automatic")))] == 2
    assert samples[(name, (("action", "promote"), ("strategy", "Shadow"), ("trigger", "manual")))] == 1
    assert samples[(name, (("action", "rollback"), ("strategy", "Canary"), ("trigger", "manual")))] == 0


def test_rollout_gauges_exist_while_the_rollout_runs():
    from modelship_operator.metrics import RolloutGauge

    metrics = Metrics()
    assert "modelship_operator_rollout_candidate_weight_ratio{" not in metrics.render().decode()
    metrics.rollout_running("ml", "penguins", RolloutGauge(strategy="Canary", phase="Canary", weight=0.5, shadow=0.0))
    metrics.rollout_running("ml", "other", RolloutGauge(strategy="Shadow", phase="Shadowing", weight=0.0, shadow=1.0))
    samples = _samples(metrics.render().decode())
    key = (("inferenceservice", "penguins"), ("namespace", "ml"))
    assert samples[("modelship_operator_rollout_candidate_weight_ratio", key)] == 0.5
    assert samples[("modelship_operator_rollout_shadow_share_ratio", key)] == 0.0
    phase = (("inferenceservice", "penguins"), ("namespace", "ml"), ("phase", "Canary"), ("strategy", "Canary"))
    assert samples[("modelship_operator_rollout_phase", phase)] == 1
    other = (("inferenceservice", "other"), ("namespace", "ml"))
    assert samples[("modelship_operator_rollout_shadow_share_ratio", other)] == 1.0
    metrics.rollout_over("ml", "penguins")
    metrics.rollout_over("ml", "penguins")  # twice is fine
    text = metrics.render().decode()
    assert 'inferenceservice="penguins"' not in text and 'inferenceservice="other"' in text
