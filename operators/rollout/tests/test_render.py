import copy

import kubernetes_validate
import pytest

from modelship_operator import constants as c
from modelship_operator.render import (
    PodConfig,
    Resolved,
    config_hash,
    deployment_version,
    is_owned_by,
    owner_reference,
    render_deployment,
    render_service,
    service_url,
)
from modelship_operator.settings import OperatorSettings
from modelship_operator.spec import parse_spec

K8S = "1.33.0"
RESOLVED = Resolved(version="3", source="models:/m-abc123", tracking_uri="http://mlflow:5000")


def _deployment(**spec_overrides):
    spec = parse_spec({"model": {"name": "penguins", "alias": "champion"}, **spec_overrides})
    return render_deployment("penguins", "ml", spec, RESOLVED, PodConfig(image="reg.example/modelship-serving:1.2.3"))


def _container(dep):
    return dep["spec"]["template"]["spec"]["containers"][0]


def test_deployment_is_valid_kubernetes_strictly():
    dep = _deployment(resources={"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m"}})
    kubernetes_validate.validate(dep, K8S, strict=True)


def test_service_is_valid_kubernetes_strictly():
    kubernetes_validate.validate(render_service("penguins", "ml"), K8S, strict=True)


def test_deployment_pins_the_version_and_runs_the_model_server():
    dep = _deployment()
    container = _container(dep)
    assert dep["metadata"]["name"] == "penguins-predictor"
    assert dep["metadata"]["namespace"] == "ml"
    assert container["image"] == "reg.example/modelship-serving:1.2.3"
    assert container["args"] == [
        "--model-uri",
        "models:/penguins/3",
        "--model_name",
        "penguins",
        "--http_port",
        "8080",
        "--grpc_port",
        "8081",
    ]
    assert container["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 8081, "protocol": "TCP"},
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MODELSHIP_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert "@" not in " ".join(container["args"])  # never an alias in a pod


def test_probes():
    container = _container(_deployment())
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/models/penguins/ready", "port": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
    v1 = _container(_deployment(protocol="v1"))
    assert v1["readinessProbe"]["httpGet"]["path"] == "/v1/models/penguins"


def test_a_pod_that_goes_away_keeps_serving_while_its_endpoints_are_removed():
    spec = parse_spec({"model": {"name": "penguins", "alias": "champion"}})
    for dep in (_deployment(), render_deployment("penguins", "ml", spec, RESOLVED, PodConfig(), candidate=True)):
        pod = dep["spec"]["template"]["spec"]
        assert _container(dep)["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "5"]}}}
        assert pod["terminationGracePeriodSeconds"] >= 5 + 20  # the pause, then the server's graceful stop


def test_security_context_and_tmp():
    dep = _deployment()
    pod = dep["spec"]["template"]["spec"]
    container = _container(dep)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {}} in pod["volumes"]
    assert pod["automountServiceAccountToken"] is False


def test_labels_annotations_and_selector():
    dep = _deployment()
    template = dep["spec"]["template"]
    assert dep["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "modelship-serving",
        "app.kubernetes.io/instance": "penguins",
    }
    for key, value in dep["spec"]["selector"]["matchLabels"].items():
        assert template["metadata"]["labels"][key] == value
    assert template["metadata"]["labels"][c.LABEL_MODEL_VERSION] == "3"
    assert template["metadata"]["labels"][c.LABEL_MANAGED_BY] == "modelship-operator"
    assert template["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert template["metadata"]["annotations"]["prometheus.io/port"] == "8080"
    assert template["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    assert all(k.startswith(("app.kubernetes.io/", "modelship.io/")) for k in dep["metadata"]["labels"])
    assert deployment_version(dep) == "3"


def test_rolling_update_never_drops_below_the_wanted_replicas():
    dep = _deployment(replicas=3)
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def test_resources_copied():
    resources = {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m"}}
    assert _container(_deployment(resources=resources))["resources"] == resources
    assert "resources" not in _container(_deployment())


def test_pod_config_from_settings():
    settings = OperatorSettings(
        serving_image="img:9",
        serving_env={"MLFLOW_S3_ENDPOINT_URL": "http://minio:9000", "MODELSHIP_MLFLOW_TRACKING_URI": "ignored"},
        serving_env_from_secret="s3-credentials",
        serving_node_selector={"pool": "cpu"},
        serving_tolerations=[{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
        serving_service_account="model-server",
    )
    spec = parse_spec({"model": {"name": "penguins", "version": "3"}})
    dep = render_deployment("penguins", "ml", spec, RESOLVED, PodConfig.from_settings(settings))
    kubernetes_validate.validate(dep, K8S, strict=True)
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["MODELSHIP_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"  # extra env never overrides ours
    assert [e["name"] for e in container["env"]].count("MODELSHIP_MLFLOW_TRACKING_URI") == 1
    assert container["envFrom"] == [{"secretRef": {"name": "s3-credentials"}}]
    assert pod["nodeSelector"] == {"pool": "cpu"}
    assert pod["tolerations"][0]["key"] == "kwok.x-k8s.io/node"
    assert pod["serviceAccountName"] == "model-server"


def test_config_hash_changes_with_the_version_only_when_content_changes():
    a = _deployment()
    b = _deployment()
    assert a["metadata"]["annotations"][c.ANN_CONFIG_HASH] == b["metadata"]["annotations"][c.ANN_CONFIG_HASH]
    assert config_hash(a) == a["metadata"]["annotations"][c.ANN_CONFIG_HASH]
    spec = parse_spec({"model": {"name": "penguins", "alias": "champion"}})
    other = render_deployment("penguins", "ml", spec, Resolved("4", "", "http://mlflow:5000"), PodConfig())
    assert other["metadata"]["annotations"][c.ANN_CONFIG_HASH] != a["metadata"]["annotations"][c.ANN_CONFIG_HASH]
    changed = copy.deepcopy(a)
    changed["spec"]["replicas"] = 5
    assert config_hash(changed) != config_hash(a)


def test_renderers_are_pure():
    spec = parse_spec({"model": {"name": "penguins", "alias": "champion"}, "resources": {"limits": {"cpu": "1"}}})
    pod = PodConfig(tolerations=[{"key": "k", "operator": "Exists"}])
    first = render_deployment("penguins", "ml", spec, RESOLVED, pod)
    first["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "9"
    first["spec"]["template"]["spec"]["tolerations"][0]["key"] = "x"
    second = render_deployment("penguins", "ml", spec, RESOLVED, pod)
    assert second["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] == "1"
    assert second["spec"]["template"]["spec"]["tolerations"][0]["key"] == "k"


def test_service():
    svc = render_service("penguins", "ml")
    assert svc["metadata"]["name"] == "penguins-predictor"
    assert svc["spec"]["selector"] == {
        "app.kubernetes.io/name": "modelship-serving",
        "app.kubernetes.io/instance": "penguins",
    }
    assert svc["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"},
        {"name": "grpc", "port": 8081, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"},
    ]
    assert service_url("penguins", "ml") == "http://penguins-predictor.ml.svc:8080"


def test_service_targets_ports_the_pod_declares():
    """Each Service port's named targetPort is a port of the model server container."""
    declared = {p["name"]: p["containerPort"] for p in _container(_deployment())["ports"]}
    for port in render_service("penguins", "ml")["spec"]["ports"]:
        assert declared[port["targetPort"]] == port["port"]


def test_args_parse_with_the_model_servers_own_parser():
    """The ports the pod declares are the ports ``python -m modelship_serving`` binds with these arguments."""
    from modelship_serving.server import build_parser

    container = _container(_deployment())
    args = build_parser().parse_args(container["args"])
    assert (args.model_uri, args.model_name) == ("models:/penguins/3", "penguins")
    assert args.enable_grpc is True
    declared = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (args.http_port, args.grpc_port) == (declared["http"], declared["grpc"]) == (8080, 8081)


def test_owner_reference():
    owner = {"apiVersion": "modelship.io/v1alpha1", "kind": "InferenceService", "metadata": {"name": "p", "uid": "u1"}}
    ref = owner_reference(owner)
    assert ref == {
        "apiVersion": "modelship.io/v1alpha1",
        "kind": "InferenceService",
        "name": "p",
        "uid": "u1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert is_owned_by({"metadata": {"ownerReferences": [ref]}}, "u1")
    assert not is_owned_by({"metadata": {}}, "u1")


@pytest.mark.parametrize("name", ["penguins", "digits-fast"])
def test_names(name):
    spec = parse_spec({"model": {"name": name, "version": "1"}})
    dep = render_deployment(name, "ml", spec, RESOLVED, PodConfig())
    assert dep["metadata"]["name"] == f"{name}-predictor"
