"""Every model server pod the chart renders, or makes the operator render, declares http 8080 and grpc 8081.

Two sources of model server pods: the chart's own predictor Deployments (operator disabled), and the children the
operator renders for the chart's InferenceServices, with the settings the chart gives the operator (its
Deployment's MODELSHIP_* env). Both are checked for every ci/*-values.yaml, so a values file, a template or a
renderer that drops a port fails here. Model server containers are found by image and by command line, not by
name, so a new workload running the server cannot slip past.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from charts.tests.conftest import CI_VALUES
from charts.tests.manifests import containers, env_map, find, one, ref, workloads

HTTP_NAMES = {"http", "http1"}  # http1: KServe's name for an HTTP/1.1 port (the operator's kserve target)
GRPC_NAMES = {"grpc"}


def is_model_server(container: dict[str, Any], serving_image: str) -> bool:
    image = container.get("image") or ""
    command = [*(container.get("command") or []), *(container.get("args") or [])]
    return (
        image.split("@")[0].rsplit(":", 1)[0] == serving_image.rsplit(":", 1)[0]
        or "--model-uri" in command
        or any("modelship_serving" in part for part in command)
    )


def port_problems(container: dict[str, Any]) -> list[str]:
    """What is wrong with a model server container's ports (empty when it declares and binds 8080 and 8081)."""
    from modelship_serving.server import build_parser

    problems = []
    ports = {p.get("containerPort"): p for p in container.get("ports") or []}
    if ports.get(8080, {}).get("name") not in HTTP_NAMES:
        problems.append(f"no containerPort 8080 named {'/'.join(sorted(HTTP_NAMES))}: {list(ports.values())}")
    if ports.get(8081, {}).get("name") not in GRPC_NAMES:
        problems.append(f"no containerPort 8081 named grpc: {list(ports.values())}")
    if any(p.get("protocol", "TCP") != "TCP" for p in ports.values()):
        problems.append("a port is not TCP")
    args = build_parser().parse_args(container.get("args") or [])
    if (args.http_port, args.grpc_port, args.enable_grpc) != (8080, 8081, True):
        problems.append(
            f"the server binds http {args.http_port}, grpc {args.grpc_port} (enabled: {args.enable_grpc}), "
            "not the declared 8080 and 8081"
        )
    return problems


def serving_image(objs: list[dict[str, Any]]) -> str:
    """The model server image: what the chart tells the operator, else what its predictor Deployments run."""
    for deploy in find(objs, "Deployment"):
        for _, c in containers(deploy["spec"]["template"]["spec"]):
            image = env_map(c).get("MODELSHIP_SERVING_IMAGE", {}).get("value")
            if image:
                return str(image)
    for _, spec in workloads(objs):
        for _, c in containers(spec):
            if "--model-uri" in (c.get("args") or []):
                return str(c["image"])
    return "modelship/serving"


def chart_model_servers(objs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    image = serving_image(objs)
    return [
        (ref(obj), c)
        for obj, spec in workloads(objs)
        if not is_helm_test(obj)  # the serving chart's test pod runs the image for a check, not as a server
        for _, c in containers(spec)
        if is_model_server(c, image)
    ]


def is_helm_test(obj: dict[str, Any]) -> bool:
    return (obj["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"


def operator_model_servers(objs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The model server containers the operator renders for the chart's InferenceServices, as the chart runs it."""
    import os

    from modelship_operator.reconcile import desired_children
    from modelship_operator.registry_render import render_registry_isvc
    from modelship_operator.render import PodConfig, Resolved
    from modelship_operator.settings import OperatorSettings
    from modelship_operator.spec import parse_spec

    isvcs = [o for o in find(objs, "InferenceService") if o["apiVersion"].startswith("modelship.io/")]
    # The chart's ModelRegistry creates the InferenceServices of the tagged models at run time (the models the
    # gateway lists): render those the way a registry sync does.
    listed = {"penguins"} | {name.removesuffix(".json") for o in find(objs, "ConfigMap") for name in _endpoints(o)}
    listed -= {o["metadata"]["name"] for o in isvcs}
    isvcs += [render_registry_isvc(reg, model, "1") for reg in find(objs, "ModelRegistry") for model in sorted(listed)]
    if not isvcs:
        return []
    (operator,) = [o for o in find(objs, "Deployment") if _runs_operator(o)]
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("MODELSHIP_")]:
            env.delenv(name)
        for name, var in env_map(operator["spec"]["template"]["spec"]["containers"][0]).items():
            if name.startswith("MODELSHIP_") and "value" in var:
                env.setenv(name, str(var["value"]))
        settings = OperatorSettings()
    op = type("ChartOperator", (), {"settings": settings, "pod": PodConfig.from_settings(settings)})()
    found = []
    for isvc in isvcs:
        name = isvc["metadata"]["name"]
        resolved = Resolved(version="1", source="models:/m-1", tracking_uri=settings.mlflow_tracking_uri)
        for child in desired_children(op, name, "ns", parse_spec(isvc["spec"]), resolved):
            pods = [child["spec"]["template"]["spec"]] if child["kind"] == "Deployment" else []
            pods += [child["spec"]["predictor"]] if "predictor" in child["spec"] else []
            found += [(f"{ref(isvc)} -> {ref(child)}", c) for pod in pods for _, c in containers(pod)]
    return found


# The endpoint-files ConfigMap is rendered only with files discovery (Kubernetes discovery reads status.url).
FILES_DISCOVERY = Path(__file__).parent / "values" / "files-discovery.yaml"


def _endpoints(configmap: dict[str, Any]) -> list[str]:
    """The model endpoint file names of the gateway's endpoints ConfigMap (none for other ConfigMaps)."""
    if not configmap["metadata"]["name"].endswith("-model-endpoints"):
        return []
    return list(configmap.get("data") or {})


def _runs_operator(obj: dict[str, Any]) -> bool:
    return any("MODELSHIP_TARGET" in env_map(c) for _, c in containers(obj["spec"]["template"]["spec"]))


@pytest.mark.parametrize("values", CI_VALUES, ids=[p.name for p in CI_VALUES])
def test_every_model_server_pod_declares_http_8080_and_grpc_8081(render: Any, values: Path) -> None:
    objs = render(values)
    servers = chart_model_servers(objs) + operator_model_servers(objs)
    problems = [f"{where}: {p}" for where, c in servers for p in port_problems(c)]
    assert not problems, "\n".join(problems)


def test_the_matrix_renders_model_servers_both_ways(render: Any) -> None:
    """Not vacuous: the matrix has chart-rendered predictors and operator-rendered ones of both targets."""
    ci = {p.name: p for p in CI_VALUES}
    assert chart_model_servers(render(ci["operator-disabled-values.yaml"]))
    kserve = operator_model_servers(render(ci["kserve-values.yaml"], FILES_DISCOVERY))
    assert kserve and all(" -> InferenceService/" in where for where, _ in kserve)
    assert {"InferenceService/digits-balanced -> InferenceService/digits-balanced"} <= {w for w, _ in kserve}
    deployment = operator_model_servers(render(ci["default-values.yaml"], FILES_DISCOVERY))
    assert len(deployment) >= 4 and all(" -> Deployment/" in where for where, _ in deployment)


def test_predictor_services_expose_both_ports(render: Any) -> None:
    objs = render(next(p for p in CI_VALUES if p.name == "operator-disabled-values.yaml"))
    for deploy in find(objs, "Deployment"):
        if not any(is_model_server(c, serving_image(objs)) for _, c in containers(deploy["spec"]["template"]["spec"])):
            continue
        svc = one(objs, "Service", deploy["metadata"]["name"])
        ports = {p["name"]: p for p in svc["spec"]["ports"]}
        assert (ports["http"]["port"], ports["http"]["targetPort"]) == (8080, "http")
        assert (ports["grpc"]["port"], ports["grpc"]["targetPort"]) == (8081, "grpc")
        assert ports["grpc"]["appProtocol"] == "kubernetes.io/h2c"


def test_the_check_is_not_vacuous(render: Any) -> None:
    objs = render(next(p for p in CI_VALUES if p.name == "operator-disabled-values.yaml"))
    _, container = chart_model_servers(objs)[0]
    assert not port_problems(container)
    assert port_problems({**container, "ports": [p for p in container["ports"] if p["containerPort"] != 8081]})
    assert port_problems({**container, "args": [*container["args"], "--enable_grpc", "false"]})
    assert port_problems({**container, "args": [*container["args"], "--grpc_port", "9000"]})
    image = serving_image(objs)
    assert is_model_server({"image": image, "args": []}, image)
    assert is_model_server({"image": "other:1", "command": ["python", "-m", "modelship_serving"]}, image)
    assert not is_model_server({"image": "modelship/gateway:1", "args": []}, image)


@pytest.mark.parametrize("values", ["default-values.yaml", "kserve-values.yaml"])
def test_gateway_endpoints_are_the_url_the_operator_writes(render: Any, values: str) -> None:
    """The gateway's endpoint files name the port the predictor Service listens on: 8080 for the operator's own
    Service, 80 (no port in the URL) for KServe's; the same URL the operator writes before KServe reports one."""
    import yaml

    from modelship_operator.kserve import kserve_url
    from modelship_operator.render import service_url

    objs = render(next(p for p in CI_VALUES if p.name == values), FILES_DISCOVERY)
    (operator,) = [o for o in find(objs, "Deployment") if _runs_operator(o)]
    target = env_map(operator["spec"]["template"]["spec"]["containers"][0])["MODELSHIP_TARGET"]["value"]
    data = one(objs, "ConfigMap", "r-model-endpoints")["data"]
    assert data
    for doc in data.values():
        endpoint = yaml.safe_load(doc)
        name = endpoint["name"]
        expected = kserve_url(None, name, "ns") if target == "kserve" else service_url(name, "ns")
        assert endpoint["url"] == expected, f"{values}: {name}"
