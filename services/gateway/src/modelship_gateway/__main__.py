"""``python -m modelship_gateway``: serve the gateway with uvicorn (settings from ``MODELSHIP_*``).

With ``MODELSHIP_WORKERS`` above 1, uvicorn starts that many worker processes on the one port. The database is
migrated once here, before they start; each worker configures its own logging and tracing in
:func:`server_app`, the factory uvicorn calls in it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import uvicorn
from fastapi import FastAPI

from modelship_common.logs import configure_logging
from modelship_common.tracing import configure_tracing, shutdown_tracing
from modelship_gateway.settings import get_settings

#: uvicorn's loggers get the process's one handler (JSON lines or text, MODELSHIP_LOG_FORMAT) instead of its own.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
#: prometheus_client's multiprocess mode: each worker writes its samples under this directory; /metrics sums them.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def server_app() -> FastAPI:
    """The application of one server process, with the process's logging and tracing configured."""
    from modelship_gateway.app import create_app

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, take_over=UVICORN_LOGGERS)
    if configure_tracing("modelship-gateway"):  # only with OTEL_EXPORTER_OTLP_*ENDPOINT set
        atexit.register(shutdown_tracing)
    return create_app(settings)


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, take_over=UVICORN_LOGGERS)
    workers = settings.workers
    own_dir = None
    if workers > 1:
        from modelship_common.db import migrate

        migrate(settings.database_url, settings.database_wait_s)  # once, not racing in every worker
        if not os.environ.get(MULTIPROC_ENV):
            own_dir = tempfile.mkdtemp(prefix="modelship-gateway-metrics-")
            os.environ[MULTIPROC_ENV] = own_dir
    try:
        uvicorn.run(
            "modelship_gateway.__main__:server_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level=settings.log_level.lower(),
            log_config=None,
        )
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
