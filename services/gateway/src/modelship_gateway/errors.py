"""Errors the gateway raises, and the HTTP answer each gets: :func:`error_response`.

:class:`modelship_common.errors.InvalidInput` (bad rows, 422) and :class:`modelship_common.errors.ModelNotFound`
(unknown model, 404) come from the shared library; :class:`modelship_scoring.errors.UpstreamError` (a model
server's 4xx, else 502) and :class:`modelship_scoring.errors.DiscoveryUnavailable` (503) from the scoring core.
FastAPI's exception handlers (``app.py``) and the predict route's lean path (``fast_predict.py``) both answer
with :func:`error_response`, so an error reads the same whichever path raised it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.responses import JSONResponse

from modelship_common.errors import InvalidInput, ModelNotFound
from modelship_scoring.errors import DiscoveryUnavailable, UpstreamError

log = logging.getLogger(__name__)

#: A model server's 4xx answers that the gateway passes on (with the server's message): the caller's input was
#: rejected (400, 413, 422) or the model is not there (404). Any other 4xx (401, 403, 405...) is a fault between
#: the gateway and its model server that the caller cannot fix: 502, like a 5xx.
RELAYED_UPSTREAM_STATUSES = frozenset({400, 404, 413, 422})


class InvalidImage(InvalidInput):
    """An uploaded file that is not a decodable PNG/JPEG/GIF image (400)."""


class PayloadTooLarge(InvalidInput):
    """An upload larger than ``max_upload_bytes`` (413)."""


class StoreUnavailable(RuntimeError):
    """The predictions store could not be written or read (503)."""


def error(status_code: int, detail: str) -> JSONResponse:
    """The body of every error answer: ``{"detail": "..."}``."""
    return JSONResponse(status_code=status_code, content={"detail": detail})


def _upstream(exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 502)
    return error(status if status in RELAYED_UPSTREAM_STATUSES else 502, str(exc))


def _database_down(exc: Exception) -> JSONResponse:
    # A listing's query on a database that went away; the first line only (the rest repeats the SQL).
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    return error(503, f"database unavailable: {type(exc).__name__}: {first_line}")


def _unexpected(exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error(500, f"internal error: {type(exc).__name__}")


#: The answer to each exception class; the most specific class in an exception's MRO wins, as in Starlette.
ANSWERS: dict[type[Exception], Callable[[Exception], JSONResponse]] = {
    ModelNotFound: lambda exc: error(404, str(exc)),
    PayloadTooLarge: lambda exc: error(413, str(exc)),
    InvalidImage: lambda exc: error(400, str(exc)),
    InvalidInput: lambda exc: error(422, str(exc)),
    UpstreamError: _upstream,
    StoreUnavailable: lambda exc: error(503, str(exc)),
    DiscoveryUnavailable: lambda exc: error(503, str(exc)),
    OperationalError: _database_down,
    InterfaceError: _database_down,
    Exception: _unexpected,
}


def error_response(exc: Exception) -> JSONResponse:
    """The answer to ``exc``: that of the most specific class in :data:`ANSWERS` it is an instance of."""
    for cls in type(exc).__mro__:
        answer = ANSWERS.get(cls)
        if answer is not None:
            return answer(exc)
    return _unexpected(exc)  # not an Exception subclass: cannot happen for what a handler is given
