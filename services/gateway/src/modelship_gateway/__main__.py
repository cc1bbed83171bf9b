"""``python -m modelship_gateway``: serve the gateway with uvicorn (settings from ``MODELSHIP_*``)."""

from __future__ import annotations

import uvicorn

from modelship_common.logs import configure_logging
from modelship_common.tracing import configure_tracing, shutdown_tracing
from modelship_gateway.settings import get_settings

#: uvicorn's loggers get the process's one handler (JSON lines or text, MODELSHIP_LOG_FORMAT) instead of its own.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format, take_over=UVICORN_LOGGERS)
    configure_tracing("modelship-gateway")  # only with OTEL_EXPORTER_OTLP_*ENDPOINT set; create_app then instruments
    try:
        uvicorn.run(
            "modelship_gateway.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            log_config=None,
        )
    finally:
        shutdown_tracing()


if __name__ == "__main__":
    main()
