"""What the routes share in the OpenAPI document: operation ids, and the error answers for their ``responses=``.

Every error is JSON :class:`ErrorBody` (``app.py``'s ``install_error_handlers`` answers ``{"detail": "..."}`` for
each, request validation included).

A route that lists 422 here gets :class:`ErrorBody` for it instead of FastAPI's default ``HTTPValidationError``,
which is not what the gateway answers; so every route with parameters or a body names its 422.
"""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

from modelship_gateway.schemas import ErrorBody

Responses = dict[int | str, dict[str, Any]]

INVALID_REQUEST = "A parameter, header or the body does not fit this document; detail says which and why."
DATABASE_DOWN = "The predictions database cannot be reached."
NO_MODEL = "No served model has this name."


def operation_id(route: APIRoute) -> str:
    """The operation id of a route: its function's name (``upload_image``, ``get_image``), which links name."""
    return route.name


def errors(described: dict[int, str]) -> Responses:
    """``{status: description}`` as FastAPI ``responses``, each with the :class:`ErrorBody` schema."""
    return {status: {"model": ErrorBody, "description": text} for status, text in described.items()}


#: Any route: an unexpected fault (logged with its traceback) is answered ``500 {"detail": "internal error: ..."}``.
SERVER_ERROR = errors({500: "Unexpected error in the gateway (it is logged)."})

#: The arguments every API router is made with.
ROUTER_DEFAULTS: dict[str, Any] = {"responses": SERVER_ERROR, "generate_unique_id_function": operation_id}
