"""The predict route's lean path answers exactly as FastAPI's route does, and hands FastAPI everything else.

Two live gateways in front of the same stand-in model server: one with the lean path (the default), one with
``fast_predict=False`` (FastAPI's route answers every request). Every request below goes to both; the answers
must be the same, status and body (a 200's request id and latency aside). A counter in front of FastAPI in the
lean gateway shows which requests the lean path answered itself.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from modelship_common.db import Prediction
from modelship_gateway.fast_predict import FastPredict
from services.gateway.tests.test_predict import ENCODED, RAW_LIST, ROW
from services.gateway.tests.testkit import LiveGateway

# Live gateways in front of the stand-in model server (a subprocess).
pytestmark = pytest.mark.integration

JSON = {"content-type": "application/json"}


def rows(*instances: Any) -> bytes:
    return json.dumps({"instances": list(instances)}).encode()


#: (what, model, raw body, headers, answered by the lean path itself)
CASES: list[tuple[str, str, bytes, dict[str, str], bool]] = [
    ("one raw row (object)", "penguins", rows(ROW), JSON, True),
    ("three rows: raw list, encoded, object", "penguins", rows(RAW_LIST, ENCODED, ROW), JSON, True),
    ("a row of the wrong length (the service's 422)", "penguins", rows([1, 2]), JSON, True),
    ("JSON with a charset", "penguins", rows([1, 2]), {"content-type": "application/json; charset=utf-8"}, True),
    ("an unknown model (404)", "nope", rows(ENCODED), JSON, True),
    ("rows to an image model (its server's 400, relayed)", "digits-fast", rows(ENCODED), JSON, True),
    ("a failing model server (502)", "broken", rows(ENCODED), JSON, True),
    ("a good X-Request-ID", "penguins", rows(ENCODED), {**JSON, "x-request-id": "fast-1"}, True),
    ("a NaN value (orjson cannot read it)", "penguins", b'{"instances": [[NaN, 1, 1, 1, 1, 0, 0, 1, 0]]}', JSON, False),
    ("no rows", "penguins", rows(), JSON, False),
    ("instances not a list", "penguins", b'{"instances": 5}', JSON, False),
    ("no instances", "penguins", b'{"rows": [[1]]}', JSON, False),
    ("a list, not an object", "penguins", b"[[1, 2]]", JSON, False),
    ("not JSON", "penguins", b'{"instances": [', JSON, False),
    ("empty body", "penguins", b"", JSON, False),
    ("text/plain", "penguins", rows([1, 2]), {"content-type": "text/plain"}, False),
    ("an X-Request-ID over 64 characters", "penguins", rows(ENCODED), {**JSON, "x-request-id": "x" * 65}, False),
]


class CountingApp:
    """Counts the requests that reach FastAPI behind the lean path."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls += 1
        await self.app(scope, receive, send)


def fastapi_counter(gateway: LiveGateway) -> CountingApp:
    """Put a counter between the gateway's lean path and FastAPI (the middleware stack is built by the first
    request, so make one first)."""
    assert gateway.http.get("/healthz").status_code == 200
    node = gateway.server.config.loaded_app
    while not isinstance(node, FastAPI):  # uvicorn's wrappers
        node = node.app
    node = node.middleware_stack
    while not isinstance(node, FastPredict):
        node = node.app
    counter = CountingApp(node.app)
    node.app = counter
    return counter


def comparable(response: Any) -> tuple[int, Any]:
    body = response.json()
    if response.status_code == 200:
        body = {k: v for k, v in body.items() if k not in ("request_id", "latency_ms")}
    return response.status_code, body


def test_the_lean_path_answers_as_the_route_does(start_gateway: Any) -> None:
    lean = start_gateway()
    routed = start_gateway(fast_predict=False, database_url=lean.settings.database_url.replace(".db", "-routed.db"))
    counter = fastapi_counter(lean)
    mismatches = []
    for what, model, body, headers, answered_lean in CASES:
        before = counter.calls
        got = comparable(lean.http.post(f"/api/models/{model}/predict", content=body, headers=headers))
        want = comparable(routed.http.post(f"/api/models/{model}/predict", content=body, headers=headers))
        if got != want:
            mismatches.append(f"{what}: lean path {got}, FastAPI route {want}")
        reached_fastapi = counter.calls > before
        if reached_fastapi == answered_lean:
            mismatches.append(f"{what}: {'reached' if reached_fastapi else 'did not reach'} FastAPI")
    assert not mismatches, "\n".join(mismatches)


def test_the_lean_path_stores_labels_and_ids_as_the_route_does(start_gateway: Any) -> None:
    lean = start_gateway()
    counter = fastapi_counter(lean)
    first = lean.http.post("/api/models/penguins/predict", json={"instances": [ROW, RAW_LIST]})
    replay = lean.http.post(
        "/api/models/penguins/predict", json={"instances": [ROW]}, headers={"X-Request-ID": "same-id"}
    )
    again = lean.http.post(
        "/api/models/penguins/predict", json={"instances": [ROW]}, headers={"X-Request-ID": "same-id"}
    )
    assert counter.calls == 0, "the lean path handed these to FastAPI"
    assert [r.status_code for r in (first, replay, again)] == [200, 200, 200]
    assert first.headers["x-request-id"] == first.json()["request_id"]
    assert replay.headers["x-request-id"] == replay.json()["request_id"] == "same-id"
    engine = sa.create_engine(lean.settings.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(Prediction.request_id, Prediction.n_instances)).all()
    finally:
        engine.dispose()
    assert sorted(rows) == sorted([(first.json()["request_id"], 2), ("same-id", 1)])  # the replay stored once
    metrics = lean.http.get("/metrics").text
    assert (
        'modelship_gateway_requests_total{method="POST",route="/api/models/{name}/predict",status="200"} 3.0' in metrics
    )


def test_a_request_the_lean_path_answers_is_traced_as_the_route(start_gateway: Any, spans: Any) -> None:
    """With tracing on, a request the lean path answers has the route's SERVER span, named by its template."""
    from opentelemetry import trace

    lean = start_gateway()
    counter = fastapi_counter(lean)
    assert lean.http.post("/api/models/penguins/predict", json={"instances": [ROW]}).status_code == 200
    assert counter.calls == 0
    finished = spans.get_finished_spans()
    server = [s for s in finished if s.kind is trace.SpanKind.SERVER and "predict" in s.name]
    assert [s.name for s in server] == ["POST /api/models/{name}/predict"], [s.name for s in finished]
