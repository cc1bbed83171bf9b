"""The operator's traces: off (no SDK imported) without an OTLP endpoint; with tracing on, the MLflow calls are
CLIENT spans naming the tracking server (the reconcile and rollout-pass spans are checked on kwok)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace

from devtools.procs import free_port
from modelship_operator import mlflow_access as ml
from services.common.tests.test_tracing import run_probe

PROBE = """
import json, sys
import modelship_operator.handlers  # what `kopf run -m modelship_operator.handlers` imports
from modelship_common import tracing
on = tracing.configure_tracing("modelship-operator")
print(json.dumps({
    "on": on,
    "sdk_imported": sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk"))[:3],
    "service": getattr(getattr(tracing.provider(), "resource", None), "attributes", {}).get("service.name"),
}))
tracing.shutdown_tracing()
"""


def probe(**env: str) -> dict[str, Any]:
    return run_probe(PROBE, **env)


def test_without_an_otlp_endpoint_the_operator_imports_no_sdk() -> None:
    assert probe() == {"on": False, "sdk_imported": [], "service": None}


def test_an_otlp_endpoint_turns_the_operators_tracing_on() -> None:
    state = probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:1", OTEL_EXPORTER_OTLP_TIMEOUT="1")
    assert state["on"] is True and state["service"] == "modelship-operator" and state["sdk_imported"]


@pytest.fixture
def mlflow_client_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the operator's startup sets (a short timeout, no retry loop), undone after the test."""
    for key in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"):
        monkeypatch.setenv(key, "0")  # recorded, so the values configure_mlflow_client writes go afterwards
    ml.configure_mlflow_client(2)


@pytest.mark.usefixtures("mlflow_client_env")
def test_an_mlflow_call_is_a_client_span_failed_when_mlflow_is_down(spans: Any) -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(ml.RegistryUnreachable):
        ml.alias_version(f"http://127.0.0.1:{port}", "penguins", "challenger")
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert set(finished) == {"mlflow alias_version", "mlflow resolve"}
    outer, inner = finished["mlflow alias_version"], finished["mlflow resolve"]
    assert inner.parent is not None and inner.parent.span_id == outer.context.span_id
    for span in (outer, inner):
        assert span.kind is trace.SpanKind.CLIENT and span.status.status_code is trace.StatusCode.ERROR
        assert span.attributes is not None
        assert (span.attributes["server.address"], span.attributes["server.port"]) == ("127.0.0.1", port)
        assert span.attributes["modelship.model.name"] == "penguins"


@pytest.mark.usefixtures("mlflow_client_env")
def test_with_tracing_off_an_mlflow_call_records_nothing(spans: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelship_common import tracing

    monkeypatch.setattr(tracing, "_provider", None)
    with pytest.raises(ml.RegistryUnreachable):
        ml.tag_version(f"http://127.0.0.1:{free_port()}", "penguins", "1", {"k": "v"})
    assert spans.get_finished_spans() == ()


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/apis/apps/v1/namespaces/ns/deployments/d/status", ("deployments/status", "ns")),
        ("/apis/apps/v1/namespaces/ns/deployments/d", ("deployments", "ns")),
        ("/apis/apps/v1/namespaces/ns/deployments?labelSelector=a%3Db", ("deployments", "ns")),
        ("/api/v1/namespaces/ns/services/s", ("services", "ns")),
        ("/api/v1/namespaces/ns", ("namespaces", None)),
        ("/api/v1/namespaces", ("namespaces", None)),
        ("/apis/serving.kserve.io/v1beta1/inferenceservices", ("inferenceservices", None)),
        ("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/x.y", ("customresourcedefinitions", None)),
    ],
)
def test_a_kube_call_span_is_named_by_resource_not_object(path: str, route: tuple[str, str | None]) -> None:
    from modelship_operator.kube import api_route

    assert api_route(path) == route
