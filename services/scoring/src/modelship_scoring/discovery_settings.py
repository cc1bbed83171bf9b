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

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=None, extra="ignore", use_attribute_docstrings=True
    )

    discovery: DiscoverySource = "auto"
    """Where the served models are found: ``kubernetes``, ``files``, ``static``, or ``auto`` (files when
    ``discovery_dir`` is set, else static). The static map is always included."""

    model_servers: dict[str, str] = Field(default_factory=dict)
    """Statically known model servers as JSON: ``{"<served model name>": "http://host:port"}``."""

    discovery_dir: Path | None = None
    """Directory of ``<name>.json`` endpoint files read on every request (written by the demo launcher)."""

    kubernetes_namespace: str | None = None
    """Namespace whose InferenceServices are discovered; empty = the pod's own namespace, else ``default``."""

    kubeconfig: Path | None = None
    """Kubeconfig used outside a cluster; empty = the pod's ServiceAccount, else ``$KUBECONFIG``/``~/.kube/config``."""

    kubernetes_watch_s: int = Field(default=300, ge=10, le=3600)
    """Length of one watch request on the InferenceServices, after which it is resumed."""

    kubernetes_sync_timeout_s: float = Field(default=5.0, gt=0)
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
