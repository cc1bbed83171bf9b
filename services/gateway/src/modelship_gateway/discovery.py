"""Where the model servers are: a small interface with one implementation per source.

Discovery runs on every request, so a model server that starts (or stops) shows up without restarting the
gateway. Today's sources are the ``MODELSHIP_MODEL_SERVERS`` map and the demo launcher's endpoint files; a
Kubernetes source (InferenceService custom resources, ``status.url``) implements the same
:class:`Discovery` protocol.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    """One served model: its name on the model server and the server's base URL."""

    name: str
    url: str


class Discovery(Protocol):
    """Lists the served models. Implementations must be cheap enough to call on every request."""

    async def endpoints(self) -> list[Endpoint]: ...


def _endpoint(name: str, url: str) -> Endpoint:
    return Endpoint(name=name, url=url.rstrip("/"))


class StaticDiscovery:
    """A fixed name -> base URL map (``MODELSHIP_MODEL_SERVERS``)."""

    def __init__(self, servers: Mapping[str, str]) -> None:
        self._endpoints = [_endpoint(name, url) for name, url in servers.items()]

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
    return _endpoint(name, doc["url"])


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
        found: dict[str, Endpoint] = {}
        for batch in await asyncio.gather(*(source.endpoints() for source in self.sources)):
            found.update((ep.name, ep) for ep in batch)
        return sorted(found.values(), key=lambda ep: ep.name)


def build_discovery(model_servers: Mapping[str, str], discovery_dir: Path | None) -> Discovery:
    """The discovery the settings ask for: the static map, then (overriding it) the endpoint files."""
    sources: list[Discovery] = [StaticDiscovery(model_servers)]
    if discovery_dir is not None:
        sources.append(DirectoryDiscovery(discovery_dir.expanduser()))
    return CombinedDiscovery(sources)
