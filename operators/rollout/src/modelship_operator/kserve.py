"""KServe target (``MODELSHIP_TARGET=kserve``): a ``serving.kserve.io/v1beta1`` InferenceService per model.

The predictor is a custom container (``spec.predictor.containers``) running the modelship serving image with
the same pinned arguments, probes and security settings as the Deployment target. Pure functions only.

Ports, as KServe's RawDeployment Service reconciler maps them (``createDefaultSvc`` in
``pkg/controller/v1beta1/inferenceservice/reconcilers/service/service_reconciler.go``): the *first* container
port becomes Service port 80 (``CommonDefaultHttpPort``) targeting 8080, every further port is exposed on its own
number. The container declares ``http1`` 8080 first and ``grpc`` 8081 second, so the predictor Service
``<name>-predictor`` answers HTTP on 80 and gRPC on 8081 (KServe >= 0.19 also sets ``appProtocol:
kubernetes.io/h2c`` on it, because the name contains "grpc"). Two ports need RawDeployment, which the
InferenceService pins: in Serverless mode Knative accepts a single container port (KServe's docs: "only one port
is allowed to expose").
"""

from __future__ import annotations

from typing import Any

from modelship_common.registry import model_uri
from modelship_operator import constants as c
from modelship_operator.render import (
    PodConfig,
    Resolved,
    candidate_name,
    common_labels,
    pod_spec_extras,
    predictor_container,
    predictor_name,
    prometheus_annotations,
    replicas_of,
    with_hash,
)
from modelship_operator.spec import ServiceSpec

KSERVE_API_VERSION = f"{c.KSERVE_GROUP}/{c.KSERVE_VERSION}"


def render_kserve(
    name: str, namespace: str, spec: ServiceSpec, resolved: Resolved, pod: PodConfig, *, candidate: bool = False
) -> dict[str, Any]:
    """A KServe InferenceService (RawDeployment mode) whose predictor runs the modelship model server.

    ``candidate=True``: the rollout's candidate, the KServe InferenceService ``<name>-candidate`` (KServe names its
    predictor Service ``<name>-candidate-predictor``), labelled ``modelship.io/rollout-role: candidate``.
    """
    uri = model_uri(spec.model.name, resolved.version)
    # HTTP first: KServe's Service routes port 80 to the first container port; gRPC (8081) keeps its number.
    container = predictor_container(spec, resolved, pod, port_name=c.KSERVE_HTTP_PORT_NAME)
    replicas = replicas_of(spec, candidate=candidate)
    predictor: dict[str, Any] = {
        "minReplicas": replicas,
        # maxReplicas 0 means "unbounded" to KServe; pin it so the replica count is what the spec says.
        "maxReplicas": max(replicas, 1),
        "containers": [container],
        **pod_spec_extras(pod),
    }
    return with_hash(
        {
            "apiVersion": KSERVE_API_VERSION,
            "kind": "InferenceService",
            "metadata": {
                "name": candidate_name(name) if candidate else name,
                "namespace": namespace,
                "labels": {**common_labels(name, candidate=candidate), c.LABEL_MODEL_VERSION: resolved.version},
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
    """The in-cluster HTTP base URL of a KServe InferenceService, as KServe reports it.

    ``status.address.url`` first: in RawDeployment mode it is the predictor Service
    (``http://<name>-predictor.<ns>.svc.cluster.local``, port 80), in Serverless mode the cluster-local route.
    Then ``status.components.predictor.address.url`` (Serverless). Before KServe has reported either, the
    predictor Service KServe creates, on its port 80. Never ``status.url``: that is the external ingress host
    (``<name>-<ns>.<ingressDomain>``), which need not resolve inside the cluster.
    """
    status = (isvc or {}).get("status") or {}
    predictor = ((status.get("components") or {}).get(c.PREDICTOR)) or {}
    for address in (status.get("address"), predictor.get("address")):
        url = (address or {}).get("url")
        if isinstance(url, str) and url:
            return url.rstrip("/")
    return kserve_service_url(name, namespace)


def kserve_service_url(name: str, namespace: str) -> str:
    """KServe's predictor Service ``<name>-predictor`` on port 80 (the scheme's default, so no port in the URL)."""
    return f"http://{predictor_name(name)}.{namespace}.svc.cluster.local"
