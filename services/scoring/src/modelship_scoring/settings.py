"""The scoring core's settings (``MODELSHIP_*``): mixed into the gateway's and the streaming worker's settings, so
one set of environment variables configures discovery, the model-server calls and the registry cache of both."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from modelship_common.settings import BaseServiceSettings
from modelship_scoring.discovery_settings import DiscoverySettings


class ScoringSettings(BaseServiceSettings, DiscoverySettings):
    """What :func:`modelship_scoring.core.open_scoring` reads: the MLflow registry (``mlflow_tracking_uri``), the
    discovery sources (:class:`DiscoverySettings`), the inference protocol and timeouts, the registry cache and the
    image models of the fan-out."""

    protocol: Literal["v1", "v2"] = "v2"
    """Inference protocol spoken to the model servers (Open Inference Protocol v2 or v1)."""

    request_timeout_s: float = Field(default=30.0, gt=0)
    """Timeout in seconds of one inference call to a model server."""

    probe_timeout_s: float = Field(default=2.0, gt=0)
    """Timeout in seconds of the metadata/readiness probes of the model servers."""

    registry_timeout_s: float = Field(default=3.0, gt=0)
    """How long to wait for MLflow when looking up a model version's metrics and classes."""

    registry_cache_s: float = Field(default=300.0, ge=0)
    """How long a model version's registry metadata is cached, in seconds."""

    registry_retry_s: float = Field(default=30.0, ge=0)
    """After MLflow failed to answer for a model version, how long to wait before asking again."""

    image_models: list[str] = Field(default_factory=list)
    """Image models the fan-out calls; empty = every served model whose task is ``image``."""

    image_models_refresh_s: float = Field(default=10.0, gt=0)
    """How long the list of ready image models is reused before probing again."""

    coalesce_predictions: bool = True
    """Send concurrent tabular predictions for one model in one model-server call
    (:mod:`modelship_scoring.coalesce`): a request that finds the model's calls busy waits for one to finish and
    goes out with the others that waited. Off, every request is its own call."""

    coalesce_max_rows: int = Field(default=256, ge=1)
    """Most rows one coalesced call carries (a request with more rows goes alone)."""

    coalesce_in_flight: int = Field(default=1, ge=1)
    """Calls per model in flight at once from one process before requests start waiting to be coalesced."""
