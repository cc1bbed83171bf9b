"""GET /metrics: request and model-server histograms scraped from a live gateway in front of a real model server."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.tests.test_predict import ROW
from services.gateway.tests.testkit import LiveGateway

pytestmark = pytest.mark.integration


def scrape(gateway: LiveGateway) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``: (sample name, sorted labels) -> value."""
    response = gateway.http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_after_predictions(gateway: LiveGateway) -> None:
    for _ in range(2):
        assert gateway.http.post("/api/models/penguins/predict", json={"instances": [ROW]}).status_code == 200
    assert gateway.http.post("/api/models/broken/predict", json={"instances": [ROW]}).status_code == 502
    assert gateway.http.post("/api/models/nope/predict", json={"instances": [ROW]}).status_code == 404
    assert gateway.http.get("/no/such/path/42").status_code == 404
    assert gateway.http.get("/healthz").status_code == 200

    samples = scrape(gateway)
    route = "/api/models/{name}/predict"
    request = "modelship_gateway_request_duration_seconds"
    # Route templates, never raw paths; one series per (method, route, status).
    assert sample(samples, f"{request}_count", method="POST", route=route, status="200") == 2
    assert sample(samples, f"{request}_count", method="POST", route=route, status="502") == 1
    assert sample(samples, f"{request}_count", method="POST", route=route, status="404") == 1
    assert sample(samples, f"{request}_count", method="GET", route="unmatched", status="404") == 1
    assert sample(samples, f"{request}_count", method="GET", route="/healthz", status="200") == 1
    assert sample(samples, f"{request}_bucket", method="POST", route=route, status="200", le="+Inf") == 2
    assert sample(samples, f"{request}_sum", method="POST", route=route, status="200") > 0
    assert sample(samples, "modelship_gateway_requests_total", method="POST", route=route, status="200") == 2
    assert sample(samples, "modelship_gateway_requests_total", method="POST", route=route, status="502") == 1
    routes = {dict(labels).get("route") for name, labels in samples if name == "modelship_gateway_requests_total"}
    assert routes == {route, "unmatched", "/healthz"}, routes  # this scrape is counted after it is answered

    upstream = "modelship_gateway_upstream_request_duration_seconds"
    assert sample(samples, f"{upstream}_count", model="penguins", outcome="ok") == 2
    assert sample(samples, f"{upstream}_sum", model="penguins", outcome="ok") > 0
    assert sample(samples, f"{upstream}_count", model="broken", outcome="error") == 1
    # An unknown model never reaches a model server.
    assert not [labels for name, labels in samples if name == f"{upstream}_count" and ("model", "nope") in labels]
    assert sample(samples, "process_resident_memory_bytes") is not None

    # The scrape itself is counted once it has been answered.
    again = scrape(gateway)
    assert sample(again, "modelship_gateway_requests_total", method="GET", route="/metrics", status="200") == 1


def test_metrics_is_not_in_the_openapi_schema_and_each_app_counts_alone(start_gateway) -> None:
    first, second = start_gateway(), start_gateway()
    assert "/metrics" not in first.http.get("/openapi.json").json()["paths"]
    assert first.http.get("/healthz").status_code == 200
    samples = scrape(second)
    assert sample(samples, "modelship_gateway_requests_total", method="GET", route="/healthz", status="200") is None
