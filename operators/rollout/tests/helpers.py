"""Shared test helpers: sample objects and schema loading (no cluster, no MLflow)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
CRD_DIR = ROOT / "k8s" / "crds"
EXAMPLES_DIR = ROOT / "k8s" / "examples"
DATA = Path(__file__).resolve().parent / "data"
KSERVE_CRD = DATA / "kserve-inferenceservices-v1beta1.trimmed.yaml"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def crd_schema(path: Path, version: str) -> dict[str, Any]:
    crd = load_yaml(path)
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            return v["schema"]["openAPIV3Schema"]
    raise KeyError(version)


def closed(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI schema as a strict JSON Schema: objects with properties reject unknown keys."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
                node.setdefault("additionalProperties", False)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    # metadata is free-form in CRD schemas
    schema.get("properties", {}).get("metadata", {}).pop("additionalProperties", None)
    return schema


def isvc(name: str = "penguins", namespace: str = "ml", **spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "InferenceService",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
        "spec": {"model": {"name": name, "alias": "champion"}, "protocol": "v2", "replicas": 1, **spec},
    }
    return body


def deployment(
    *,
    version: str = "1",
    replicas: int = 1,
    generation: int = 2,
    observed: int = 2,
    updated: int = 1,
    total: int = 1,
    available: int = 1,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if conditions is None:
        conditions = [
            {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
        ]
    return {
        "metadata": {
            "name": "penguins-predictor",
            "generation": generation,
            "labels": {"modelship.io/model-version": version},
        },
        "spec": {"replicas": replicas},
        "status": {
            "observedGeneration": observed,
            "replicas": total,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "readyReplicas": available,
            "conditions": conditions,
        },
    }
