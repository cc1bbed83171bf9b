"""Where the model servers are: a small interface with one implementation per source.

Discovery runs on every request, so a model server that starts (or stops) shows up without restarting the
gateway or the streaming worker. The sources: the ``MODELSHIP_MODEL_SERVERS`` map, the demo launcher's endpoint
files, and the Kubernetes InferenceServices (:mod:`modelship_scoring.kube_discovery`, kept in memory by a watch).
:func:`open_discovery` builds what the settings ask for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from modelship_scoring.discovery_settings import DiscoverySettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    """One served model: its name on the model server and the server's base URL.

    ``ready`` is what the source itself knows (an InferenceService's Ready condition), None when it knows
    nothing; ``message`` says why it is not ready.
    """

    name: str
    url: str
    ready: bool | None = None
    message: str | None = None


class Discovery(Protocol):
    """Lists the served models. Implementations must be cheap enough to call on every request."""

    async def endpoints(self) -> list[Endpoint]: ...


def endpoint(name: str, url: str, *, ready: bool | None = None, message: str | None = None) -> Endpoint:
    """An :class:`Endpoint` with the URL's trailing slash removed."""
    return Endpoint(name=name, url=url.rstrip("/"), ready=ready, message=message)


class StaticDiscovery:
    """A fixed name -> base URL map (``MODELSHIP_MODEL_SERVERS``)."""

    def __init__(self, servers: Mapping[str, str]) -> None:
        self._endpoints = [endpoint(name, url) for name, url in servers.items()]

    async def endpoints(self) -> list[Endpoint]:
        return list(self._endpoints)


def read_endpoint_file(path: Path) -> Endpoint | None:
    """Parse one ``<name>.json`` file (``{"name": ..., "url": ...}``); None (and a warning) when unusable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("ignoring endpoint file %s: %s", path, exc)
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("url"), str) or not doc["url"]:
        log.warning('ignoring endpoint file %s: expected {"name": ..., "url": ...}', path)
        return None
    name = doc.get("name") or path.stem
    if not isinstance(name, str):
        log.warning("ignoring endpoint file %s: name must be a string", path)
        return None
    return endpoint(name, doc["url"])


class DirectoryDiscovery:
    """The ``<name>.json`` endpoint files in a directory, re-read on every call (a missing directory is empty)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _scan(self) -> list[Endpoint]:
        try:
            paths = sorted(self.directory.glob("*.json"))
        except OSError as exc:
            log.warning("cannot list discovery directory %s: %s", self.directory, exc)
            return []
        return [ep for ep in map(read_endpoint_file, paths) if ep is not None]

    async def endpoints(self) -> list[Endpoint]:
        return await asyncio.to_thread(self._scan)


class CombinedDiscovery:
    """The union of several sources; for a name found in more than one, the later source wins."""

    def __init__(self, sources: Iterable[Discovery]) -> None:
        self.sources = list(sources)

    async def endpoints(self) -> list[Endpoint]:
        # One after the other: at most one source (the files) does I/O, the others answer from memory.
        found: dict[str, Endpoint] = {}
        for source in self.sources:
            found.update((ep.name, ep) for ep in await source.endpoints())
        return sorted(found.values(), key=lambda ep: ep.name)


def build_discovery(model_servers: Mapping[str, str], discovery_dir: Path | None) -> Discovery:
    """The static map, then (overriding it) the endpoint files."""
    sources: list[Discovery] = [StaticDiscovery(model_servers)]
    if discovery_dir is not None:
        sources.append(DirectoryDiscovery(discovery_dir.expanduser()))
    return CombinedDiscovery(sources)


@contextlib.asynccontextmanager
async def open_discovery(settings: DiscoverySettings) -> AsyncIterator[Discovery]:
    """The discovery ``settings`` ask for, for one lifespan: the static map, then the endpoint files (files, or
    kubernetes with a discovery_dir), then the InferenceServices (kubernetes; their watch runs until exit)."""
    source = settings.discovery_source()
    sources: list[Discovery] = [StaticDiscovery(settings.model_servers)]
    if source in ("files", "kubernetes") and settings.discovery_dir is not None:
        sources.append(DirectoryDiscovery(settings.discovery_dir.expanduser()))
    if source != "kubernetes":
        yield CombinedDiscovery(sources)
        return
    from modelship_scoring.kube_discovery import KubernetesDiscovery, api_client, pod_namespace

    namespace = settings.kubernetes_namespace or pod_namespace() or "default"
    kube = KubernetesDiscovery(
        await api_client(settings.kubeconfig),
        namespace,
        watch_s=settings.kubernetes_watch_s,
        sync_timeout_s=settings.kubernetes_sync_timeout_s,
    )
    log.info("discovering the InferenceServices of namespace %s", namespace)
    try:
        await kube.start()
        yield CombinedDiscovery([*sources, kube])
    finally:
        await kube.close()
