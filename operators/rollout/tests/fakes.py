"""An in-memory stand-in for :class:`modelship_operator.kube.Kube` (unit tests of the reconcilers)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from modelship_operator.kube import Kind, KubeError, kind_of

_uids = itertools.count(1)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str]] = []

    def _key(self, kind: Kind, namespace: str | None, name: str) -> tuple[str, str | None, str]:
        return (f"{kind.api_version}/{kind.kind}", namespace, name)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(_uids)}")
        meta.setdefault("generation", 1)
        self.objects[self._key(kind_of(obj), meta.get("namespace"), meta["name"])] = obj
        return copy.deepcopy(obj)

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        self.calls.append(("get", kind.kind, name))
        obj = self.objects.get(self._key(kind, namespace, name))
        return copy.deepcopy(obj) if obj else None

    def list(self, kind: Kind, namespace: str | None = None, *, labels: str | None = None) -> list[dict[str, Any]]:
        out = []
        want = dict(item.split("=", 1) for item in labels.split(",")) if labels else {}
        for (k, ns, _name), obj in self.objects.items():
            if k != f"{kind.api_version}/{kind.kind}" or (namespace and ns != namespace):
                continue
            have = obj["metadata"].get("labels") or {}
            if all(have.get(a) == b for a, b in want.items()):
                out.append(copy.deepcopy(obj))
        return out

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", manifest["kind"], manifest["metadata"]["name"]))
        key = self._key(kind_of(manifest), manifest["metadata"].get("namespace"), manifest["metadata"]["name"])
        if key in self.objects:
            raise KubeError(409, "Conflict", {"message": "exists"})
        return self.put(manifest)

    def apply(self, manifest: dict[str, Any], *, force: bool = True) -> dict[str, Any]:
        self.calls.append(("apply", manifest["kind"], manifest["metadata"]["name"]))
        key = self._key(kind_of(manifest), manifest["metadata"].get("namespace"), manifest["metadata"]["name"])
        old = self.objects.get(key)
        new = copy.deepcopy(manifest)
        if old:
            new["metadata"]["uid"] = old["metadata"]["uid"]
            new["metadata"]["generation"] = old["metadata"]["generation"] + (old.get("spec") != new.get("spec"))
            new["status"] = old.get("status", {})
        return self.put(new)

    def merge_patch(self, kind: Kind, namespace: str | None, name: str, patch: dict[str, Any], *,
                    subresource: str | None = None) -> dict[str, Any]:  # fmt: skip
        self.calls.append(("patch" + (f"/{subresource}" if subresource else ""), kind.kind, name))
        obj = self.objects.get(self._key(kind, namespace, name))
        if obj is None:
            raise KubeError(404, "Not Found", {"message": "not found"})
        before = copy.deepcopy(obj.get("spec"))
        _merge(obj, patch)
        if obj.get("spec") != before:
            obj["metadata"]["generation"] += 1
        return copy.deepcopy(obj)

    def patch_status(self, kind: Kind, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        return self.merge_patch(kind, namespace, name, {"status": status}, subresource="status")

    def delete(self, kind: Kind, namespace: str | None, name: str, *, uid: str | None = None) -> None:
        self.calls.append(("delete", kind.kind, name))
        self.objects.pop(self._key(kind, namespace, name), None)

    def close(self) -> None:
        pass
