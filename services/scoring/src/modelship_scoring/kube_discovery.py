"""Discovery from the API server: the ``modelship.io/v1alpha1`` InferenceServices of one namespace.

The rollout operator writes each InferenceService's ``status.url`` (its predictor Service, or the KServe
InferenceService's address with ``operator.target=kserve``) and a ``Ready`` condition. A background task keeps
them in memory with the informer pattern: one list, then a watch resumed from the last ``resourceVersion``
(bookmarks keep it fresh); a full list again only after an expired ``resourceVersion`` (410) or an error, with a
growing pause. :meth:`KubernetesDiscovery.endpoints` only reads that in-memory snapshot, so a request never
calls the API server.

Until the first list succeeds, a request waits up to ``sync_timeout_s`` and then fails with
:class:`DiscoveryUnavailable` (503). Once listed, the last known state keeps being served while the API server
is unreachable. A missing CRD (404) counts as "no InferenceServices".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelship_scoring.discovery import Endpoint, endpoint
from modelship_scoring.errors import DiscoveryUnavailable

log = logging.getLogger(__name__)

GROUP = "modelship.io"
VERSION = "v1alpha1"
PLURAL = "inferenceservices"
READY = "Ready"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
REQUEST_TIMEOUT_S = 30.0


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


@dataclass(frozen=True)
class _Entry:
    """One InferenceService as discovery sees it."""

    endpoint: Endpoint
    created: str


def endpoint_of(isvc: Mapping[str, Any]) -> Endpoint | None:
    """The endpoint an InferenceService announces, or None while it has no ``status.url``.

    The served name is ``spec.model.name`` (the model server is started with ``--model_name`` = that name);
    ``ready`` mirrors the ``Ready`` condition (None while there is none or it is Unknown).
    """
    meta = isvc.get("metadata") or {}
    status = isvc.get("status") or {}
    url = status.get("url")
    if not isinstance(url, str) or not url:
        return None
    model = (isvc.get("spec") or {}).get("model") or {}
    name = model.get("name") if isinstance(model.get("name"), str) and model.get("name") else meta.get("name")
    if not isinstance(name, str) or not name:
        return None
    conditions = status.get("conditions") or []
    ready_condition = next((c for c in conditions if isinstance(c, dict) and c.get("type") == READY), None)
    ready: bool | None = None
    message: str | None = None
    if ready_condition is not None and ready_condition.get("status") in ("True", "False"):
        ready = ready_condition["status"] == "True"
        if not ready:
            reason = ready_condition.get("reason") or "NotReady"
            detail = ready_condition.get("message") or ""
            where = f"{meta.get('namespace', '')}/{meta.get('name', name)}".lstrip("/")
            message = f"InferenceService {where} is not Ready ({reason}){': ' + detail if detail else ''}"
    return endpoint(name, url, ready=ready, message=message)


def _pick(entries: list[_Entry]) -> tuple[list[Endpoint], set[str]]:
    """One endpoint per served name, sorted by name (a Ready InferenceService first, then the oldest), and the
    names served by more than one InferenceService."""
    chosen: dict[str, _Entry] = {}
    shared: set[str] = set()
    for entry in entries:
        name = entry.endpoint.name
        best = chosen.get(name)
        if best is not None:
            shared.add(name)
        rank = (entry.endpoint.ready is not True, entry.created, entry.endpoint.url)
        if best is None or rank < (best.endpoint.ready is not True, best.created, best.endpoint.url):
            chosen[name] = entry
    return [chosen[name].endpoint for name in sorted(chosen)], shared


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _describe(exc: BaseException) -> str:
    status = _status_of(exc)
    if status is not None:
        reason = getattr(exc, "reason", "") or ""
        body = getattr(exc, "body", None)
        try:
            message = json.loads(body).get("message") if body else None
        except (TypeError, ValueError, AttributeError):
            message = None
        return f"{status} {reason}: {message}" if message else f"{status} {reason}".strip()
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def pod_namespace() -> str | None:
    """The namespace of the pod this runs in (its ServiceAccount's namespace file), None outside a pod."""
    try:
        return (SERVICE_ACCOUNT_DIR / "namespace").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


async def api_client(kubeconfig: Path | None = None) -> Any:
    """A ``kubernetes_asyncio`` ApiClient: the pod's ServiceAccount token in a cluster (re-read as the kubelet
    rotates it), else ``kubeconfig``, ``$KUBECONFIG`` or ``~/.kube/config``."""
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    in_pod = os.environ.get("KUBERNETES_SERVICE_HOST") and (SERVICE_ACCOUNT_DIR / "token").is_file()
    if kubeconfig is None and in_pod:
        config.load_incluster_config(
            client_configuration=configuration,
            token_filename=str(SERVICE_ACCOUNT_DIR / "token"),
            cert_filename=str(SERVICE_ACCOUNT_DIR / "ca.crt"),
        )
    else:
        path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        await config.load_kube_config(
            config_file=os.path.expanduser(str(path)), client_configuration=configuration, persist_config=False
        )
    return client.ApiClient(configuration)


class KubernetesDiscovery:
    """The InferenceServices of ``namespace`` with a ``status.url``, kept current by a list + watch.

    Call :meth:`start` once (inside the event loop) and :meth:`close` at the end; ``api`` is a
    ``kubernetes_asyncio`` ApiClient, closed by :meth:`close`.
    """

    def __init__(
        self,
        api: Any,
        namespace: str,
        *,
        watch_s: int = 300,
        sync_timeout_s: float = 5.0,
    ) -> None:
        from kubernetes_asyncio.client import CustomObjectsApi

        self.api = api
        self.namespace = namespace
        self.watch_s = watch_s
        self.sync_timeout_s = sync_timeout_s
        self._objects = CustomObjectsApi(api)
        self._items: dict[str, _Entry] = {}
        self._snapshot: list[Endpoint] = []
        self._synced = asyncio.Event()
        self._last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------------------------ public

    async def start(self) -> None:
        """Start the list + watch task and wait (up to ``sync_timeout_s``) for the first list."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"kubernetes-discovery-{self.namespace}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._synced.wait(), self.sync_timeout_s)
        if not self._synced.is_set():
            log.warning(
                "no InferenceServices listed in namespace %s within %.0fs (%s); still trying",
                self.namespace,
                self.sync_timeout_s,
                self._last_error or "no answer yet",
            )

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.api.close()

    async def endpoints(self) -> list[Endpoint]:
        if not self._synced.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._synced.wait(), self.sync_timeout_s)
            if not self._synced.is_set():
                raise DiscoveryUnavailable(
                    f"cannot list the InferenceServices of namespace {self.namespace}: "
                    f"{self._last_error or 'the Kubernetes API server did not answer'}"
                )
        return list(self._snapshot)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    # ----------------------------------------------------------------------------------------------- the loop

    def _publish(self) -> None:
        snapshot, shared = _pick(list(self._items.values()))
        if snapshot != self._snapshot:
            self._snapshot = snapshot
            log.info(
                "InferenceServices in %s: %s",
                self.namespace,
                ", ".join(f"{ep.name}={ep.url}" for ep in snapshot) or "none",
            )
            for name in sorted(shared):
                url = next(ep.url for ep in snapshot if ep.name == name)
                log.warning("several InferenceServices in %s serve %r; routing to %s", self.namespace, name, url)
        self._synced.set()

    def _apply(self, kind: str, obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        key = meta.get("name")
        if not isinstance(key, str):
            return
        found = endpoint_of(obj) if kind != "DELETED" else None
        if found is None:
            self._items.pop(key, None)
        else:
            self._items[key] = _Entry(found, str(meta.get("creationTimestamp") or ""))

    async def _list(self) -> str:
        """List every InferenceService; the list's resourceVersion (where the watch starts)."""
        from kubernetes_asyncio.client.exceptions import ApiException

        try:
            listing = await self._objects.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, _request_timeout=REQUEST_TIMEOUT_S
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
            # The CRD is not installed: nothing to discover (yet). Look again after a watch period.
            if self._items or not self._synced.is_set():
                log.warning("the InferenceService CRD (%s/%s) is not installed: none discovered", GROUP, VERSION)
            self._items.clear()
            self._publish()
            return ""
        self._items.clear()
        for obj in listing.get("items") or []:
            self._apply("ADDED", obj)
        self._publish()
        return str((listing.get("metadata") or {}).get("resourceVersion") or "")

    async def _watch(self, resource_version: str) -> str:
        """Follow changes from ``resource_version`` until the server ends the watch; the last version seen."""
        import aiohttp
        from kubernetes_asyncio.client.exceptions import ApiException

        response = await self._objects.list_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=resource_version,
            timeout_seconds=self.watch_s,
            _preload_content=False,
            _request_timeout=aiohttp.ClientTimeout(connect=REQUEST_TIMEOUT_S, sock_read=self.watch_s + 30),
        )
        try:
            if response.status == 410:
                raise _Expired
            if not 200 <= response.status <= 299:
                body = await response.text()
                raise ApiException(status=response.status, reason=f"{response.reason}: {body[:300]}")
            while line := await response.content.readline():
                event = json.loads(line)
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Expired
                    raise ApiException(status=obj.get("code") or 500, reason=obj.get("message") or "watch error")
                version = (obj.get("metadata") or {}).get("resourceVersion")
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self._apply(kind, obj)
                    self._publish()
                if version:
                    resource_version = str(version)
        finally:
            response.release()
        return resource_version

    async def _run(self) -> None:
        pause = RETRY_FIRST_S
        while True:
            try:
                version = await self._list()
                self._last_error = None
                pause = RETRY_FIRST_S
                if not version:  # no CRD: look again later
                    await asyncio.sleep(self.watch_s)
                    continue
                while True:
                    version = await self._watch(version)
                    self._last_error = None
            except asyncio.CancelledError:
                raise
            except _Expired:
                log.info("InferenceService watch in %s expired; listing again", self.namespace)
            except Exception as exc:  # the API server unreachable, RBAC, a dropped connection: retry
                self._last_error = _describe(exc)
                log.warning(
                    "InferenceService discovery in %s failed (%s); retrying in %.0fs",
                    self.namespace,
                    self._last_error,
                    pause,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX_S)
