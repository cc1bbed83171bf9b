"""JSON log lines for the MLflow server image: one object per line, as every modelship process writes them.

The fields are those of ``modelship_common.logs.JsonFormatter`` (``time`` in RFC 3339 UTC, ``level``, ``logger``,
``message``, ``exception``); that package is not installed in this image, so the few lines are here, and
``tests/test_mlflow_logs.py`` checks that both formatters write the same fields. ``sitecustomize.py`` (every
process) and ``logging.json`` (uvicorn's ``--log-config``, the server's workers) put it on the root logger;
``MLFLOW_CONFIGURE_LOGGING=false`` keeps MLflow from giving its own loggers a text handler, so they reach the root
one. Importing this module also sends Python warnings through logging, so they are JSON lines too.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

logging.captureWarnings(True)


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON (no newline inside: tracebacks are escaped into a string)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)
