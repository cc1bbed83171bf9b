"""``python -m modelship_gateway``: serve the gateway with uvicorn (settings from ``MODELSHIP_*``)."""

from __future__ import annotations

import uvicorn

from modelship_gateway.settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "modelship_gateway.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
    )


if __name__ == "__main__":
    main()
