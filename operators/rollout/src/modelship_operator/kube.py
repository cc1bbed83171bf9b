"""A small Kubernetes REST helper on top of the official client's transport (dicts in, dicts out).

The operator works with plain manifests (the renderers return dicts), so this wraps the generic
``ApiClient`` request path instead of the typed API classes. Calls are blocking; the handlers run them
in threads (``asyncio.to_thread``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import kubernetes
from kubernetes.client import ApiClient, Configuration

from modelship_common import tracing
from modelship_operator import constants as c

MERGE_PATCH = "application/merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


class KubeError(Exception):
    """A failed API call: HTTP status and the API server's message."""

    def __init__(self, status: int, reason: str, body: Any = None) -> None:
        self.status = status
        self.reason = reason
        self.body = body
        message = body.get("message") if isinstance(body, dict) else None
        super().__init__(f"{status} {reason}: {message or body}")

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


@dataclass(frozen=True)
class Kind:
    """Where a resource lives in the REST API."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace is not None:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
        if sub:
            base += f"/{sub}"
        return base


ISVC = Kind(c.GROUP, c.VERSION, c.ISVC_PLURAL, c.ISVC_KIND)
REGISTRY = Kind(c.GROUP, c.VERSION, c.REGISTRY_PLURAL, c.REGISTRY_KIND)
DEPLOYMENT = Kind("apps", "v1", "deployments", "Deployment")
SERVICE = Kind("", "v1", "services", "Service")
KSERVE_ISVC = Kind(c.KSERVE_GROUP, c.KSERVE_VERSION, c.KSERVE_PLURAL, "InferenceService")
KINDS = {(k.api_version, k.kind): k for k in (ISVC, REGISTRY, DEPLOYMENT, SERVICE, KSERVE_ISVC)}


def api_route(path: str) -> tuple[str, str | None]:
    """``(resource[/subresource], namespace)`` of an API path, e.g. ``/apis/apps/v1/namespaces/ns/deployments/d/status``
    -> ``("deployments/status", "ns")``: a span name with no object names in it."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]  # after /api/<version> or /apis/<group>/<version>
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return "unknown", namespace
    resource = rest[0] if len(rest) < 3 else f"{rest[0]}/{rest[2]}"
    return resource, namespace


def kind_of(manifest: dict[str, Any]) -> Kind:
    return KINDS[(manifest["apiVersion"], manifest["kind"])]


def load_configuration() -> Configuration:
    """In-cluster config when running in a pod, else the kubeconfig (``KUBECONFIG`` or ~/.kube/config)."""
    configuration = Configuration()
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    else:
        kubernetes.config.load_kube_config(client_configuration=configuration)
    return configuration


class Kube:
    """Blocking JSON calls against the API server."""

    def __init__(self, configuration: Configuration | None = None, *, timeout: float = 15.0) -> None:
        self.api = ApiClient(configuration or load_configuration())
        self.timeout = timeout

    def close(self) -> None:
        self.api.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        """One call; with tracing on, a CLIENT span ``kube <METHOD> <resource>[/<subresource>]`` around it (the
        API server gets its ``traceparent``)."""
        if not tracing.enabled():
            return self._request(method, path, body=body, query=query, content_type=content_type)
        resource, namespace = api_route(path)
        host = urlsplit(self.api.configuration.host)
        attributes = {
            "http.request.method": method,
            "server.address": host.hostname,
            "server.port": host.port or (443 if host.scheme == "https" else 80),
            "url.path": path,
            "k8s.namespace.name": namespace,
        }
        with tracing.span(f"kube {method} {resource}", kind=tracing.SpanKind.CLIENT, attributes=attributes) as span:
            try:
                return self._request(method, path, body=body, query=query, content_type=content_type)
            except KubeError as exc:
                if span is not None:
                    span.set_attribute("http.response.status_code", exc.status)
                raise

    def _request(self, method: str, path: str, *, body: Any, query: dict[str, Any] | None, content_type: str) -> Any:
        url = self.api.configuration.host + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        headers = {"Accept": "application/json", "Content-Type": content_type}
        tracing.inject_http_headers(headers)
        self.api.update_params_for_auth(headers, None, ["BearerToken"], path, method, body)
        response = self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=self.timeout)
        response.read()
        data = response.data or b""
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = data.decode("utf-8", "replace")
        if response.status >= 400:
            raise KubeError(response.status, response.reason or "", decoded)
        return decoded

    # -- verbs -----------------------------------------------------------------------------------------

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self.request("GET", kind.path(namespace, name))
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    def list(self, kind: Kind, namespace: str | None = None, *, labels: str | None = None) -> list[dict[str, Any]]:
        result = self.request("GET", kind.path(namespace), query={"labelSelector": labels} if labels else None)
        return list((result or {}).get("items") or [])

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        kind = kind_of(manifest)
        return self.request("POST", kind.path(manifest["metadata"].get("namespace")), body=manifest)

    def apply(self, manifest: dict[str, Any], *, force: bool = True) -> dict[str, Any]:
        """Server-side apply (creates or updates; fields we stop setting are removed)."""
        kind = kind_of(manifest)
        meta = manifest["metadata"]
        return self.request(
            "PATCH",
            kind.path(meta.get("namespace"), meta["name"]),
            body=manifest,
            query={"fieldManager": c.FIELD_MANAGER, "force": "true" if force else None},
            content_type=APPLY_PATCH,
        )

    def merge_patch(
        self, kind: Kind, namespace: str | None, name: str, patch: dict[str, Any], *, subresource: str | None = None
    ) -> dict[str, Any]:
        return self.request(
            "PATCH",
            kind.path(namespace, name, subresource),
            body=patch,
            query={"fieldManager": c.FIELD_MANAGER},
            content_type=MERGE_PATCH,
        )

    def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        return self.merge_patch(kind, namespace, name, {"status": status}, subresource="status")

    def delete(self, kind: Kind, namespace: str | None, name: str, *, uid: str | None = None) -> None:
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", kind.path(namespace, name), body=body)
        except KubeError as exc:
            if not exc.not_found:
                raise
