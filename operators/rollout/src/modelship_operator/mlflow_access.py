"""Blocking MLflow calls the operator makes (run them in a thread), with errors sorted into two kinds.

:class:`RegistryUnreachable` means "try again later, change nothing"; ``ModelNotFound`` (from
``modelship_common``) means the registry answered and the model, version or alias does not exist.

With tracing on, each call is a CLIENT span ``mlflow <function>`` (``server.address``/``server.port`` of the
tracking server, ``modelship.model.name``); a model that does not exist is an answer, not a failed span.
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from modelship_common import tracing
from modelship_common.errors import ModelNotFound
from modelship_common.registry import ModelVersionInfo, resolve_alias, served_models, version_info
from modelship_operator.spec import ModelRef

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

#: MLflow events that can change what is served; the operator subscribes its webhook to these.
WEBHOOK_EVENTS: list[Any] = [
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_alias.created",
    "model_version_alias.deleted",
]


P = ParamSpec("P")
R = TypeVar("R")


def _traced(*, model_at: int | None = 1) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A CLIENT span around an MLflow call whose first argument is the tracking URI (``model_at``: the index of the
    argument naming the model, a name or a :class:`ModelRef`; None: none does)."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        name = f"mlflow {fn.__name__}"

        @functools.wraps(fn)
        def traced(*args: P.args, **kwargs: P.kwargs) -> R:
            if not tracing.enabled():
                return fn(*args, **kwargs)
            url = urlsplit(str(args[0]))
            model = args[model_at] if model_at is not None and len(args) > model_at else None
            attributes = {
                "server.address": url.hostname,
                "server.port": url.port,
                "modelship.model.name": model.name if isinstance(model, ModelRef) else model,
            }
            missing: ModelNotFound | None = None
            with tracing.span(name, kind=tracing.SpanKind.CLIENT, attributes=attributes) as span:
                try:
                    return fn(*args, **kwargs)
                except ModelNotFound as exc:
                    if span is not None:
                        span.set_attribute("modelship.model.found", False)
                    missing = exc
            raise missing

        return traced

    return wrap


class RegistryUnreachable(Exception):
    """MLflow did not answer (or answered with a server error). Nothing must be deleted because of it."""


def configure_mlflow_client(timeout_seconds: float) -> None:
    """Bound MLflow's HTTP behaviour: a short timeout and no minutes-long retry loop (we retry ourselves)."""
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, math.ceil(timeout_seconds)))
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "0"


def client_for(tracking_uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _unreachable(tracking_uri: str, exc: BaseException) -> RegistryUnreachable:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if len(text) > 300:
        text = text[:300] + "..."
    return RegistryUnreachable(f"MLflow at {tracking_uri} is unreachable: {text}")


@_traced(model_at=1)
def resolve(tracking_uri: str, ref: ModelRef) -> ModelVersionInfo:
    """The version ``ref`` points at. Raises ModelNotFound or RegistryUnreachable."""
    client = client_for(tracking_uri)
    try:
        if ref.alias is not None:
            return resolve_alias(client, ref.name, ref.alias)
        assert ref.version is not None
        return version_info(client, ref.name, ref.version)
    except ModelNotFound:
        raise
    except Exception as exc:  # MlflowException, requests errors: MLflow is not usable right now
        raise _unreachable(tracking_uri, exc) from exc


@dataclass(frozen=True)
class RegistryModel:
    """A registered model the registry serves, and the version its alias points at (None: alias unset)."""

    name: str
    version: str | None


@_traced(model_at=None)
def read_registry(tracking_uri: str, tag: str, value: str, alias: str) -> list[RegistryModel]:
    """Every registered model with ``tag=value`` and where ``alias`` points. Raises RegistryUnreachable."""
    client = client_for(tracking_uri)
    try:
        names = served_models(client, tag=tag, value=value)
        out = []
        for name in names:
            try:
                out.append(RegistryModel(name, resolve_alias(client, name, alias).version))
            except ModelNotFound:
                out.append(RegistryModel(name, None))
        return out
    except Exception as exc:
        raise _unreachable(tracking_uri, exc) from exc


@_traced(model_at=None)
def ensure_webhook(tracking_uri: str, name: str, url: str, secret: str) -> str:
    """Create or update the MLflow webhook ``name`` calling ``url``; returns its id. MLflow errors propagate."""
    client = client_for(tracking_uri)
    token = None
    while True:
        page = client.list_webhooks(max_results=100, page_token=token)
        for hook in page:
            if hook.name == name:
                client.update_webhook(hook.webhook_id, url=url, events=WEBHOOK_EVENTS, secret=secret, status="ACTIVE")
                return hook.webhook_id
        token = page.token
        if not token:
            break
    hook = client.create_webhook(
        name=name,
        url=url,
        events=WEBHOOK_EVENTS,
        secret=secret,
        description="modelship operator: registry changes trigger an immediate sync",
    )
    return hook.webhook_id


@_traced(model_at=1)
def alias_version(tracking_uri: str, model: str, alias: str) -> str | None:
    """The version ``alias`` of ``model`` points at, or None (no such alias or model). Raises RegistryUnreachable."""
    try:
        return resolve(tracking_uri, ModelRef(name=model, alias=alias)).version
    except ModelNotFound:
        return None


@_traced(model_at=1)
def tag_version(tracking_uri: str, model: str, version: str, tags: dict[str, str]) -> None:
    """Set model-version tags. Raises RegistryUnreachable."""
    client = client_for(tracking_uri)
    try:
        for key, value in tags.items():
            client.set_model_version_tag(model, version, key, value)
    except Exception as exc:
        raise _unreachable(tracking_uri, exc) from exc


@_traced(model_at=1)
def move_alias(tracking_uri: str, model: str, alias: str, version: str, *, only_from: str | None) -> bool:
    """Point ``alias`` at ``version`` if it points at ``only_from`` now (or is unset, or already there).

    Returns whether the alias points at ``version`` afterwards; False means a person moved it elsewhere meanwhile
    (then it is left alone). Raises RegistryUnreachable.
    """
    current = alias_version(tracking_uri, model, alias)
    if current == version:
        return True
    if current is not None and only_from is not None and current != only_from:
        log.warning("alias %s of %s points at %s, not %s: left alone", alias, model, current, only_from)
        return False
    client = client_for(tracking_uri)
    try:
        client.set_registered_model_alias(model, alias, version)
    except Exception as exc:
        raise _unreachable(tracking_uri, exc) from exc
    return True


@_traced(model_at=1)
def drop_alias(tracking_uri: str, model: str, alias: str, *, only_at: str) -> bool:
    """Delete ``alias`` if it points at ``only_at``; whether it was deleted. Raises RegistryUnreachable."""
    if alias_version(tracking_uri, model, alias) != only_at:
        return False
    client = client_for(tracking_uri)
    try:
        client.delete_registered_model_alias(model, alias)
    except Exception as exc:
        raise _unreachable(tracking_uri, exc) from exc
    return True
