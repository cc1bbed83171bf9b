"""One logging set-up for every modelship process: JSON lines for log collectors, text for a terminal.

``configure_logging()`` puts one stderr handler on the root logger (and on the few third-party loggers that
keep their own handlers, e.g. kserve's and uvicorn's). The format comes from ``MODELSHIP_LOG_FORMAT``:

* ``json``: one JSON object per line with ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``, plus
  ``request_id``, ``model``, ``version`` and ``trace_id`` when the record carries them (``extra={...}`` or
  :func:`log_context`), and ``exception`` / ``stack`` text when there is one;
* ``text``: ``time level logger: message [key=value ...]`` for people;
* ``auto`` (default): text when stderr is a terminal, else JSON. The images set ``json`` explicitly.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

ENV_VAR = "MODELSHIP_LOG_FORMAT"
FORMATS = ("auto", "json", "text")
#: Context fields a record carries into the output when present (attribute of the record, or log_context()).
CONTEXT_FIELDS = ("request_id", "model", "version", "trace_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

LogFormat = Literal["json", "text"]
_MARK = "_modelship_console"

_context: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "modelship_log_context", default=None
)


_process_fields: dict[str, Any] = {}
#: Where a record's ``trace_id`` comes from when neither it nor the log context has one (set when tracing is on).
_trace_id_source: Callable[[], str | None] | None = None


def set_trace_id_source(source: Callable[[], str | None] | None) -> None:
    """Records without a ``trace_id`` of their own get ``source()`` (the current span's), e.g. from
    :func:`modelship_common.tracing.configure_tracing`; None turns that off."""
    global _trace_id_source
    _trace_id_source = source


def set_process_fields(**fields: Any) -> None:
    """Fields of every record of this process unless the record or :func:`log_context` sets them (e.g. the
    model and version a model server serves); ``None`` removes one."""
    for key, value in fields.items():
        if value is None:
            _process_fields.pop(key, None)
        else:
            _process_fields[key] = value


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` (e.g. ``request_id=..., model=...``) to every record logged inside the block."""
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    bound = _context.get() or {}
    out: dict[str, Any] = {}
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None)
        if value is None:
            value = bound.get(name, _process_fields.get(name))
        if value is None and name == "trace_id" and _trace_id_source is not None:
            value = _trace_id_source()
        if value is not None and value != "":
            out[name] = value
    ref = getattr(record, "k8s_ref", None)  # kopf's per-object loggers
    if isinstance(ref, Mapping) and ref.get("name"):
        out["object"] = f"{ref['namespace']}/{ref['name']}" if ref.get("namespace") else str(ref["name"])
    return out


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
        out.update(_fields(record))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger: message [request_id=... model=...]`` (then the traceback, as usual)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = _fields(record)
        if fields:
            line += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        return line


def resolve_format(value: str | None = None, stream: TextIO | None = None) -> LogFormat:
    """``json`` or ``text`` from ``value`` (else ``$MODELSHIP_LOG_FORMAT``); ``auto``/empty: text on a TTY."""
    chosen = (value if value is not None else os.environ.get(ENV_VAR, "")).strip().lower() or "auto"
    if chosen not in FORMATS:
        raise ValueError(f"{ENV_VAR} must be one of {', '.join(FORMATS)}, not {chosen!r}")
    if chosen == "auto":
        stream = stream if stream is not None else sys.stderr
        try:
            return "text" if stream.isatty() else "json"
        except (AttributeError, ValueError):  # a closed or fake stream
            return "json"
    return "json" if chosen == "json" else "text"


def make_formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure_logging(
    level: str | int | None = "INFO",
    fmt: str | None = None,
    *,
    stream: TextIO | None = None,
    take_over: Iterable[str] = (),
    capture_warnings: bool = True,
) -> logging.Handler:
    """Log to ``stream`` (stderr) in ``fmt`` (see :func:`resolve_format`); returns the handler.

    Replaces the root logger's console handlers (a previous call's, ``basicConfig``'s, kopf's: any handler
    writing to stdout or stderr), keeping others (files, pytest's capture); ``level`` None keeps the root
    level. Each logger in ``take_over`` (ones a library gave handlers of its own, like ``kserve`` or
    ``uvicorn.access``) gets this handler instead of its own, so every line of the process has one format.
    ``capture_warnings``: Python warnings become records of the ``py.warnings`` logger (JSON lines too).
    """
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(resolve_format(fmt, stream)))
    root = logging.getLogger()
    consoles = {id(s) for s in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__, stream) if s is not None}
    for old in list(root.handlers):
        if getattr(old, _MARK, False) or id(getattr(old, "stream", None)) in consoles:
            root.removeHandler(old)
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    if level is not None:
        root.setLevel(level.upper() if isinstance(level, str) else level)
    if capture_warnings:
        logging.captureWarnings(True)
    for name in take_over:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False
    return handler
