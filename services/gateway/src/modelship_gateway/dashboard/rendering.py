"""Templates, formatting filters and the page frame (sidebar, refresh) shared by every dashboard page."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

DASHBOARD_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = DASHBOARD_DIR / "templates"
STATIC_DIR = DASHBOARD_DIR / "static"

#: Sidebar entries: (route name, path, label).
NAV: tuple[tuple[str, str, str], ...] = (
    ("dashboard_home", "/dashboard/", "Home"),
    ("dashboard_upload", "/dashboard/upload", "Upload"),
    ("dashboard_penguins", "/dashboard/penguins", "Penguins"),
    ("dashboard_predictions", "/dashboard/predictions", "Predictions"),
    ("dashboard_models", "/dashboard/models", "Models"),
    ("dashboard_rollouts", "/dashboard/rollouts", "Rollouts"),
    ("dashboard_monitoring", "/dashboard/monitoring", "Monitoring"),
    ("dashboard_experiments", "/dashboard/experiments", "Experiments"),
)


def fmt_time(value: dt.datetime | None) -> str:
    """``2026-11-22 22:57:12 UTC`` (naive values, as SQLite returns them, are UTC)."""
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def fmt_percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"


def fmt_number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def bar_width(value: float | None) -> str:
    """A CSS width for a confidence bar: ``value`` in [0, 1] as a clamped percentage."""
    if value is None:
        return "0%"
    return f"{min(max(value, 0.0), 1.0) * 100:.1f}%"


@functools.lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    """The Jinja2 environment (built on first use, not at import)."""
    env = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env.env.filters.update(time=fmt_time, pct=fmt_percent, ms=fmt_ms, num=fmt_number, bar=bar_width)
    env.env.globals["nav"] = NAV
    return env


def render(
    request: Request, template: str, *, active: str, title: str, refresh_s: int = 0, status_code: int = 200, **ctx: Any
) -> Response:
    """Render ``template`` inside the page frame; ``refresh_s`` > 0 makes the page refetch itself that often."""
    context = {"active": active, "title": title, "refresh_s": refresh_s, **ctx}
    response = templates().TemplateResponse(request, template, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
