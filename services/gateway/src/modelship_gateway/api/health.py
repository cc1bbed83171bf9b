"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from modelship_gateway.api.openapi import DATABASE_DOWN, ROUTER_DEFAULTS, errors
from modelship_gateway.deps import StoreDep
from modelship_gateway.errors import StoreUnavailable
from modelship_gateway.schemas import Health

router = APIRouter(tags=["health"], **ROUTER_DEFAULTS)


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The process is up and serving HTTP."""
    return Health(status="ok")


_READY_ERRORS = errors({503: DATABASE_DOWN})


@router.get("/readyz", response_model=Health, responses=_READY_ERRORS, summary="Readiness")
async def readyz(store: StoreDep) -> Health:
    """The predictions database answers."""
    try:
        await run_in_threadpool(store.ping)
    except Exception as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise StoreUnavailable(f"database unreachable: {type(exc).__name__}: {first_line}") from exc
    return Health(status="ok")
