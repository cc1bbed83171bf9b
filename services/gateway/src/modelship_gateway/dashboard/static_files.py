"""The dashboard's own CSS/JS, and plotly.js served from the installed ``plotly`` package (nothing vendored)."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from modelship_gateway.dashboard.rendering import STATIC_DIR

router = APIRouter(prefix="/dashboard/static", include_in_schema=False)

MEDIA_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
CACHE = "public, max-age=3600"


@functools.lru_cache(maxsize=1)
def plotly_js() -> Path:
    """``plotly/package_data/plotly.min.js`` inside the installed plotly distribution."""
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.min.js is not in the installed plotly package ({path})")
    return path


@router.get("/plotly.min.js", name="dashboard_plotly")
def plotly_bundle() -> FileResponse:
    try:
        path = plotly_js()
    except (ImportError, FileNotFoundError) as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    return FileResponse(path, media_type=MEDIA_TYPES[".js"], headers={"Cache-Control": CACHE})


@router.get("/{name}", name="dashboard_static")
def static_file(name: str) -> FileResponse:
    path = STATIC_DIR / name
    if "/" in name or path.suffix not in MEDIA_TYPES or not path.is_file():
        raise HTTPException(status_code=404, detail=f"no static file {name!r}")
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers={"Cache-Control": "no-cache"})
