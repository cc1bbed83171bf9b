"""Names the operator, the CRDs and the rendered objects agree on."""

from __future__ import annotations

from modelship_common.registry import (  # noqa: F401 (the operator's code names them c.TAG_ROLLOUT_*)
    TAG_ROLLOUT_DECIDED_AT,
    TAG_ROLLOUT_DECISION,
    TAG_ROLLOUT_ID,
    TAG_ROLLOUT_PHASE,
    TAG_ROLLOUT_REASON,
)

GROUP = "modelship.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
ISVC_PLURAL = "inferenceservices"
ISVC_KIND = "InferenceService"
REGISTRY_PLURAL = "modelregistries"
REGISTRY_KIND = "ModelRegistry"

KSERVE_GROUP = "serving.kserve.io"
KSERVE_VERSION = "v1beta1"
KSERVE_PLURAL = "inferenceservices"

#: kopf keeps its progress and diff-base annotations under this prefix (not ``kopf.zalando.org``).
KOPF_PREFIX = "rollout.modelship.io"
#: Field manager for server-side apply of the children.
FIELD_MANAGER = "modelship-operator"
MANAGER = "modelship-operator"

# Labels on every child object.
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_VERSION = "app.kubernetes.io/version"
LABEL_ISVC = "modelship.io/inferenceservice"
LABEL_MODEL_VERSION = "modelship.io/model-version"
#: On InferenceServices a ModelRegistry created: the registry's name.
LABEL_REGISTRY = "modelship.io/registry"

SERVING_APP = "modelship-serving"
PREDICTOR = "predictor"
#: The second predictor of a Shadow or Canary rollout, ``<name>-candidate``, pinned to the candidate version.
CANDIDATE = "candidate"
#: On the candidate predictor's objects and pods only: ``candidate`` (the main predictor's carry no such label).
LABEL_ROLLOUT_ROLE = "modelship.io/rollout-role"
#: On the candidate predictor's objects: the ``rollouts`` row it serves.
LABEL_ROLLOUT_ID = "modelship.io/rollout-id"

# Annotations.
ANN_CONFIG_HASH = "modelship.io/config-hash"
ANN_MODEL_URI = "modelship.io/model-uri"
ANN_MODEL_NAME = "modelship.io/model-name"
#: Set by a registry sync on the InferenceServices it owns; a change makes the InferenceService re-resolve.
ANN_RESOLVED_VERSION = "modelship.io/resolved-version"

#: The model server's ports: REST (KServe V1/V2 over HTTP/1.1) and gRPC (Open Inference Protocol V2).
HTTP_PORT = 8080
GRPC_PORT = 8081
#: Port names. The Deployment target names its HTTP port ``http``; the KServe target ``http1`` (KServe's
#: convention). The gRPC port is ``grpc`` in both: KServe marks a Service port whose name contains "grpc" or "h2c"
#: as ``appProtocol: kubernetes.io/h2c``, and the operator's own Service does the same.
HTTP_PORT_NAME = "http"
KSERVE_HTTP_PORT_NAME = "http1"
GRPC_PORT_NAME = "grpc"
#: Kubernetes' standard application protocol for HTTP/2 over cleartext (what gRPC without TLS speaks).
H2C_APP_PROTOCOL = "kubernetes.io/h2c"
CONTAINER_NAME = "kserve-container"

# MLflow model-version tags written on a rollout's candidate at every decision: modelship_common.registry's.

# Condition types and reasons.
READY = "Ready"
RESOLVED = "Resolved"
SYNCED = "Synced"
