"""The dashboard pages over HTTP, against a live gateway in front of the real KServe stand-in model server."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from modelship_common.db import Event, Image, Prediction, make_engine
from modelship_gateway.dashboard.settings import get_dashboard_settings
from modelship_gateway.dashboard.static_files import plotly_js
from modelship_gateway.settings import DashboardSettings
from services.gateway.tests.testkit import LiveGateway

# Live gateways in front of the stand-in model server (a subprocess) and a real MLflow server.
pytestmark = pytest.mark.integration

PAGES = {
    "/dashboard/": "Home",
    "/dashboard/upload": "Upload an image",
    "/dashboard/penguins": "Penguins",
    "/dashboard/predictions": "Predictions",
    "/dashboard/models": "Models",
    "/dashboard/rollouts": "Rollouts",
    "/dashboard/monitoring": "Monitoring",
    "/dashboard/experiments": "Experiments",
}
T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def local_images(image_env: Path) -> None:
    """No Kafka, uploaded images in a local directory under tmp_path."""


def configure(gateway: LiveGateway, **values: Any) -> None:
    """Override the dashboard settings of a live gateway (the FastAPI dependency)."""
    settings = DashboardSettings(**values)
    gateway.server.config.app.dependency_overrides[get_dashboard_settings] = lambda: settings


@pytest.fixture
def db_session(gateway: LiveGateway) -> Iterator[Session]:
    engine = make_engine(gateway.settings.database_url)
    with Session(engine) as session:
        yield session
    engine.dispose()


def populate(session: Session) -> None:
    """Two images scored by two models, penguins rows from two sources, events."""
    for i in range(2):
        session.add(
            Image(
                id=f"img-{i}",
                created_at=T0 + dt.timedelta(minutes=i),
                filename=f"digit-{i}.png",
                content_type="image/png",
                size_bytes=120,
                sha256="0" * 64,
                storage_key=f"images/img-{i}.png",
                status="processed",
                source="dashboard",
            )
        )
        for model, cls in (("digits-fast", "1"), ("digits-accurate", "1" if i == 0 else "7")):
            session.add(row(model, cls, request_id=f"img-{i}", source="stream", at=T0 + dt.timedelta(minutes=i)))
    for k in range(30):
        session.add(
            row(
                "penguins",
                ("Adelie", "Gentoo")[k % 2],
                source=("api", "cli")[k % 3 == 0],
                at=T0 + dt.timedelta(days=k // 10, minutes=k),
                request_id=f"peng-{k:02d}",
                latency_ms=float(k + 1),
            )
        )
    session.add(Event(kind="upload", message="image img-0 uploaded", details={}, created_at=T0))
    session.add(Event(kind="failure", message="digits-accurate timed out", details={}, created_at=T0))
    session.add(Event(kind="rollout", message="penguins v3 rolled out", details={}, created_at=T0))
    session.commit()


def row(model: str, cls: str, *, request_id: str, source: str, at: dt.datetime, latency_ms: float = 12.0) -> Prediction:
    return Prediction(
        request_id=request_id,
        model_name=model,
        model_version="1",
        predicted_class=cls,
        confidence=0.8,
        latency_ms=latency_ms,
        source=source,
        created_at=at,
        input={},
        output={},
    )


def request_ids(html: str) -> list[str]:
    return re.findall(r'data-request-id="([^"]+)"', html)


def assert_page(gateway: LiveGateway, path: str, title: str) -> str:
    response = gateway.http.get(path)
    assert response.status_code == 200, (path, response.text[:2000])
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert f"<h1>{title}</h1>" in html, path
    for nav_path in PAGES:
        assert f'href="{nav_path}"' in html, (path, nav_path)
    assert "Traceback" not in html
    return html


def test_every_page_renders_with_an_empty_database_and_mlflow_down(gateway: LiveGateway) -> None:
    for path, title in PAGES.items():
        assert_page(gateway, path, title)
    home = gateway.http.get("/dashboard/").text
    assert 'id="count-images">0<' in home and 'id="count-predictions">0<' in home
    assert 'id="count-models">3<' in home  # the stand-in's penguins, digits-fast, broken
    assert "No image uploaded yet" in home and "No system event yet" in home
    assert "No prediction stored yet" in gateway.http.get("/dashboard/models").text
    experiments = gateway.http.get("/dashboard/experiments").text
    assert 'id="mlflow-error"' in experiments and "MLflow at" in experiments


def test_data_pages_refresh_themselves_and_forms_do_not(gateway: LiveGateway) -> None:
    for path in (
        "/dashboard/",
        "/dashboard/predictions",
        "/dashboard/models",
        "/dashboard/rollouts",
        "/dashboard/monitoring",
    ):
        assert 'data-refresh="30"' in gateway.http.get(path).text, path
    for path in ("/dashboard/upload", "/dashboard/penguins"):
        assert 'data-refresh="0"' in gateway.http.get(path).text, path


def test_every_page_renders_with_data(gateway: LiveGateway, db_session: Session) -> None:
    populate(db_session)
    pages = {path: assert_page(gateway, path, title) for path, title in PAGES.items()}
    home = pages["/dashboard/"]
    assert 'id="count-images">2<' in home and 'id="count-predictions">34<' in home and 'id="count-events">3<' in home
    assert 'src="/api/images/img-1/content"' in home and 'src="/api/images/img-0/content"' in home
    assert "digits-accurate timed out" in home and "penguins v3 rolled out" in home
    assert request_ids(home)[0] == "peng-29"  # newest first
    models = pages["/dashboard/models"]
    assert 'id="chart-latency"' in models and 'id="chart-agreement"' in models
    assert 'id="consensus-rate">50.0%<' in models  # img-0 agreed, img-1 did not
    assert '<script src="/dashboard/static/plotly.min.js"' in models


def test_predictions_filters_and_pagination(gateway: LiveGateway, db_session: Session) -> None:
    populate(db_session)
    configure(gateway, page_size=7)
    get = gateway.http.get

    first = get("/dashboard/predictions").text
    assert request_ids(first) == [f"peng-{k:02d}" for k in range(29, 22, -1)]
    assert 'id="stat-count">34<' in first and 'id="page-info">page 1 of 5<' in first
    last = get("/dashboard/predictions", params={"page": 5}).text
    assert request_ids(last) == ["peng-01", "img-1", "img-1", "peng-00", "img-0", "img-0"]

    gentoo = get("/dashboard/predictions", params={"model": "penguins", "class": "Gentoo", "page": 2}).text
    assert 'id="stat-count">15<' in gentoo
    assert request_ids(gentoo) == [f"peng-{k:02d}" for k in range(15, 1, -2)]
    assert 'href="?model=penguins&amp;class=Gentoo&amp;page=3"' in gentoo  # the pager keeps the filters

    cli = get("/dashboard/predictions", params={"source": "cli"}).text
    assert request_ids(cli) == [f"peng-{k:02d}" for k in (27, 24, 21, 18, 15, 12, 9)]
    assert 'id="stat-count">10<' in cli

    day2 = (T0 + dt.timedelta(days=1)).date().isoformat()
    second_day = get("/dashboard/predictions", params={"date_from": day2, "date_to": day2, "model": "penguins"}).text
    assert 'id="stat-count">10<' in second_day
    assert request_ids(second_day) == [f"peng-{k:02d}" for k in range(19, 12, -1)]
    assert 'id="stat-latency">15.5 ms<' in second_day  # mean of 11..20

    stream = get("/dashboard/predictions", params={"source": "stream", "model": "digits-accurate"}).text
    assert sorted(request_ids(stream)) == ["img-0", "img-1"]

    bad = get("/dashboard/predictions", params={"date_from": "yesterday"})
    assert bad.status_code == 200 and "is not a date" in bad.text and 'id="stat-count">34<' in bad.text


def test_penguins_form_predicts_with_a_tabular_model(gateway: LiveGateway, db_session: Session) -> None:
    form = gateway.http.get("/dashboard/penguins").text
    assert '<option value="penguins"' in form and '<option value="digits-fast"' not in form
    assert 'min="10.0" max="100.0"' in form and "valid 1000 \u2013 10000" in form
    values = {
        "model": "penguins",
        "island": "Biscoe",
        "bill_length_mm": "47.5",
        "bill_depth_mm": "15",
        "flipper_length_mm": "217",
        "body_mass_g": "5400",
        "sex": "male",
    }
    answer = gateway.http.post("/dashboard/penguins", data=values)
    assert answer.status_code == 200, answer.text[:2000]
    instance = {"island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 15.0, "flipper_length_mm": 217.0,
                "body_mass_g": 5400.0, "sex": "male"}  # fmt: skip
    expected = gateway.http.post("/api/models/penguins/predict", json={"instances": [instance]}).json()
    predicted = expected["predictions"][0]["class_name"]
    assert f'id="penguins-class">{predicted}<' in answer.text
    assert answer.text.count("<tr class=") == 3  # one probability row per class
    assert db_session.query(Prediction).filter_by(model_name="penguins").count() == 2

    out_of_range = gateway.http.post("/dashboard/penguins", data=values | {"body_mass_g": "50"})
    assert out_of_range.status_code == 422 and "outside the valid range" in out_of_range.text
    not_a_number = gateway.http.post("/dashboard/penguins", data=values | {"bill_depth_mm": "deep"})
    assert not_a_number.status_code == 422 and "must be a number" in not_a_number.text
    unknown = gateway.http.post("/dashboard/penguins", data=values | {"model": "ghost"})
    assert unknown.status_code == 404 and "is not served" in unknown.text
    broken = gateway.http.post("/dashboard/penguins", data=values | {"model": "broken"})
    assert broken.status_code >= 500 and 'class="alert"' in broken.text


def test_upload_page_lists_the_image_models(gateway: LiveGateway) -> None:
    html = gateway.http.get("/dashboard/upload").text
    assert "data-models='[\"digits-fast\"]'" in html
    assert 'data-model="digits-fast"' in html and 'id="upload-file"' in html


def test_monitoring_shows_down_and_unconfigured_components(
    start_gateway: Callable[..., LiveGateway], standin_url: str, dead_url: str
) -> None:
    gateway = start_gateway(model_servers={"penguins": standin_url, "ghost": dead_url})
    configure(gateway, prometheus_url=dead_url, operator_url=dead_url, health_timeout_s=1.0)
    started = time.monotonic()
    html = gateway.http.get("/dashboard/monitoring").text
    assert time.monotonic() - started < 8  # concurrent checks with short timeouts
    status = dict(re.findall(r'data-component="([^"]+)" data-status="([^"]+)"', html))
    assert status == {
        "database": "up",
        "MLflow": "down",
        "object storage": "up",
        "Kafka": "not configured",
        "Prometheus": "down",
        "Grafana": "not configured",
        "operator": "down",
        "model server ghost": "down",
        "model server penguins": "up",
    }
    assert "ConnectError" in html or "connect" in html.lower()
    assert f'href="{dead_url}"' in html  # links to each component's own UI
    assert f'href="{standin_url}/v2/models/penguins"' in html


def test_monitoring_and_experiments_with_mlflow_up(start_gateway: Callable[..., LiveGateway], mlflow_uri: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri, registry_uri=mlflow_uri)
    experiment_id = client.create_experiment(f"dashboard-{time.time_ns()}")
    run = client.create_run(experiment_id, run_name="rf-grid")
    client.log_metric(run.info.run_id, "test_f1", 0.9731)
    client.set_terminated(run.info.run_id)

    gateway = start_gateway(mlflow_tracking_uri=mlflow_uri)
    configure(gateway, mlflow_ui_url="http://mlflow.example:5000")
    monitoring = gateway.http.get("/dashboard/monitoring").text
    assert 'data-component="MLflow" data-status="up"' in monitoring
    experiments = gateway.http.get("/dashboard/experiments").text
    assert "mlflow-error" not in experiments
    assert "rf-grid" in experiments and "0.973" in experiments
    assert f'href="http://mlflow.example:5000/#/experiments/{experiment_id}/runs/{run.info.run_id}"' in experiments


def test_models_page_shows_registry_metrics(start_gateway: Callable[..., LiveGateway], mlflow_uri: str) -> None:
    gateway = start_gateway(mlflow_tracking_uri=mlflow_uri)
    gateway.http.post("/api/models/penguins/predict", json={"instances": [["Dream", 39.5, 17.4, 186, 3800, "female"]]})
    html = gateway.http.get("/dashboard/models").text
    assert '<th class="num">test_f1</th>' in html
    assert 'data-model="penguins" data-version="3"' in html and "0.985" in html


def test_pages_survive_a_broken_database(gateway: LiveGateway) -> None:
    engine = make_engine(gateway.settings.database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE predictions"))
    engine.dispose()
    for path in ("/dashboard/", "/dashboard/predictions", "/dashboard/models"):
        response = gateway.http.get(path)
        assert response.status_code == 200, path
        assert "database query failed" in response.text, path
    status = dict(
        re.findall(r'data-component="([^"]+)" data-status="([^"]+)"', gateway.http.get("/dashboard/monitoring").text)
    )
    assert status["database"] == "up"  # reachable; only the table is gone


def test_static_files_and_plotly_from_the_installed_package(gateway: LiveGateway) -> None:
    bundle = gateway.http.get("/dashboard/static/plotly.min.js")
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("text/javascript")
    assert bundle.content == plotly_js().read_bytes()
    assert "site-packages" in str(plotly_js()) or "dist-packages" in str(plotly_js())
    assert gateway.http.get("/dashboard/static/dashboard.css").status_code == 200
    assert gateway.http.get("/dashboard/static/dashboard.js").status_code == 200
    assert gateway.http.get("/dashboard/static/nope.js").status_code == 404
    assert gateway.http.get("/dashboard/static/..%2Fdashboard%2Fpages.py").status_code == 404
    root = gateway.http.get("/", follow_redirects=False)
    assert root.status_code == 307 and root.headers["location"] == "/dashboard/"
