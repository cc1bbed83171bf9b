"""The dashboard's pages: thin handlers that gather data (database, inventory, MLflow) and render a template.

A page never answers 500 because a dependency is down: the database, MLflow or a model server failing shows up
as a message on the page.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from modelship_common.errors import InvalidInput, ModelNotFound
from modelship_common.schemas import penguins
from modelship_gateway import rollouts as rollout_views
from modelship_gateway.dashboard import queries
from modelship_gateway.dashboard.charts import agreement_heatmap, confidence_chart, latency_chart, rollout_weight_chart
from modelship_gateway.dashboard.experiments import load_experiments
from modelship_gateway.dashboard.monitoring import check_all
from modelship_gateway.dashboard.rendering import render
from modelship_gateway.dashboard.settings import get_dashboard_settings
from modelship_gateway.deps import Components, get_components
from modelship_gateway.errors import StoreUnavailable
from modelship_gateway.settings import DashboardSettings
from modelship_scoring.errors import UpstreamError
from modelship_scoring.inventory import ModelSummary

log = logging.getLogger(__name__)

router = APIRouter(prefix="/dashboard", include_in_schema=False)
root_router = APIRouter(include_in_schema=False)

ComponentsDep = Annotated[Components, Depends(get_components)]
DashboardDep = Annotated[DashboardSettings, Depends(get_dashboard_settings)]
T = TypeVar("T")

#: The penguins form's starting values (a typical Gentoo).
PENGUIN_DEFAULTS: dict[str, Any] = {
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 15.0,
    "flipper_length_mm": 217,
    "body_mass_g": 5400,
    "sex": "male",
}
#: Step of each numeric input of the penguins form.
PENGUIN_STEPS = {"bill_length_mm": 0.1, "bill_depth_mm": 0.1, "flipper_length_mm": 1, "body_mass_g": 25}


@root_router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


@router.get("")
async def dashboard_slash() -> RedirectResponse:
    return RedirectResponse("/dashboard/", status_code=307)


class DatabaseError(RuntimeError):
    """A dashboard query failed; the message is shown on the page."""


async def read(components: Components, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn(session, *args)`` in a worker thread with its own session; errors become :class:`DatabaseError`."""

    def run() -> T:
        with components.store.sessions() as session:
            return fn(session, *args, **kwargs)

    try:
        return await run_in_threadpool(run)
    except Exception as exc:
        log.warning("dashboard query %s failed: %s", getattr(fn, "__name__", fn), exc)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise DatabaseError(f"database query failed: {type(exc).__name__}: {first[:300]}") from exc


async def served_models(components: Components) -> tuple[list[ModelSummary], str | None]:
    try:
        return await components.inventory.list_models(), None
    except Exception as exc:
        return [], f"model discovery failed: {type(exc).__name__}: {exc}"


# ------------------------------------------------------------------------------------------------------- home


def _home_data(session: Session) -> dict[str, Any]:
    return {
        "counts": queries.counts(session),
        "images": queries.recent_images(session, 8),
        "predictions": queries.recent_predictions(session, 10),
        "events": queries.recent_events(session, 12),
    }


@router.get("/", name="dashboard_home")
async def home(request: Request, components: ComponentsDep, dash: DashboardDep) -> Response:
    endpoints_task = asyncio.ensure_future(components.inventory.discovery.endpoints())
    error = None
    try:
        data = await read(components, _home_data)
    except DatabaseError as exc:
        data, error = {"counts": None, "images": [], "predictions": [], "events": []}, str(exc)
    n_models = len(await endpoints_task)
    return render(
        request, "home.html", active="dashboard_home", title="Home", refresh_s=dash.refresh_s,
        n_models=n_models, error=error, **data,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------------- upload


@router.get("/upload", name="dashboard_upload")
async def upload(request: Request, components: ComponentsDep) -> Response:
    models, error = await served_models(components)
    image_models = [m for m in models if m.task == "image"]
    return render(
        request, "upload.html", active="dashboard_upload", title="Upload an image",
        image_models=image_models, error=error, max_bytes=components.settings.max_upload_bytes,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------- penguins


def _tabular(models: list[ModelSummary]) -> list[ModelSummary]:
    return [m for m in models if m.task == "tabular"]


def _penguin_form(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The raw row from the submitted form; numbers parsed, problems listed (range checks are the core's)."""
    row: dict[str, Any] = {}
    problems = []
    for name in penguins.RAW_FEATURES:
        raw = str(values.get(name, "")).strip()
        if name in penguins.NUMERIC_RANGES:
            try:
                row[name] = float(raw)
            except ValueError:
                problems.append(f"{name} must be a number, got {raw!r}")
                row[name] = raw
        else:
            row[name] = raw
    return row, problems


async def _penguins_page(
    request: Request,
    components: Components,
    *,
    values: dict[str, Any],
    selected: str | None,
    result: Any = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    models, discovery_error = await served_models(components)
    tabular = _tabular(models)
    return render(
        request, "penguins.html", active="dashboard_penguins", title="Penguins", status_code=status_code,
        schema=penguins.describe(), steps=PENGUIN_STEPS, values=values, models=tabular,
        selected=selected or (tabular[0].name if tabular else None), result=result,
        error=error or discovery_error,
    )  # fmt: skip


@router.get("/penguins", name="dashboard_penguins")
async def penguins_form(request: Request, components: ComponentsDep) -> Response:
    return await _penguins_page(request, components, values=dict(PENGUIN_DEFAULTS), selected=None)


@router.post("/penguins")
async def penguins_predict(request: Request, components: ComponentsDep) -> Response:
    form = dict((await request.form()).items())
    model = str(form.get("model") or "")
    row, problems = _penguin_form(form)
    page = functools.partial(_penguins_page, request, components, values=row, selected=model or None)
    if not model:
        return await page(error="choose a model", status_code=422)
    if problems:
        return await page(error="; ".join(problems), status_code=422)
    try:
        result = await components.predictions.predict_rows(model, [row])
    except ModelNotFound as exc:
        return await page(error=str(exc), status_code=404)
    except InvalidInput as exc:
        return await page(error=str(exc), status_code=422)
    except UpstreamError as exc:
        return await page(error=str(exc), status_code=exc.status_code)
    except StoreUnavailable as exc:
        return await page(error=str(exc), status_code=503)
    return await page(result=result)


# ------------------------------------------------------------------------------------------------ predictions


def _date(value: str | None, problems: list[str], label: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(f"{label} {value!r} is not a date (YYYY-MM-DD); ignored")
        return None


def _predictions_data(
    session: Session, filters: queries.PredictionFilters, page: int, per_page: int
) -> tuple[queries.PredictionPage, queries.FilterOptions]:
    return queries.search_predictions(session, filters, page=page, per_page=per_page), queries.filter_options(session)


@router.get("/predictions", name="dashboard_predictions")
async def predictions(
    request: Request,
    components: ComponentsDep,
    dash: DashboardDep,
    model: str | None = None,
    cls: Annotated[str | None, Query(alias="class")] = None,
    source: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    problems: list[str] = []
    filters = queries.PredictionFilters(
        model=model or None,
        predicted_class=cls or None,
        source=source or None,
        date_from=_date(date_from, problems, "from"),
        date_to=_date(date_to, problems, "to"),
    )
    params = {"model": model, "class": cls, "source": source, "date_from": date_from, "date_to": date_to}
    params = {k: v for k, v in params.items() if v}
    try:
        result, options = await read(components, _predictions_data, filters, page, dash.page_size)
    except DatabaseError as exc:
        result, options = None, None
        problems.append(str(exc))

    def page_url(number: int) -> str:
        return "?" + urlencode({**params, "page": number})

    return render(
        request, "predictions.html", active="dashboard_predictions", title="Predictions", refresh_s=dash.refresh_s,
        result=result, options=options, params=params, problems=problems, page_url=page_url,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------------- models


@router.get("/models", name="dashboard_models")
async def models_page(request: Request, components: ComponentsDep, dash: DashboardDep) -> Response:
    served_task = asyncio.ensure_future(served_models(components))
    error = None
    try:
        stats = await read(components, queries.version_stats)
        agreement = await read(components, queries.agreement)
    except DatabaseError as exc:
        stats, agreement, error = [], queries.Agreement(models=[], scored_by_all=0, consensus=0), str(exc)
    served, discovery_error = await served_task
    registry = components.inventory.registry
    infos = await asyncio.gather(*(registry.get(s.model, s.version) for s in stats))
    metrics = {
        (s.model, s.version): (dict(info.metrics) if info else None) for s, info in zip(stats, infos, strict=True)
    }
    metric_names = sorted({name for m in metrics.values() if m for name in m if name.startswith("test_")})
    charts = {
        "latency": latency_chart(stats),
        "confidence": confidence_chart(stats),
        "agreement": agreement_heatmap(agreement),
    }
    return render(
        request, "models.html", active="dashboard_models", title="Models", refresh_s=dash.refresh_s,
        served=served, stats=stats, metrics=metrics, metric_names=metric_names, agreement=agreement,
        charts=charts, error=error or discovery_error, load_charts=True,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------------- rollouts

#: How many finished rollouts the page lists under the active ones.
RECENT_ROLLOUTS = 20


@router.get("/rollouts", name="dashboard_rollouts")
async def rollouts_page(request: Request, components: ComponentsDep, dash: DashboardDep) -> Response:
    """Active rollouts (gates judged now, in a worker thread), then the recent finished ones (gates from their last
    decision's evidence)."""
    error = None
    try:
        views = await run_in_threadpool(rollout_views.page_views, components.store.engine, recent=RECENT_ROLLOUTS)
    except Exception as exc:
        log.warning("rollouts page: %s", exc)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        views, error = [], f"database query failed: {type(exc).__name__}: {first[:300]}"
    charts = {v.rollout.id: rollout_weight_chart(v) for v in views}
    return render(
        request, "rollouts.html", active="dashboard_rollouts", title="Rollouts", refresh_s=dash.refresh_s,
        views=views, charts=charts, n_active=sum(1 for v in views if v.rollout.active), error=error,
        load_charts=bool(views),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------- monitoring


@router.get("/monitoring", name="dashboard_monitoring")
async def monitoring(request: Request, components: ComponentsDep, dash: DashboardDep) -> Response:
    pipeline = getattr(request.state, "images", None)
    checks = await check_all(components, dash, pipeline)
    return render(
        request, "monitoring.html", active="dashboard_monitoring", title="Monitoring", refresh_s=dash.refresh_s,
        checks=checks,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------ experiments


@router.get("/experiments", name="dashboard_experiments")
async def experiments(request: Request, components: ComponentsDep, dash: DashboardDep) -> Response:
    tracking_uri = components.settings.mlflow_tracking_uri
    result = await load_experiments(tracking_uri, dash.mlflow_timeout_s)
    return render(
        request, "experiments.html", active="dashboard_experiments", title="Experiments", refresh_s=dash.refresh_s,
        result=result, mlflow_ui=(dash.mlflow_ui_url or tracking_uri).rstrip("/"),
    )  # fmt: skip
