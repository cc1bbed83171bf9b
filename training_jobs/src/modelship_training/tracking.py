"""Connecting to the MLflow tracking server (which is also the model registry)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient


class TrackingUnavailable(RuntimeError):
    """The MLflow tracking server cannot be reached; the message says where we looked."""


def check_reachable(tracking_uri: str, timeout: float = 5.0) -> None:
    """Fail fast (instead of MLflow's minutes of retries) when an HTTP tracking server does not answer.

    Non-HTTP URIs (``sqlite:///...``, ``file:...``) are local stores and need no check.
    """
    if not tracking_uri.startswith(("http://", "https://")):
        return
    url = tracking_uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingUnavailable(f"cannot reach MLflow at {tracking_uri}: {reason}") from exc
    if status >= 500:
        raise TrackingUnavailable(f"MLflow at {tracking_uri} is unhealthy: GET /health returned HTTP {status}")


def connect(tracking_uri: str, *, check: bool = True) -> MlflowClient:
    """Point MLflow's fluent API at ``tracking_uri`` and return a client for the same server."""
    import mlflow
    from mlflow import MlflowClient

    if check:
        check_reachable(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
