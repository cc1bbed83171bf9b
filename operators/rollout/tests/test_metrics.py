import asyncio

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
