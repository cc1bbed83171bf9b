"""The KServe renderer against KServe's own CRD schema (trimmed copy in tests/data, see its header)."""

import jsonschema
import kubernetes_validate
import pytest

from modelship_operator import constants as c
from modelship_operator.kserve import kserve_url, render_kserve
from modelship_operator.render import PodConfig, Resolved
from modelship_operator.spec import parse_spec

from .helpers import KSERVE_CRD, closed, crd_schema

RESOLVED = Resolved(version="5", source="models:/m-1", tracking_uri="http://mlflow:5000")


def _render(**spec):
    parsed = parse_spec({"model": {"name": "digits-fast", "alias": "champion"}, **spec})
    pod = PodConfig(
        image="modelship-serving:1.0.0", tolerations=[{"key": "x", "operator": "Exists"}], node_selector={"a": "b"}
    )
    return render_kserve("digits-fast", "ml", parsed, RESOLVED, pod)


@pytest.fixture(scope="module")
def kserve_schema():
    return closed(crd_schema(KSERVE_CRD, "v1beta1"))


def test_valid_against_kserve_crd(kserve_schema):
    obj = _render(resources={"limits": {"cpu": "2", "memory": "2Gi"}, "requests": {"cpu": "1"}})
    jsonschema.validate(obj, kserve_schema)


def test_schema_check_is_not_vacuous(kserve_schema):
    obj = _render()
    obj["spec"]["predictor"]["containers"][0]["imagePulPolicy"] = "Always"  # typo
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(obj, kserve_schema)
    obj = _render()
    obj["spec"]["predictor"]["minReplicas"] = "one"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(obj, kserve_schema)


def test_pod_fields_are_a_valid_core_pod_spec():
    """KServe's PredictorSpec inlines core/v1 PodSpec: the pod-level part must be a valid PodSpec."""
    predictor = dict(_render()["spec"]["predictor"])
    predictor.pop("minReplicas")
    predictor.pop("maxReplicas")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": predictor}
    kubernetes_validate.validate(pod, "1.33.0", strict=True)


def test_predictor_runs_the_modelship_server_pinned():
    obj = _render(replicas=2)
    assert obj["apiVersion"] == "serving.kserve.io/v1beta1"
    assert obj["kind"] == "InferenceService"
    assert obj["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"
    predictor = obj["spec"]["predictor"]
    assert predictor["minReplicas"] == 2
    assert predictor["maxReplicas"] == 2
    (container,) = predictor["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == "modelship-serving:1.0.0"
    assert container["args"][:2] == ["--model-uri", "models:/digits-fast/5"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/models/digits-fast/ready"
    assert obj["metadata"]["labels"][c.LABEL_MODEL_VERSION] == "5"
    assert obj["metadata"]["annotations"]["prometheus.io/scrape"] == "true"


def test_zero_replicas_keeps_max_at_one():
    predictor = _render(replicas=0)["spec"]["predictor"]
    assert predictor["minReplicas"] == 0
    assert predictor["maxReplicas"] == 1


def test_container_declares_http_first_then_grpc():
    """KServe's RawDeployment Service maps port 80 to the first container port, later ports to their own number."""
    (container,) = _render()["spec"]["predictor"]["containers"]
    assert container["ports"] == [
        {"name": "http1", "containerPort": 8080, "protocol": "TCP"},
        {"name": "grpc", "containerPort": 8081, "protocol": "TCP"},
    ]
    args = container["args"]
    assert args[args.index("--http_port") + 1] == "8080"
    assert args[args.index("--grpc_port") + 1] == "8081"
    # Two container ports only work in RawDeployment: Knative (Serverless) accepts a single one.
    assert _render()["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "RawDeployment"


RAW_ADDRESS = "http://m-predictor.ml.svc.cluster.local"


def test_url_before_kserve_reports_is_the_predictor_service_on_port_80():
    assert kserve_url(None, "m", "ml") == RAW_ADDRESS
    assert kserve_url({"status": {}}, "m", "ml") == RAW_ADDRESS
    assert ":8080" not in kserve_url(None, "m", "ml")


def test_url_is_kserves_cluster_address():
    # RawDeployment: status.address is the predictor Service; status.url the external ingress host.
    raw = {"status": {"url": "http://m-ml.example.com", "address": {"url": RAW_ADDRESS}}}
    assert kserve_url(raw, "m", "ml") == RAW_ADDRESS
    # Serverless: the top-level address is the cluster-local route.
    serverless = {
        "status": {
            "url": "http://m.ml.example.com",
            "address": {"url": "http://m.ml.svc.cluster.local"},
            "components": {"predictor": {"address": {"url": "http://m-predictor.ml.svc.cluster.local"}}},
        }
    }
    assert kserve_url(serverless, "m", "ml") == "http://m.ml.svc.cluster.local"
    predictor_only = {"status": {"components": {"predictor": {"address": {"url": "https://m-predictor.ml.svc/"}}}}}
    assert kserve_url(predictor_only, "m", "ml") == "https://m-predictor.ml.svc"


def test_url_never_is_the_external_ingress_host():
    assert kserve_url({"status": {"url": "http://m-ml.example.com"}}, "m", "ml") == RAW_ADDRESS
    assert kserve_url({"status": {"address": {"url": ""}, "url": "http://m-ml.example.com"}}, "m", "ml") == RAW_ADDRESS
