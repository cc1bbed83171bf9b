"""Where the served models are listed: the discovery part of the scoring settings (gateway and streaming worker)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from modelship_common.settings import ENV_PREFIX

DiscoverySource = Literal["auto", "static", "files", "kubernetes"]


class DiscoverySettings(BaseSettings):
    """``MODELSHIP_*`` fields choosing the discovery sources (see :func:`modelship_scoring.discovery.open_discovery`).

    ``MODELSHIP_MODEL_SERVERS`` is always a source; ``MODELSHIP_DISCOVERY`` adds the endpoint files or the
    Kubernetes InferenceServices on top of it.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    discovery: DiscoverySource = Field(
        default="auto",
        description="Where the served models are found, on top of MODELSHIP_MODEL_SERVERS: 'kubernetes' = the "
        "modelship.io/v1alpha1 InferenceServices of MODELSHIP_KUBERNETES_NAMESPACE (their status.url; kept by a "
        "list + watch, plus the endpoint files when MODELSHIP_DISCOVERY_DIR is set), 'files' = the endpoint "
        "files of MODELSHIP_DISCOVERY_DIR, 'static' = MODELSHIP_MODEL_SERVERS only, 'auto' = files when "
        "MODELSHIP_DISCOVERY_DIR is set, else static.",
    )
    """Where the served models are found: ``kubernetes``, ``files``, ``static``, or ``auto`` (files when
    ``discovery_dir`` is set, else static). The static map is always included."""

    model_servers: dict[str, str] = Field(
        default_factory=dict,
        description='Statically known model servers as JSON: {"<served model name>": "http://host:port"}.',
    )
    """Statically known model servers as JSON: ``{"<served model name>": "http://host:port"}``."""

    discovery_dir: Path | None = Field(
        default=None,
        description='Directory of <name>.json endpoint files ({"name": ..., "url": ...}) read on every '
        "request, so a newly started model server appears without a restart (the demo launcher writes them).",
    )
    """Directory of ``<name>.json`` endpoint files read on every request (written by the demo launcher)."""

    kubernetes_namespace: str | None = Field(
        default=None,
        description="Namespace whose InferenceServices are discovered (discovery=kubernetes); empty = the pod's "
        "own namespace (from its ServiceAccount), else 'default'.",
    )
    """Namespace whose InferenceServices are discovered; empty = the pod's own namespace, else ``default``."""

    kubeconfig: Path | None = Field(
        default=None,
        description="Kubeconfig used outside a cluster (discovery=kubernetes); empty = the ServiceAccount token "
        "when running in a pod, else $KUBECONFIG or ~/.kube/config.",
    )
    """Kubeconfig used outside a cluster; empty = the pod's ServiceAccount, else ``$KUBECONFIG``/``~/.kube/config``."""

    kubernetes_watch_s: int = Field(
        default=300,
        ge=10,
        le=3600,
        description="Length of one watch request on the InferenceServices; the watch is then resumed from where "
        "it stopped (a full list only after an error or an expired resourceVersion).",
    )
    """Length of one watch request on the InferenceServices, after which it is resumed."""

    kubernetes_sync_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="How long startup (and a request, until then) waits for the first list of InferenceServices "
        "before answering 503.",
    )
    """How long startup (and a request, until then) waits for the first list of InferenceServices."""

    @model_validator(mode="after")
    def _files_need_a_directory(self) -> DiscoverySettings:
        if self.discovery == "files" and self.discovery_dir is None:
            raise ValueError("discovery=files needs MODELSHIP_DISCOVERY_DIR (the directory of endpoint files)")
        return self

    def discovery_source(self) -> Literal["static", "files", "kubernetes"]:
        """The source ``auto`` stands for."""
        if self.discovery == "auto":
            return "files" if self.discovery_dir is not None else "static"
        return self.discovery
