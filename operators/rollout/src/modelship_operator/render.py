"""Desired child objects of an InferenceService (pure functions: spec in, manifests out).

``render_deployment`` and ``render_service`` build the model server Deployment and Service for one resolved
model version; :mod:`modelship_operator.kserve` builds the KServe alternative from the same pieces
(:func:`predictor_container`, :func:`pod_spec_extras`). Nothing here talks to a cluster or to MLflow.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from modelship_common.registry import model_uri
from modelship_operator import constants as c
from modelship_operator.settings import OperatorSettings
from modelship_operator.spec import ServiceSpec


@dataclass(frozen=True)
class PodConfig:
    """Operator-wide settings that shape every model server pod."""

    image: str = "modelship-serving:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    service_account: str = ""
    run_as_user: int = 1000
    env: dict[str, str] = field(default_factory=dict)
    env_from_secret: str = ""
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: OperatorSettings) -> PodConfig:
        return cls(
            image=settings.serving_image,
            image_pull_policy=settings.serving_image_pull_policy,
            service_account=settings.serving_service_account,
            run_as_user=settings.serving_run_as_user,
            env=dict(settings.serving_env),
            env_from_secret=settings.serving_env_from_secret,
            node_selector=dict(settings.serving_node_selector),
            tolerations=[dict(t) for t in settings.serving_tolerations],
        )


@dataclass(frozen=True)
class Resolved:
    """A registry lookup result: the version to serve and where its artifacts are."""

    version: str
    source: str = ""
    tracking_uri: str = ""


def predictor_name(isvc_name: str) -> str:
    """Name of the Deployment and Service of an InferenceService (KServe's convention)."""
    return f"{isvc_name}-{c.PREDICTOR}"


def candidate_name(isvc_name: str) -> str:
    """Name of a rollout's candidate predictor: its Deployment and Service, or its KServe InferenceService."""
    return f"{isvc_name}-{c.CANDIDATE}"


def child_name(isvc_name: str, *, candidate: bool = False) -> str:
    """The main predictor's name (``<name>-predictor``) or the candidate's (``<name>-candidate``)."""
    return candidate_name(isvc_name) if candidate else predictor_name(isvc_name)


def service_url(isvc_name: str, namespace: str, *, candidate: bool = False) -> str:
    """In-cluster base URL (HTTP) of the model server of the Deployment target (main or candidate)."""
    return f"http://{child_name(isvc_name, candidate=candidate)}.{namespace}.svc:{c.HTTP_PORT}"


def selector_labels(isvc_name: str, *, candidate: bool = False) -> dict[str, str]:
    """Stable labels the Service and the Deployment select pods by (name + instance only).

    The candidate's instance is ``<name>-candidate``, so the main Service never selects a candidate pod.
    """
    return {c.LABEL_NAME: c.SERVING_APP, c.LABEL_INSTANCE: candidate_name(isvc_name) if candidate else isvc_name}


def common_labels(isvc_name: str, *, candidate: bool = False) -> dict[str, str]:
    """Labels on every child object (the candidate's also carry ``modelship.io/rollout-role: candidate``)."""
    labels = {
        **selector_labels(isvc_name, candidate=candidate),
        c.LABEL_COMPONENT: c.PREDICTOR,
        c.LABEL_PART_OF: "modelship",
        c.LABEL_MANAGED_BY: c.MANAGER,
        c.LABEL_ISVC: isvc_name,
    }
    if candidate:
        labels[c.LABEL_ROLLOUT_ROLE] = c.CANDIDATE
    return labels


def pod_labels(isvc_name: str, version: str, *, candidate: bool = False) -> dict[str, str]:
    return {**common_labels(isvc_name, candidate=candidate), c.LABEL_MODEL_VERSION: version}


def replicas_of(spec: ServiceSpec, *, candidate: bool = False) -> int:
    """spec.replicas; a candidate runs at least one pod (it must become ready to be judged)."""
    return max(spec.replicas, 1) if candidate else spec.replicas


def readiness_path(protocol: str, model_name: str) -> str:
    """The model-ready endpoint of the protocol in use."""
    if protocol == "v1":
        return f"/v1/models/{model_name}"
    return f"/v2/models/{model_name}/ready"


def prometheus_annotations() -> dict[str, str]:
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(c.HTTP_PORT), "prometheus.io/path": "/metrics"}


def server_args(model_name: str, version: str) -> list[str]:
    """Command-line arguments of ``python -m modelship_serving`` for a pinned version.

    Both ports are explicit (kserve's ModelServer serves gRPC by default, on 8081) so that what the pod declares
    is what the server binds, whatever kserve's defaults become.
    """
    return [
        "--model-uri",
        model_uri(model_name, version),
        "--model_name",
        model_name,
        "--http_port",
        str(c.HTTP_PORT),
        "--grpc_port",
        str(c.GRPC_PORT),
    ]


def container_ports(http_name: str = c.HTTP_PORT_NAME) -> list[dict[str, Any]]:
    """The model server's declared ports: HTTP first (KServe routes its Service's port 80 to the first), then gRPC."""
    return [
        {"name": http_name, "containerPort": c.HTTP_PORT, "protocol": "TCP"},
        {"name": c.GRPC_PORT_NAME, "containerPort": c.GRPC_PORT, "protocol": "TCP"},
    ]


def predictor_container(
    spec: ServiceSpec, resolved: Resolved, pod: PodConfig, *, port_name: str = c.HTTP_PORT_NAME
) -> dict:
    """The model server container: pinned model URI, both ports, probes, resources, locked-down security context.

    ``port_name`` names the HTTP port (the gRPC port is always ``grpc``).
    """
    env = [
        {"name": "MODELSHIP_MLFLOW_TRACKING_URI", "value": resolved.tracking_uri},
        {"name": "MLFLOW_TRACKING_URI", "value": resolved.tracking_uri},
        {"name": "HOME", "value": "/tmp"},
        {"name": "TMPDIR", "value": "/tmp"},
    ]
    taken = {e["name"] for e in env}
    env += [{"name": k, "value": str(v)} for k, v in sorted(pod.env.items()) if k not in taken]
    container: dict[str, Any] = {
        "name": c.CONTAINER_NAME,
        "image": pod.image,
        "imagePullPolicy": pod.image_pull_policy,
        "args": server_args(spec.model.name, resolved.version),
        "ports": container_ports(port_name),
        "env": env,
        "readinessProbe": {
            "httpGet": {"path": readiness_path(spec.protocol, spec.model.name), "port": c.HTTP_PORT},
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": c.HTTP_PORT},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 6,
        },
        # Loading a model (downloading artifacts, importing TensorFlow) can take minutes.
        "startupProbe": {
            "httpGet": {"path": "/v2/health/live", "port": c.HTTP_PORT},
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 60,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if pod.env_from_secret:
        container["envFrom"] = [{"secretRef": {"name": pod.env_from_secret}}]
    if spec.resources:
        container["resources"] = copy.deepcopy(spec.resources)
    return container


def pod_spec_extras(pod: PodConfig) -> dict[str, Any]:
    """Pod-level fields shared by the Deployment and the KServe predictor."""
    extras: dict[str, Any] = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": pod.run_as_user,
            "runAsGroup": pod.run_as_user,
            "fsGroup": pod.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    if pod.service_account:
        extras["serviceAccountName"] = pod.service_account
    if pod.node_selector:
        extras["nodeSelector"] = dict(pod.node_selector)
    if pod.tolerations:
        extras["tolerations"] = copy.deepcopy(pod.tolerations)
    return extras


def config_hash(manifest: dict[str, Any]) -> str:
    """Short stable hash of a manifest (without its own hash annotation): the 'is there a diff' test."""
    clean = copy.deepcopy(manifest)
    clean.get("metadata", {}).get("annotations", {}).pop(c.ANN_CONFIG_HASH, None)
    blob = json.dumps(clean, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def with_hash(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest with its ``modelship.io/config-hash`` annotation set."""
    manifest.setdefault("metadata", {}).setdefault("annotations", {})[c.ANN_CONFIG_HASH] = config_hash(manifest)
    return manifest


#: Seconds a model server pod that is going away keeps serving before it is told to stop. The kubelet's SIGTERM and
#: the Service's endpoint removal start together; without the pause the server closed its listener and its kept-alive
#: connections while callers (the gateway, kube-proxy's rules) still sent it requests: a replaced predictor pod cost
#: callers a refused connection or a reset one (seen in the real-node canary e2e). Debian's ``sleep`` in the image:
#: the kubelet's own ``sleep`` action needs Kubernetes 1.30, the charts support 1.27.
PRE_STOP_SLEEP_S = 5
#: The pause, then the server's own graceful stop (in-flight requests finish), well inside the kubelet's deadline.
TERMINATION_GRACE_S = 30


def draining(container: dict[str, Any]) -> dict[str, Any]:
    """The container with the pre-stop pause of :data:`PRE_STOP_SLEEP_S`."""
    container["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(PRE_STOP_SLEEP_S)]}}}
    return container


def render_deployment(
    name: str, namespace: str, spec: ServiceSpec, resolved: Resolved, pod: PodConfig, *, candidate: bool = False
) -> dict[str, Any]:
    """The model server Deployment ``<name>-predictor`` for one pinned version.

    ``candidate=True``: the rollout's candidate, ``<name>-candidate``, the same model server with its own
    selector (instance ``<name>-candidate``) and the ``modelship.io/rollout-role: candidate`` label.
    """
    uri = model_uri(spec.model.name, resolved.version)
    annotations = {c.ANN_MODEL_URI: uri, c.ANN_MODEL_NAME: spec.model.name}
    return with_hash(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": child_name(name, candidate=candidate),
                "namespace": namespace,
                "labels": {**common_labels(name, candidate=candidate), c.LABEL_MODEL_VERSION: resolved.version},
                "annotations": dict(annotations),
            },
            "spec": {
                "replicas": replicas_of(spec, candidate=candidate),
                "revisionHistoryLimit": 3,
                "progressDeadlineSeconds": 600,
                "selector": {"matchLabels": selector_labels(name, candidate=candidate)},
                # New pods must pass the model-ready probe before an old one goes: no gap in serving.
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {
                    "metadata": {
                        "labels": pod_labels(name, resolved.version, candidate=candidate),
                        "annotations": {**prometheus_annotations(), **annotations},
                    },
                    "spec": {
                        "automountServiceAccountToken": False,
                        "enableServiceLinks": False,
                        "terminationGracePeriodSeconds": TERMINATION_GRACE_S,
                        "containers": [draining(predictor_container(spec, resolved, pod))],
                        **pod_spec_extras(pod),
                    },
                },
            },
        }
    )


def render_service(name: str, namespace: str, *, candidate: bool = False) -> dict[str, Any]:
    """The ClusterIP Service ``<name>-predictor`` (``<name>-candidate``): HTTP on 8080, gRPC (h2c) on 8081."""
    return with_hash(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": child_name(name, candidate=candidate),
                "namespace": namespace,
                "labels": common_labels(name, candidate=candidate),
                "annotations": {},
            },
            "spec": {
                "type": "ClusterIP",
                "selector": selector_labels(name, candidate=candidate),
                "ports": [
                    {
                        "name": c.HTTP_PORT_NAME,
                        "port": c.HTTP_PORT,
                        "targetPort": c.HTTP_PORT_NAME,
                        "protocol": "TCP",
                    },
                    {
                        "name": c.GRPC_PORT_NAME,
                        "port": c.GRPC_PORT,
                        "targetPort": c.GRPC_PORT_NAME,
                        "protocol": "TCP",
                        "appProtocol": c.H2C_APP_PROTOCOL,
                    },
                ],
            },
        }
    )


def owner_reference(owner: dict[str, Any]) -> dict[str, Any]:
    """A controller ownerReference to ``owner`` (so the garbage collector deletes the child with it)."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_owned_by(child: dict[str, Any], owner_uid: str) -> bool:
    refs = (child.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == owner_uid for ref in refs)


def deployment_version(deployment: dict[str, Any] | None) -> str | None:
    """The model version a rendered Deployment (or KServe InferenceService) serves, from its label."""
    if not deployment:
        return None
    return ((deployment.get("metadata") or {}).get("labels") or {}).get(c.LABEL_MODEL_VERSION)
