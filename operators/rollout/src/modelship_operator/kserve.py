"""KServe target (``MODELSHIP_TARGET=kserve``): a ``serving.kserve.io/v1beta1`` InferenceService per model.

The predictor is a custom container (``spec.predictor.containers``) running the modelship serving image with
the same pinned arguments, probes and security settings as the Deployment target. Pure functions only.
"""

from __future__ import annotations

from typing import Any

from modelship_common.registry import model_uri
from modelship_operator import constants as c
from modelship_operator.render import (
    PodConfig,
    Resolved,
    common_labels,
    pod_spec_extras,
    predictor_container,
    predictor_name,
    prometheus_annotations,
    with_hash,
)
from modelship_operator.spec import ServiceSpec

KSERVE_API_VERSION = f"{c.KSERVE_GROUP}/{c.KSERVE_VERSION}"


def render_kserve(name: str, namespace: str, spec: ServiceSpec, resolved: Resolved, pod: PodConfig) -> dict[str, Any]:
    """A KServe InferenceService (RawDeployment mode) whose predictor runs the modelship model server."""
    uri = model_uri(spec.model.name, resolved.version)
    # KServe names container ports http1 (HTTP/1.1) or h2c; it routes to the first port.
    container = predictor_container(spec, resolved, pod, port_name="http1")
    predictor: dict[str, Any] = {
        "minReplicas": spec.replicas,
        # maxReplicas 0 means "unbounded" to KServe; pin it so the replica count is what the spec says.
        "maxReplicas": max(spec.replicas, 1),
        "containers": [container],
        **pod_spec_extras(pod),
    }
    return with_hash(
        {
            "apiVersion": KSERVE_API_VERSION,
            "kind": "InferenceService",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {**common_labels(name), c.LABEL_MODEL_VERSION: resolved.version},
                "annotations": {
                    # Plain Deployment + Service + HPA; no Knative or Istio needed.
                    "serving.kserve.io/deploymentMode": "RawDeployment",
                    "serving.kserve.io/enable-prometheus-scraping": "true",
                    **prometheus_annotations(),
                    c.ANN_MODEL_URI: uri,
                    c.ANN_MODEL_NAME: spec.model.name,
                },
            },
            "spec": {"predictor": predictor},
        }
    )


def kserve_url(isvc: dict[str, Any] | None, name: str, namespace: str) -> str:
    """The KServe InferenceService's in-cluster address, or its predictor Service's name before it has one."""
    status = (isvc or {}).get("status") or {}
    address = (status.get("address") or {}).get("url")
    return address or status.get("url") or f"http://{predictor_name(name)}.{namespace}.svc.cluster.local"
