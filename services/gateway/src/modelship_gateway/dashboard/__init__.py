"""The server-rendered dashboard: pages under ``/dashboard/`` (Jinja2 templates), its static files, and charts
drawn with the plotly.js that ships inside the ``plotly`` package. ``router`` is included by the app factory."""

from __future__ import annotations

from fastapi import APIRouter

from modelship_gateway.dashboard import pages, static_files

router = APIRouter()
router.include_router(pages.root_router)
router.include_router(pages.router)
router.include_router(static_files.router)

__all__ = ["router"]
