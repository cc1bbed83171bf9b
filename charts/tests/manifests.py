"""Helpers over rendered manifests: pod specs of workloads, containers, lookups by kind/name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet")


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec inside a workload object, or None for other kinds."""
    kind = obj.get("kind")
    if kind == "Pod":
        return obj["spec"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind in WORKLOADS:
        return obj["spec"]["template"]["spec"]
    return None


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    kind = obj.get("kind")
    if kind == "Pod":
        return obj["metadata"].get("labels") or {}
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"].get("labels") or {}
    return obj["spec"]["template"]["metadata"].get("labels") or {}


def workloads(objs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for obj in objs:
        spec = pod_spec(obj)
        if spec is not None:
            yield obj, spec


def containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            yield key, c


def ref(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def find(objs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objs if o.get("kind") == kind and (name is None or o["metadata"]["name"] == name)]


def one(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = find(objs, kind, name)
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)} among {[ref(o) for o in objs]}"
    return found[0]


def env_map(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env") or []}


# What `helm uninstall` is checked against (charts/tests/test_install.py on kwok, tests/e2e on a real node).
NAMESPACED_KINDS = (
    "deployments.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "services",
    "configmaps",
    "secrets",
    "serviceaccounts",
    "jobs.batch",
    "cronjobs.batch",
    "pods",
    "persistentvolumeclaims",
    "roles.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    "inferenceservices.modelship.io",
    "modelregistries.modelship.io",
)
CLUSTER_KINDS = ("clusterroles.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io")


def leftovers(get: Callable[..., dict[str, Any]], namespace: str, release: str) -> list[str]:
    """Objects of the release still there after `helm uninstall`, minus what is meant to stay.

    ``get(kind, *kubectl_args)`` returns the parsed ``kubectl get -o json`` of a kind.
    """
    found: list[str] = []
    for kind in NAMESPACED_KINDS:
        for item in get(kind, "-n", namespace)["items"]:
            meta = item["metadata"]
            labels = meta.get("labels") or {}
            annotations = meta.get("annotations") or {}
            name = meta["name"]
            if kind == "configmaps" and name == "kube-root-ca.crt":
                continue
            if kind == "serviceaccounts" and name == "default":
                continue
            if annotations.get("helm.sh/resource-policy") == "keep":
                continue  # meant to stay (e.g. generated credentials whose data outlive the release)
            if kind == "jobs.batch" and "helm.sh/hook" in annotations:
                continue  # finished hook Jobs stay for their logs until ttlSecondsAfterFinished
            if kind == "pods" and (labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")):
                continue  # the pods of those Jobs
            if kind == "pods" and "helm.sh/hook" in annotations:
                continue  # the `helm test` pods (see test_helm_test_creates_the_test_pods_on_kwok)
            if kind == "persistentvolumeclaims":
                continue  # data of the stores (none with persistence off)
            found.append(f"{kind}/{name}")
    for kind in CLUSTER_KINDS:
        for item in get(kind, "-l", f"app.kubernetes.io/instance={release}")["items"]:
            found.append(f"{kind}/{item['metadata']['name']}")
    return found
