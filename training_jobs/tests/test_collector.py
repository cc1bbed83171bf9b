"""The collector against the real sample data API (uvicorn in a thread, settable clock), real SQLite and a real MLflow
server. Every test that reaches the data API or the garbage server listens on a loopback port: marked integration."""

from __future__ import annotations

import http.server
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from modelship_common.db import make_engine
from modelship_training import data_api, penguins_data
from modelship_training.collector import CollectError, RetrainError, collect, collector_runs
from modelship_training.settings import TrainingSettings, get_settings

SEED = 0
BATCHES = data_api.make_batches(10, seed=SEED)  # sizes 35, 35, 35, 35, 34, 34, ...


class Clock:
    """A clock the test moves by hand: ``advance()`` = the next batch."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self) -> None:
        self.now += 300


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def api_url(clock: Clock) -> Iterator[str]:
    """``GET /batch`` of a real sample data API whose batch the test advances."""
    app = data_api.create_app(batches=10, batch_seconds=300, seed=SEED, clock=clock)
    with data_api.serve_in_background(app) as url:
        yield f"{url}/batch"


@pytest.fixture
def settings(api_url: str, database_url: str, unused_port: int, unique_name: str) -> TrainingSettings:
    """Collector settings; MLflow is unreachable unless a test points it at the real server."""
    return get_settings(
        collector_url=api_url,
        database_url=database_url,
        mlflow_tracking_uri=f"http://127.0.0.1:{unused_port}",
        retrain_threshold_rows=10_000,
        retrain_estimators=["logistic_regression"],
        retrain_grid_search=False,
        penguins_experiment=unique_name,
        penguins_model_name=unique_name,
    )


def raw_ids(settings: TrainingSettings) -> list[tuple[str, int, str]]:
    engine = make_engine(settings.database_url)
    try:
        raw = penguins_data.read_raw(engine)
    finally:
        engine.dispose()
    return list(zip(raw["study_name"], raw["sample_number"], raw["species"], strict=True))


def batch_ids(k: int) -> list[tuple[str, int, str]]:
    return [(r["studyName"], r["Sample Number"], r["Species"]) for r in BATCHES[k]]


def runs(settings: TrainingSettings) -> list[dict[str, Any]]:
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(collector_runs).order_by(collector_runs.c.id))]
    finally:
        engine.dispose()


def snapshot(database_url: str) -> list[str]:
    """Every table's schema and rows, as SQL."""
    conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def run_cli(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelship_training", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "MODELSHIP_DATABASE_URL": database_url},
        timeout=120,
        check=False,
    )


@pytest.mark.integration  # the sample data API (api_url)
def test_new_rows_are_appended_once_and_rotation_brings_more(settings: TrainingSettings, clock: Clock) -> None:
    first = collect(settings)
    assert (first.batch, first.fetched, first.added, first.pending, first.report) == (0, 35, 35, 35, None)
    assert raw_ids(settings) == batch_ids(0)

    again = collect(settings)
    assert (again.batch, again.fetched, again.added, again.pending) == (0, 35, 0, 35)
    assert raw_ids(settings) == batch_ids(0)

    clock.advance()
    second = collect(settings)
    assert (second.batch, second.added, second.pending) == (1, 35, 70)
    assert raw_ids(settings) == batch_ids(0) + batch_ids(1)

    engine = make_engine(settings.database_url)
    try:
        raw = penguins_data.read_raw(engine)
        processed = penguins_data.read_processed(engine)
    finally:
        engine.dispose()
    assert set(raw["source"]) == {"collector"}
    assert list(processed["raw_id"]) == list(penguins_data.clean(raw)["raw_id"])  # rebuilt from every raw row
    assert 60 <= len(processed) <= 70
    assert [(r["batch"], r["fetched"], r["added"], r["retrained"]) for r in runs(settings)] == [
        (0, 35, 35, False),
        (0, 35, 0, False),
        (1, 35, 35, False),
    ]


@pytest.mark.integration  # the sample data API (api_url)
def test_rows_already_stored_by_the_seed_are_not_collected(settings: TrainingSettings) -> None:
    engine = make_engine(settings.database_url)
    try:
        penguins_data.seed_raw(engine)
    finally:
        engine.dispose()
    result = collect(settings)
    assert (result.fetched, result.added) == (35, 0)
    assert len(raw_ids(settings)) == 344


@pytest.mark.integration
@pytest.mark.slow
def test_retrain_starts_exactly_at_the_threshold(settings: TrainingSettings, clock: Clock, tracking_uri: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    name = settings.penguins_model_name
    settings = settings.model_copy(update={"mlflow_tracking_uri": tracking_uri, "retrain_threshold_rows": 70})

    def versions() -> list[str]:
        return sorted(v.version for v in client.search_model_versions(f"name='{name}'"))

    assert collect(settings).report is None  # batch 0: 35 of 70
    assert collect(settings).report is None  # batch 0 again: nothing new
    assert versions() == []

    clock.advance()  # batch 1: 70 of 70
    result = collect(settings)
    assert result.pending == 70
    assert result.report is not None
    (first,) = result.report.results
    assert (first.version, first.estimator, first.alias) == ("1", "logistic_regression", "champion")
    assert versions() == ["1"]
    assert runs(settings)[-1]["retrained"] and runs(settings)[-1]["trained_up_to"] == 70

    again = collect(settings)  # batch 1 again: nothing new since the retraining
    assert (again.added, again.pending, again.report) == (0, 0, None)
    clock.advance()  # batch 2: 35
    assert collect(settings).report is None
    clock.advance()  # batch 3: 35 more = 70
    # A margin no F1 can clear (F1 <= 1): the second retraining must stay challenger and v1 stay champion,
    # whatever the two F1s are.
    result = collect(settings.model_copy(update={"promotion_margin": 1.0}))
    assert result.report is not None
    (second,) = result.report.results
    assert versions() == ["1", "2"]
    assert (second.version, second.alias) == ("2", "challenger")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    assert client.get_model_version_by_alias(name, "challenger").version == "2"


@pytest.mark.integration  # the sample data API (api_url)
def test_failed_retraining_keeps_the_rows_and_is_retried(settings: TrainingSettings) -> None:
    settings = settings.model_copy(update={"retrain_threshold_rows": 35})
    with pytest.raises(RetrainError, match=r"^batch stored, retraining failed: cannot reach MLflow at "):
        collect(settings)
    assert raw_ids(settings) == batch_ids(0)
    (run,) = runs(settings)
    assert not run["retrained"]
    assert run["error"].startswith("cannot reach MLflow at ")
    with pytest.raises(RetrainError):  # the rows still count as new: the next run tries again
        collect(settings)


@pytest.mark.integration  # the sample data API (api_url)
def test_unreachable_url_is_one_error_line_and_changes_nothing(settings: TrainingSettings, unused_port: int) -> None:
    collect(settings)
    before = snapshot(settings.database_url)
    url = f"http://127.0.0.1:{unused_port}/batch"
    done = run_cli("collect", "--url", url, database_url=settings.database_url)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: cannot reach the data API at {url}: [Errno 111] Connection refused"
    ]
    assert snapshot(settings.database_url) == before


GARBAGE: dict[str, tuple[int, str, bytes]] = {
    "/html": (200, "text/html", b"<html><body>maintenance</body></html>"),
    "/error": (503, "text/plain", b"upstream down"),
    "/truncated": (200, "application/json", b'{"batch": 1, "rows": [{"Species": "Adel'),
    "/list": (200, "application/json", b"[1, 2, 3]"),
    "/rows-not-list": (200, "application/json", b'{"batch": 1, "rows": "none"}'),
    "/unknown-column": (200, "application/json", b'{"batch": 1, "rows": [{"Species": "Adelie", "wingspan": 1}]}'),
    "/nested-value": (200, "application/json", b'{"batch": 1, "rows": [{"Species": {"name": "Adelie"}}]}'),
    "/empty-row": (200, "application/json", b'{"batch": 1, "rows": [{}]}'),
    "/null-row": (200, "application/json", b'{"batch": 1, "rows": [{"Species": null, "Sex": null}]}'),
    "/no-rows": (200, "application/json", b'{"batch": 1}'),
    "/row-not-object": (200, "application/json", b'{"batch": 1, "rows": [{"Species": "Adelie"}, 7]}'),
    "/boolean-value": (200, "application/json", b'{"batch": 1, "rows": [{"Sample Number": true}]}'),
    "/batch-text": (200, "application/json", b'{"batch": "1", "rows": []}'),
}


@pytest.fixture(scope="module")
def garbage_url() -> Iterator[str]:
    """A real HTTP server answering each path of :data:`GARBAGE` with its status, type and body."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = GARBAGE[self.path]
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.integration  # the sample data API and the garbage server
@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/html", "answered something that is not JSON: '<html><body>maintenance</body></html>'"),
        ("/error", "answered HTTP 503 Service Unavailable"),
        ("/truncated", "answered something that is not JSON"),
        ("/list", "answered an invalid batch: expected a JSON object, got list"),
        ("/rows-not-list", "answered an invalid batch: 'rows' must be a list"),
        ("/unknown-column", "answered an invalid batch: row 0 has unknown column(s) wingspan"),
        ("/nested-value", "answered an invalid batch: row 0 column 'Species' is not text, a number or null"),
        ("/empty-row", "answered an invalid batch: row 0 has no values"),
        ("/null-row", "answered an invalid batch: row 0 has no values"),
        ("/no-rows", "answered an invalid batch: 'rows' must be a list"),
        ("/row-not-object", "answered an invalid batch: row 1 is not an object"),
        ("/boolean-value", "answered an invalid batch: row 0 column 'Sample Number' is not text, a number or null"),
        ("/batch-text", "answered an invalid batch: 'batch' must be an integer"),
    ],
)
def test_garbage_is_refused_and_changes_nothing(
    settings: TrainingSettings, garbage_url: str, path: str, message: str
) -> None:
    collect(settings)
    before = snapshot(settings.database_url)
    url = f"{garbage_url}{path}"
    with pytest.raises(CollectError) as caught:
        collect(settings.model_copy(update={"collector_url": url}))
    assert str(caught.value).startswith(f"data API at {url} {message}")
    assert "\n" not in str(caught.value)
    assert snapshot(settings.database_url) == before


@pytest.mark.integration  # the sample data API and the garbage server
def test_garbage_through_the_cli_exits_1(settings: TrainingSettings, garbage_url: str) -> None:
    collect(settings)
    before = snapshot(settings.database_url)
    done = run_cli("collect", "--url", f"{garbage_url}/html", database_url=settings.database_url)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: data API at {garbage_url}/html answered something that is not JSON: "
        "'<html><body>maintenance</body></html>'"
    ]
    assert snapshot(settings.database_url) == before


@pytest.mark.integration  # the sample data API (api_url)
def test_cli_collects_and_reports(settings: TrainingSettings) -> None:
    done = run_cli("collect", "--url", settings.collector_url, database_url=settings.database_url)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip() == "batch 0: 35 rows fetched, 35 new; 35/50 rows since the last retraining; no retraining"
    )


def test_unknown_retrain_estimator_is_a_setting_error() -> None:
    with pytest.raises(ValueError, match="choose one or more of logistic_regression"):
        get_settings(retrain_estimators=["xgboost"])
    from modelship_training.penguins_models import CANDIDATES
    from modelship_training.settings import PENGUINS_ESTIMATORS

    assert tuple(CANDIDATES) == PENGUINS_ESTIMATORS
    assert json.dumps(get_settings(retrain_estimators=["knn"]).retrain_estimators) == '["knn"]'
